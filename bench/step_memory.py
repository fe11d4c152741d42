"""The preflight's memory estimate for one training step (`seg_core.training.step_memory`) against
the peak resident memory of whole `python -m seg_core train` processes (docs/BENCHMARKS.md, "The
memory of a training step").

    python bench/step_memory.py [--results bench/results/step_memory.json] [--retime-probes]

Each configuration trains two epochs (8 to 16 steps, and validation) on 20 synthetic 1600x1200
scenes; the peak is the process's ru_maxrss from wait4, so it also holds Python, torch, the data
loader and the validation pass. The estimate is meant as a floor: a ratio under 1 here would mean
the preflight can refuse a run that fits. Peaks vary with the machine and its allocator, so they
are measured here and never asserted in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (group, architecture, encoder, crop, batch). The headroom over the floor is chosen on the
# default network ("choice": growing crops, whole photos) and reported on five other networks, one
# of them on whole photos too.
CONFIGS = (
    ("choice", "fpn", "tu-efficientnet_lite0", 512, 4),
    ("choice", "fpn", "tu-efficientnet_lite0", 768, 4),
    ("choice", "fpn", "tu-efficientnet_lite0", 1024, 4),
    ("choice", "fpn", "tu-efficientnet_lite0", 1280, 2),
    ("choice", "fpn", "tu-efficientnet_lite0", 0, 2),
    ("report", "deeplabv3plus", "tu-efficientnet_lite0", 512, 4),
    ("report", "smp-unet", "tu-efficientnet_lite0", 512, 4),
    ("report", "unet", "tu-efficientnet_lite0", 512, 2),
    ("report", "pspnet", "resnet34", 512, 4),
    ("report", "deeplabv3plus", "resnet34", 768, 2),
    ("report", "segformer", "tu-efficientnet_lite0", 1024, 2),
    ("report", "smp-unet", "tu-efficientnet_lite0", 0, 2),
)


def estimate(data: Path, arch: str, encoder: str, crop: int, batch: int) -> tuple[int, float]:
    """The preflight's floor for the step (bytes), and the seconds its probe took."""
    import torch

    from seg_core.datasets.discovery import validate_dataset
    from seg_core.training.config import TrainConfig
    from seg_core.training.losses import create_loss
    from seg_core.training.preflight import _optimiser_moments, step_images
    from seg_core.training.setup import model_spec
    from seg_core.training.step_memory import measure_step_memory

    cfg = TrainConfig(data=str(data), arch=arch, encoder=encoder, weights="none", crop=crop, batch_size=batch)
    spec = model_spec(cfg)
    started = time.process_time()
    step = measure_step_memory(
        spec,
        create_loss(cfg.loss, spec.num_classes, class_weights=torch.ones(spec.num_classes)),
        _optimiser_moments(cfg),
    )
    seconds = time.process_time() - started
    return step.bytes_for(*step_images(cfg, validate_dataset(data).pairs)), seconds


# VmHWM, not ru_maxrss: Linux folds the spawning process's peak into a child's ru_maxrss at exec.
BEFORE_THE_FIRST_STEP = """
from pathlib import Path
from seg_core.core.memory import reuse_freed_memory
reuse_freed_memory()
import seg_core.training.loop
from seg_core.models import ModelSpec, create_model
create_model(ModelSpec(weights="none"), load_weights=False)
status = Path("/proc/self/status").read_text()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024)
"""


def process_bytes() -> int:
    """A training process before its first step: Python, torch, the engine and the network."""
    out = subprocess.run(
        [sys.executable, "-c", BEFORE_THE_FIRST_STEP], cwd=ROOT, check=True, capture_output=True
    )
    return int(out.stdout.split()[-1])


def headroom(rows: list[dict], process: int) -> dict:
    """HEADROOM chosen on the choice rows (the largest (peak - process) / floor), and how the
    likely peak it gives compares with the measured peak on the report rows."""
    chosen = max(
        (r["peak_gb"] * 1e9 - process) / (r["estimate_gb"] * 1e9) for r in rows if r["group"] == "choice"
    )
    report = [r for r in rows if r["group"] == "report"]
    likely = [(process + chosen * r["estimate_gb"] * 1e9) / (r["peak_gb"] * 1e9) for r in report]
    return {
        "process_gb": round(process / 1e9, 2),
        "headroom_chosen": round(chosen, 2),
        "report_likely_over_peak": [round(x, 2) for x in likely],
        "report_runs_over_estimated": sum(x > 1 for x in likely),
    }


def peak(data: Path, home: Path, arch: str, encoder: str, crop: int, batch: int) -> int:
    command = [
        sys.executable,
        "-m",
        "seg_core",
        "train",
        "--data",
        str(data),
        "--arch",
        arch,
        "--encoder",
        encoder,
    ]
    command += [
        "--weights",
        "none",
        "--crop",
        str(crop),
        "--batch-size",
        str(batch),
        "--epochs",
        "2",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "STORMSEG_HOME": str(home), "OMP_NUM_THREADS": "2"}
    with tempfile.TemporaryFile() as log:  # a pipe left unread would block a chatty run
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = status
        if status:
            log.seek(0)
            raise SystemExit(f"{' '.join(command)} failed ({status}): {log.read().decode()[-800:]}")
    # ru_maxrss also holds this process's own peak at the spawn (Linux folds it in at exec): a
    # peak at or under it would be this process's, not the run's.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if usage.ru_maxrss <= own:
        raise SystemExit(f"{arch} {crop}x{batch}: the run's peak is hidden under this process's ({own} kB)")
    return usage.ru_maxrss * 1024  # kB on Linux


def demo_scenes(data: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "seg_core",
        "demo-data",
        "--out",
        str(data),
        "--n",
        "20",
        "--size",
        "1600x1200",
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)


def retime_probes(results: Path) -> None:
    """Time the probe again for each row of `results` (the estimate must not change) and choose
    the headroom again: the probe's cost changed with its device, the peaks did not."""
    record = json.loads(results.read_text())
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "scenes"
        demo_scenes(data)
        for row in record["rows"]:
            floor, seconds = estimate(data, row["arch"], row["encoder"], row["crop"], row["batch"])
            assert round(floor / 1e9, 2) == row["estimate_gb"], (row, floor)
            row["probe_cpu_s"] = round(seconds, 2)
            print(row, flush=True)
    record.update(headroom(record["rows"], process_bytes()))
    results.write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(ROOT / "bench" / "results" / "step_memory.json"))
    parser.add_argument(
        "--retime-probes", action="store_true", help="only time the probes of --results again"
    )
    args = parser.parse_args()
    if args.retime_probes:
        retime_probes(Path(args.results))
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        data, home = Path(folder) / "scenes", Path(folder) / "home"
        demo_scenes(data)
        for done, (group, arch, encoder, crop, batch) in enumerate(CONFIGS, start=1):
            floor, probe_seconds = estimate(data, arch, encoder, crop, batch)
            started = time.perf_counter()
            measured = peak(data, home, arch, encoder, crop, batch)
            rows.append(
                {
                    "group": group,
                    "seconds": round(time.perf_counter() - started),
                    "probe_cpu_s": round(probe_seconds, 2),
                    "arch": arch,
                    "encoder": encoder,
                    "crop": crop,
                    "batch": batch,
                    "estimate_gb": round(floor / 1e9, 2),
                    "peak_gb": round(measured / 1e9, 2),
                    "peak_over_estimate": round(measured / floor, 2),
                }
            )
            print(f"[{done}/{len(CONFIGS)}] {rows[-1]}", flush=True)
    summary = headroom(rows, process_bytes())
    print(summary)
    record = {"machine": os.uname().machine, "cpus": os.cpu_count(), **summary, "rows": rows}
    Path(args.results).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
