"""Training throughput on CPU at default settings (FPN/EfficientNet-Lite0, 1024 px working
resolution, 512 px crops, batch 4), on Harvey-size photos (4000x3000 TIFF).

- StormSeg: `seg_core.training.loop.fit` (cached arrays, seeded augmentation); images/s and the share of
  step time spent waiting for data, read from the run registry.
- Naive: the notebooks' loop: every epoch re-opens and resizes the original TIFFs with PIL, fp32
  NCHW, the textbook CE + Dice (torch's CrossEntropyLoss + smp's DiceLoss, which builds one-hot
  targets), same model, optimiser, crop and batch.

    python bench/training.py [--pairs 16] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def stormseg_throughput(data: Path, epochs: int, home: Path) -> dict:
    os.environ["STORMSEG_HOME"] = str(home)
    from seg_core.core.memory import reuse_freed_memory
    from seg_core.runs.metric_names import DATA_WAIT, IMAGES_PER_S
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit

    reuse_freed_memory()  # as `python -m seg_core train` does (the app's jobs run that command)
    cfg = TrainConfig(data=str(data), epochs=epochs, val_ratio=0.0, early_stop_patience=0, name="bench")
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="bench")
    start = time.perf_counter()
    fit(cfg, run.id, registry, run.checkpoint_dir)
    total = time.perf_counter() - start
    rows = registry.metrics(run.id, names=[IMAGES_PER_S.name, DATA_WAIT.name])
    last = {r.name: r.value for r in rows}  # the last epoch: cache warm, steady state
    return {
        "images_per_s": last[IMAGES_PER_S.name],
        "data_wait_fraction": last[DATA_WAIT.name],
        "wall_s": total,
        "epochs": epochs,
        "config": "defaults (1024 px, crop 512, batch 4)",
    }


def naive_throughput(data: Path, epochs: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image
    from segmentation_models_pytorch.losses import DiceLoss

    from seg_core.models import ModelSpec, create_model, normalization

    torch.manual_seed(0)
    spec = ModelSpec()
    model = create_model(spec).train()
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in normalization(spec))
    cross_entropy, dice = torch.nn.CrossEntropyLoss(), DiceLoss("multiclass")

    def criterion(logits, target):
        return cross_entropy(logits, target) + dice(logits, target)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images = sorted((data / "train_images").iterdir())
    masks = sorted((data / "train_masks").iterdir())
    rng = np.random.default_rng(0)
    seen, waited, start = 0, 0.0, time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(images))
        for first in range(0, len(order) - 3, 4):
            t0 = time.perf_counter()
            xs, ys = [], []
            for i in order[first : first + 4]:
                image = Image.open(images[i]).convert("RGB").resize((1024, 768), Image.BILINEAR)
                mask = Image.open(masks[i]).resize((1024, 768), Image.NEAREST)
                y0, x0 = rng.integers(0, 768 - 512), rng.integers(0, 1024 - 512)
                xs.append(
                    torch.from_numpy(np.asarray(image)[y0 : y0 + 512, x0 : x0 + 512].copy())
                    .permute(2, 0, 1)
                    .float()
                    / 255
                )
                ys.append(torch.from_numpy(np.asarray(mask)[y0 : y0 + 512, x0 : x0 + 512].astype(np.int64)))
            x = (torch.stack(xs) - mean) / std
            y = torch.stack(ys)
            waited += time.perf_counter() - t0
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(xs)
    total = time.perf_counter() - start
    return {
        "images_per_s": seen / total,
        "data_wait_fraction": waited / total,
        "wall_s": total,
        "epochs": epochs,
    }


def measure(loop: str, data: Path, epochs: int, home: Path) -> dict:
    """One loop in its own process: StormSeg tunes the process's allocator, the naive loop must
    not inherit that."""
    from procstat import run_worker

    return run_worker(__file__, loop, data, epochs, home)


def main() -> None:
    from dataset_io import build_harvey_sized

    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, loop, data, epochs, home = sys.argv
        if loop == "stormseg":
            result = stormseg_throughput(Path(data), int(epochs), Path(home))
        else:
            result = naive_throughput(Path(data), int(epochs))
        print(json.dumps(result))
        return

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=16)
    parser.add_argument("--distinct", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = build_harvey_sized(Path(tmp), args.pairs, args.distinct)
        ours = measure("stormseg", data, args.epochs, Path(tmp) / "home")
        naive = measure("naive", data, args.epochs, Path(tmp) / "home")
    print(
        json.dumps(
            {"stormseg": ours, "naive": naive, "speedup": ours["images_per_s"] / naive["images_per_s"]},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
