"""The CUDA-only checks of the training and inference engine (issue 17), one per call:

    python scripts/gpu_check.py CHECK WORKDIR

prints one line "PASS|FAIL|SKIP <check>: <figures or reason>" and exits 0 (pass or skip) or 1.
`scripts/gpu_check.sh` runs them all on a small synthetic dataset; nothing is downloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# A small run that still exercises every GPU path: 256 px crops of 320 px photos, batch 4.
# GPU_CHECK_DEVICE=cpu dry-runs the script's own logic (resume) on a machine without a GPU.
SMALL = dict(
    epochs=2,
    resolution=320,
    crop=256,
    batch_size=4,
    val_ratio=0.25,
    warmup_epochs=0,
    early_stop_patience=0,
    device=os.environ.get("GPU_CHECK_DEVICE", "cuda"),
    num_workers=2,
)


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def _config(data: Path, **changes):
    from seg_core.training.config import TrainConfig

    return TrainConfig(data=str(data), **{**SMALL, **changes})


def _fit(cfg, stop=None, resume_id=None):
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.loop import fit

    registry = RunRegistry()
    run = registry.get(resume_id) if resume_id else registry.create_run(cfg.to_dict(), name="gpu-check")
    status = fit(cfg, run.id, registry, run.checkpoint_dir, resume=bool(resume_id), stop=stop)
    return registry, run, status


def _log_lines(registry, run_id) -> list[str]:
    return [line.message for line in registry.logs(run_id)]


def check_amp(data: Path, mode: str) -> str:
    from seg_core.core.runtime import has_bf16_tensor_cores

    device = torch.device("cuda", 0)
    if mode == "bf16" and not has_bf16_tensor_cores(device):
        return "SKIP: no bf16 tensor cores on this GPU (auto picks fp16 + GradScaler)"
    started = time.perf_counter()
    registry, run, status = _fit(_config(data, amp=mode))
    lines = _log_lines(registry, run.id)
    expect(status == "completed", f"status {status}: {registry.get(run.id).error}")
    expect(
        any(f"AMP torch.{'bfloat16' if mode == 'bf16' else 'float16'}" in m for m in lines), "AMP not in use"
    )
    dice = registry.get(run.id).best_metric
    return f"2 epochs in {time.perf_counter() - started:.1f} s, val Dice {dice:.3f}"


def check_resume(data: Path) -> str:
    """A stop mid-epoch 2 and a resume: same step losses and weights as an uninterrupted run
    (cuDNN autotuning may pick other kernels, so this compares to 1e-3, not bit for bit)."""
    from seg_core.core.runtime import StopRequested
    from seg_core.models.checkpoint import load_checkpoint
    from seg_core.runs.metric_names import LOSS_STEP

    class StopAfter(StopRequested):
        def __init__(self, n):
            super().__init__()
            self.n, self.checks = n, 0

        @property
        def requested(self):
            self.checks += 1
            return self.checks > self.n

        @requested.setter
        def requested(self, value):
            pass

    cfg = _config(data, amp="off")
    torch.backends.cudnn.deterministic = True
    registry, straight, _ = _fit(cfg)
    steps = len([m for m in registry.metrics(straight.id, names=[LOSS_STEP.name])]) // 2
    # The loop reads the flag after every step and once after every epoch: steps + 1 reads bring
    # the run to epoch 2, the next one (after its first step) stops it.
    _, stopped, status = _fit(cfg, stop=StopAfter(steps + 1))
    expect(status == "stopped", f"the stop did not stop the run ({status})")
    loop = load_checkpoint(stopped.checkpoint_dir / "last.pt")["train_state"]["loop"]
    expect((loop["epoch"], loop["step_in_epoch"]) == (1, 1), f"stopped at {loop}")
    _, _, status = _fit(cfg, resume_id=stopped.id)
    expect(status == "completed", f"resume ended {status}: {registry.get(stopped.id).error}")
    a = [m.value for m in registry.metrics(straight.id, names=[LOSS_STEP.name])]
    b = [m.value for m in registry.metrics(stopped.id, names=[LOSS_STEP.name])]
    expect(len(a) == len(b), f"{len(a)} vs {len(b)} steps")
    worst = max(abs(x - y) for x, y in zip(a, b, strict=True))
    wa = load_checkpoint(straight.checkpoint_dir / "last.pt")["state_dict"]
    wb = load_checkpoint(stopped.checkpoint_dir / "last.pt")["state_dict"]
    weights = max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
    expect(worst < 1e-3 and weights < 1e-3, f"step loss diff {worst:.2e}, weight diff {weights:.2e}")
    return f"stopped at epoch 2 step 1, resumed: step-loss diff {worst:.1e}, weight diff {weights:.1e}"


def check_oom_retry(data: Path) -> str:
    """A real CUDA OOM: the process is capped at 3x the memory of a 2-image step, then asked for
    batches of 16; the loop must halve the micro-batch until it fits and finish the epoch."""
    from seg_core.models import ModelSpec, create_model

    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    model = create_model(ModelSpec(), load_weights=False).to(device).train()
    torch.cuda.reset_peak_memory_stats(device)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        model(torch.randn(2, 3, 256, 256, device=device)).float().mean().backward()
    two = torch.cuda.max_memory_allocated(device)
    del model
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, 3 * two / total), device)
    registry, run, status = _fit(_config(data, epochs=1, batch_size=16, val_ratio=0.2))
    lines = _log_lines(registry, run.id)
    retries = [m for m in lines if "out of GPU memory with micro-batch" in m]
    expect(status == "completed", f"status {status}: {registry.get(run.id).error}")
    expect(bool(retries), "no out-of-memory retry happened (the cap did not bite)")
    return f"cap {3 * two / 2**30:.2f} GiB; {len(retries)} retr{'y' if len(retries) == 1 else 'ies'}: {retries[-1]}"


def check_predictor(data: Path) -> str:
    """The shipped model on CUDA: BatchNorm folding accepted, masks equal to the CPU's."""
    from seg_core.inference.predictor import Predictor

    checkpoint = REPO / "checkpoints" / "demo" / "best.pt"
    cpu = Predictor.from_checkpoint(checkpoint, device="cpu")
    gpu = Predictor.from_checkpoint(checkpoint, device="cuda")
    norms = [m for m in gpu.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    expect(not norms, f"folding was refused on CUDA ({len(norms)} BatchNorms left)")
    gpu_fp32 = Predictor(gpu.model, gpu.meta, gpu.device, fold_norms=False)
    gpu_fp32.amp = None
    agreement = []
    for photo in sorted((REPO / "samples").glob("*.jpg")):
        reference = cpu.predict(photo)
        torch.backends.cudnn.allow_tf32 = False  # true fp32 convolutions for the fp32 comparison
        fp32 = float(np.mean(gpu_fp32.predict(photo) == reference))
        torch.backends.cudnn.allow_tf32 = True
        amp = float(np.mean(gpu.predict(photo) == reference))
        agreement.append((photo.name, fp32, amp))
    worst_fp32 = min(a[1] for a in agreement)
    worst_amp = min(a[2] for a in agreement)
    expect(worst_fp32 >= 0.999, f"fp32 masks differ from the CPU's: {agreement}")
    expect(worst_amp >= 0.99, f"AMP masks differ from the CPU's: {agreement}")
    return f"{len(agreement)} photos; pixels equal to CPU: fp32 >= {worst_fp32:.4%}, AMP >= {worst_amp:.4%}"


def check_ddp(data: Path) -> str:
    if torch.cuda.device_count() < 2:
        return "SKIP: fewer than 2 GPUs visible"
    from seg_core.runs.registry import RunRegistry

    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "seg_core",
        "train",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--resolution",
        "320",
        "--crop",
        "256",
        "--batch-size",
        "4",
        "--val-ratio",
        "0.25",
        "--device",
        "cuda",
    ]
    started = time.perf_counter()
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=400)
    expect(result.returncode == 0, (result.stdout + result.stderr)[-1500:])
    run = RunRegistry().list()[0]
    lines = _log_lines(RunRegistry(), run.id)
    expect(run.status == "completed" and any("x2 processes" in m for m in lines), f"run {run.status}")
    return f"2 x NCCL, SyncBatchNorm, 2 epochs in {time.perf_counter() - started:.1f} s, val Dice {run.best_metric:.3f}"


CHECKS = {
    "amp-bf16": lambda data: check_amp(data, "bf16"),
    "amp-fp16": lambda data: check_amp(data, "fp16"),
    "resume": check_resume,
    "oom-retry": check_oom_retry,
    "predictor": check_predictor,
    "ddp-2gpu": check_ddp,
}


def main() -> int:
    name, workdir = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("STORMSEG_HOME", str(workdir / f"home-{name}"))
    try:
        detail = CHECKS[name](workdir / "data")
    except Exception as exc:  # noqa: BLE001 - one line per check, whatever went wrong
        print(f"FAIL {name}: {type(exc).__name__}: {str(exc).strip()[:600]}", flush=True)
        return 1
    if detail.startswith("SKIP"):
        print(f"SKIP {name}: {detail[6:]}", flush=True)
    else:
        print(f"PASS {name}: {detail}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
