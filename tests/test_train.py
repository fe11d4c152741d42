"""The training loop: resume equivalence, stop/kill faults, NaN, OOM fallback, DDP on gloo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from seg_core.core import paths
from seg_core.models.checkpoint import load_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.runs.study_table import summary_table
from seg_core.training.config import TrainConfig
from seg_core.training.loop import StopRequested, fit
from seg_core.training.step import train_step


def tiny_config(data, **changes) -> TrainConfig:
    values = dict(
        data=str(data),
        arch="unet",
        unet_base_width=4,
        epochs=2,
        batch_size=2,
        crop=32,
        resolution=48,
        augment="seed",
        val_ratio=0.34,
        warmup_epochs=0,
        early_stop_patience=0,
        lr=1e-2,
        loss="ce",
    )
    values.update(changes)
    return TrainConfig(**values)


def start_run(cfg: TrainConfig, **kwargs):
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="t")
    status = fit(cfg, run.id, registry, run.checkpoint_dir, **kwargs)
    return registry, run, status


class StopAfterChecks(StopRequested):
    """Reports a stop request from the n-th check on (the loop checks after every step)."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.checks = n, 0

    @property
    def requested(self) -> bool:
        self.checks += 1
        return self.checks > self.n

    @requested.setter
    def requested(self, value: bool) -> None:
        pass


def test_run_records_metrics_checkpoints_and_preview(tiny_dataset):
    registry, run, status = start_run(tiny_config(tiny_dataset))
    assert status == "completed"
    record = registry.get(run.id)
    assert record.status == "completed" and record.epochs_done == 2 and record.best_metric is not None
    names = {(m.split, m.name) for m in registry.metrics(run.id)}
    for expected in [
        ("train", "loss_step"),
        ("train", "loss"),
        ("val", "loss"),
        ("val", "dice"),
        ("val", "miou"),
        ("val", "pixel_acc"),
        ("train", "eta_s"),
        ("train_full", "loss"),
        ("train", "images_per_s"),
    ]:
        assert expected in names, expected
    best = load_checkpoint(run.checkpoint_dir / "best.pt")
    assert best["meta"]["arch"] == "unet" and best["meta"]["resolution"] == 48
    assert "train_state" not in best and "train_state" in load_checkpoint(run.checkpoint_dir / "last.pt")
    assert (run.checkpoint_dir / "preview.png").is_file()
    table = summary_table(registry, [run.id])[0]
    assert table["train_full_loss"] is not None and table["best_val_dice"] == pytest.approx(
        record.best_metric
    )


def test_stop_mid_epoch_then_resume_equals_an_uninterrupted_run(tiny_dataset):
    _, straight, _ = start_run(tiny_config(tiny_dataset))
    registry, stopped, status = start_run(tiny_config(tiny_dataset), stop=StopAfterChecks(3))
    assert status == "stopped" and registry.get(stopped.id).status == "stopped"
    saved = load_checkpoint(stopped.checkpoint_dir / "last.pt")["train_state"]["loop"]
    assert (saved["epoch"], saved["step_in_epoch"]) == (1, 1)  # stopped inside epoch 2
    cfg = tiny_config(tiny_dataset)
    assert fit(cfg, stopped.id, registry, stopped.checkpoint_dir, resume=True) == "completed"
    a = load_checkpoint(straight.checkpoint_dir / "last.pt")["state_dict"]
    b = load_checkpoint(stopped.checkpoint_dir / "last.pt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _step_losses(registry, run_id):
    return [(m.step, m.value) for m in registry.metrics(run_id, names=["loss_step"])]


def _epoch_losses(registry, run_id):
    return {m.epoch: m.value for m in registry.metrics(run_id, names=["loss"]) if m.split == "train"}


@pytest.mark.slow
def test_resume_is_exact_with_the_default_model_and_its_dropout(tiny_dataset):
    """FPN / EfficientNet-Lite0 (the default) draws dropout masks every step: a resumed run must
    draw the same ones. (It did not: each new DataLoader iterator drew its seed from the global
    generator that dropout uses, so the resumed steps diverged from the first one on.)"""
    default = dict(arch="fpn", encoder="tu-efficientnet_lite0", weights="auto", loss="ce_dice", lr=1e-3)
    _, straight, _ = start_run(tiny_config(tiny_dataset, **default))
    registry, stopped, status = start_run(tiny_config(tiny_dataset, **default), stop=StopAfterChecks(3))
    assert status == "stopped"
    assert fit(
        tiny_config(tiny_dataset, **default), stopped.id, registry, stopped.checkpoint_dir, resume=True
    ) == ("completed")
    expected = _step_losses(registry, straight.id)
    assert len(expected) == 4 and _step_losses(registry, stopped.id) == expected
    a = load_checkpoint(straight.checkpoint_dir / "last.pt")["state_dict"]
    b = load_checkpoint(stopped.checkpoint_dir / "last.pt")["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_an_epoch_resumed_mid_way_reports_the_loss_and_time_of_the_whole_epoch(tiny_dataset):
    _, straight, _ = start_run(tiny_config(tiny_dataset))
    registry, stopped, _ = start_run(tiny_config(tiny_dataset), stop=StopAfterChecks(3))
    done_before_stop = load_checkpoint(stopped.checkpoint_dir / "last.pt")["train_state"]["loop"][
        "partial_epoch"
    ]
    assert (
        done_before_stop["steps"] == 1 and done_before_stop["images"] == 2 and done_before_stop["seconds"] > 0
    )
    assert (
        fit(tiny_config(tiny_dataset), stopped.id, registry, stopped.checkpoint_dir, resume=True)
        == "completed"
    )
    whole, resumed = _epoch_losses(registry, straight.id), _epoch_losses(registry, stopped.id)
    assert set(resumed) == {1, 2}
    assert resumed[2] == pytest.approx(whole[2], rel=1e-6)  # both steps, not the resumed one alone
    steps_of_epoch_2 = [value for step, value in _step_losses(registry, stopped.id) if step > 2]
    assert resumed[2] == pytest.approx(sum(steps_of_epoch_2) / 2, rel=1e-6)
    epoch_seconds = [m.value for m in registry.metrics(stopped.id, names=["epoch_s"]) if m.epoch == 2]
    assert len(epoch_seconds) == 1 and epoch_seconds[0] > done_before_stop["seconds"]  # both attempts


def test_nan_loss_fails_the_run_with_the_reason(tiny_dataset, monkeypatch):
    import seg_core.training.setup as train_module

    class NanLoss(torch.nn.Module):
        def forward(self, logits, target):
            return logits.sum() * float("nan")

    monkeypatch.setattr(train_module, "create_loss", lambda *a, **k: NanLoss())
    registry, run, status = start_run(tiny_config(tiny_dataset))
    record = registry.get(run.id)
    assert status == "failed" and record.status == "failed"
    assert "loss became nan" in record.error and "--lr" in record.error


def simulate_out_of_memory(monkeypatch, above: int = 0) -> None:
    """Models built by the training loop raise CUDA's OOM in training forwards of more than
    `above` images (every one with the default 0)."""
    import seg_core.training.setup as train_module

    real_create = train_module.create_model

    def create_model_that_ooms(spec, load_weights=True):
        model = real_create(spec, load_weights)
        forward = model.forward

        def guarded(x):
            if model.training and x.shape[0] > above:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return forward(x)

        model.forward = guarded
        return model

    monkeypatch.setattr(train_module, "create_model", create_model_that_ooms)


def test_out_of_memory_halves_the_micro_batch_and_carries_on(tiny_dataset, monkeypatch):
    simulate_out_of_memory(monkeypatch, above=2)
    registry, run, status = start_run(tiny_config(tiny_dataset, batch_size=4, val_ratio=0.2))
    assert status == "completed"
    messages = [line.message for line in registry.logs(run.id)]
    assert any("out of GPU memory with micro-batch 4: continuing with micro-batch 2" in m for m in messages)
    assert sum("out of GPU memory" in m for m in messages) == 1  # the smaller micro-batch is kept
    saved = load_checkpoint(run.checkpoint_dir / "last.pt")["train_state"]["loop"]
    assert saved["micro_batch"] == 2  # and a resumed run starts with it


def test_bad_dataset_fails_cleanly(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    registry, run, status = start_run(tiny_config(tmp_path))
    assert status == "failed"
    assert "no usable image/mask pairs" in registry.get(run.id).error


# The tiny run of `tiny_config`, as command-line flags.
TINY_FLAGS = [
    "--arch",
    "unet",
    "--unet-base-width",
    "4",
    "--crop",
    "32",
    "--resolution",
    "48",
    "--batch-size",
    "2",
    "--val-ratio",
    "0.34",
    "--warmup-epochs",
    "0",
    "--early-stop-patience",
    "0",
]


def _spawn_training(data, home, *extra):
    env = {**os.environ, "STORMSEG_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "seg_core", "train", "--data", str(data), *TINY_FLAGS, *extra]
    proc = subprocess.Popen(
        args, cwd=paths.REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    run_id = proc.stdout.readline().split()[-1]
    return proc, run_id


def _wait_for(condition, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_sigterm_finishes_the_step_saves_and_marks_stopped(tiny_dataset, stormseg_home):
    proc, run_id = _spawn_training(tiny_dataset, stormseg_home, "--epochs", "1000")
    registry = RunRegistry()
    try:
        _wait_for(lambda: registry.get(run_id).epochs_done, what="a finished epoch")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    record = registry.get(run_id)
    assert record.status == "stopped", proc.stdout.read()
    assert any("SIGTERM received" in line.message for line in registry.logs(run_id))
    assert "train_state" in load_checkpoint(record.checkpoint_dir / "last.pt")


@pytest.mark.slow
def test_sigkill_leaves_last_checkpoint_and_interrupted_run_that_resumes(tiny_dataset, stormseg_home):
    proc, run_id = _spawn_training(tiny_dataset, stormseg_home, "--epochs", "1000")
    registry = RunRegistry()
    try:
        _wait_for(lambda: (registry.get(run_id).epochs_done or 0) >= 2, what="two finished epochs")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert registry.get(run_id).status in ("running", "interrupted")
    assert run_id in registry.reconcile() or registry.get(run_id).status == "interrupted"
    record = registry.get(run_id)
    assert record.status == "interrupted"
    saved = load_checkpoint(record.checkpoint_dir / "last.pt")
    done = saved["train_state"]["loop"]["epoch"]
    assert done >= 2
    cfg = TrainConfig.from_dict(record.config).with_updates(epochs=done + 1)
    assert fit(cfg, run_id, registry, record.checkpoint_dir, resume=True) == "completed"
    assert load_checkpoint(record.checkpoint_dir / "last.pt")["train_state"]["loop"]["epoch"] == done + 1


@pytest.mark.slow
def test_ddp_two_processes_on_gloo(tiny_dataset, stormseg_home):
    env = {**os.environ, "STORMSEG_HOME": str(stormseg_home), "OMP_NUM_THREADS": "1"}
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
        str(tiny_dataset),
        *TINY_FLAGS,
        "--val-ratio",
        "0.15",  # 5 training pairs and 1 validation pair: rank 1 validates no image at all
        "--epochs",
        "2",
        "--device",
        "cpu",
    ]
    result = subprocess.run(args, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    registry = RunRegistry()
    runs = registry.list()
    assert len(runs) == 1 and runs[0].status == "completed"  # rank 0 alone writes the registry
    assert "x2 processes" in " ".join(line.message for line in registry.logs(runs[0].id))
    assert [m.epoch for m in registry.metrics(runs[0].id, names=["dice"]) if m.split == "val"] == [1, 2]
    assert load_checkpoint(runs[0].checkpoint_dir / "best.pt")["meta"]["epoch"] >= 1


# --------------------------------------------------------------------------- device and AMP


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    from seg_core.core import runtime

    mps = torch.backends.mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mps, "is_available", lambda: True)
    assert runtime.select_device("auto", local_rank=1) == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.select_device("auto") == torch.device("mps")
    monkeypatch.setattr(mps, "is_available", lambda: False)
    assert runtime.select_device("auto") == torch.device("cpu")
    assert runtime.select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'cuda' was requested but no CUDA GPU"):
        runtime.select_device("cuda")
    with pytest.raises(ValueError, match="'mps' was requested"):
        runtime.select_device("mps")


def test_autocast_only_on_cuda(monkeypatch):
    from seg_core.core.runtime import amp_dtype

    for device in ("cpu", "mps"):
        for mode in ("auto", "off", "bf16", "fp16"):
            assert amp_dtype(torch.device(device), mode) is None
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.version, "hip", None)
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: asked.append(device) or (8, 0))
    assert amp_dtype(cuda, "auto") is torch.bfloat16
    # A T4 (7.5) only emulates bf16, which is_bf16_supported() counts by default: fp16 + GradScaler.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: asked.append(device) or (7, 5))
    assert amp_dtype(torch.device("cuda", 1), "auto") is torch.float16
    assert asked == [cuda, torch.device("cuda", 1)]  # the device in use, not GPU 0
    assert amp_dtype(cuda, "off") is None and amp_dtype(cuda, "bf16") is torch.bfloat16


def test_a_cpu_run_trains_in_fp32_channels_last_without_a_scaler(tiny_dataset, monkeypatch):
    import seg_core.training.loop as train_module

    seen = {}
    real_step = train_module.train_step

    def spy(run, images, masks, ends_window):
        seen.update(amp=run.amp, scaler=run.scaler.is_enabled(), device=run.device.type)
        params = next(run.model.parameters())
        seen["channels_last"] = params.is_contiguous(memory_format=torch.channels_last)
        return real_step(run, images, masks, ends_window)

    monkeypatch.setattr(train_module, "train_step", spy)
    registry, run, status = start_run(tiny_config(tiny_dataset, epochs=1, amp="bf16"))
    assert status == "completed"
    assert seen == {"amp": None, "scaler": False, "device": "cpu", "channels_last": True}
    assert any("on cpu" in line.message and "AMP off" in line.message for line in registry.logs(run.id))
    # the preflight's memory estimate, where a user looks first when the system kills a run
    [memory] = [line.message for line in registry.logs(run.id) if line.message.startswith("memory: ")]
    assert memory.startswith("memory: a step of 2 crops of 32 px likely peaks at ")


# --------------------------------------------------------------------------- out of memory


class _Log:
    def __init__(self):
        self.lines = []

    def log(self, message, level="info"):
        self.lines.append((level, message))


def bare_run(model, criterion, cfg, device="cpu"):
    """The parts of a TrainingRun that `train_step` and `optimizer_step` use, around any model."""
    from types import SimpleNamespace

    from seg_core.training.distributed import ProcessGroup
    from seg_core.training.state import LoopState

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return SimpleNamespace(
        cfg=cfg,
        model=model,
        model_without_ddp=model,
        criterion=criterion,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
        scaler=torch.amp.GradScaler("cpu", enabled=False),
        device=torch.device(device),
        amp=None,
        group=ProcessGroup(),
        state=LoopState(),
        reporter=_Log(),
    )


def test_out_of_memory_retry_accumulates_the_same_gradient_as_the_whole_batch():
    """The halved micro-batches together give the gradient of the whole batch, and the micro-batch
    stays halved. (Exact for a per-pixel loss and a model without BatchNorm; batch-pooled Dice and
    BatchNorm statistics see smaller batches, as with any gradient accumulation.)"""
    from seg_core.training.losses import create_loss

    torch.manual_seed(0)
    images, masks = torch.randn(8, 3, 16, 16), torch.randint(0, 25, (8, 16, 16))
    criterion = create_loss("ce")
    cfg = tiny_config("x", accumulation=2)

    def gradient(limit):
        torch.manual_seed(3)
        model = torch.nn.Conv2d(3, 25, 3, padding=1)
        forward = model.forward

        def guarded(x):
            if x.shape[0] > limit:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return forward(x)

        model.forward = guarded
        run = bare_run(model, criterion, cfg)
        loss = float(train_step(run, images, masks, ends_window=True))
        return loss, model.weight.grad.clone(), run.state, run.reporter

    whole_loss, whole_grad, whole_state, whole_log = gradient(limit=8)
    loss, grad, state, log = gradient(limit=3)  # 8 -> OOM, 4 -> OOM, 2 fits
    assert whole_state.micro_batch == 0 and not whole_log.lines
    assert state.micro_batch == 2
    assert [level for level, _ in log.lines] == ["warning", "warning"]
    assert "micro-batch 4 and 2 accumulation steps" in log.lines[0][1]
    assert "micro-batch 2 and 4 accumulation steps per batch (same effective batch)" in log.lines[1][1]
    assert loss == pytest.approx(whole_loss, rel=1e-5)
    torch.testing.assert_close(grad, whole_grad, rtol=1e-4, atol=1e-6)


def test_out_of_memory_at_a_micro_batch_of_two_fails_the_run_with_advice(tiny_dataset, monkeypatch):
    simulate_out_of_memory(monkeypatch)
    registry, run, status = start_run(tiny_config(tiny_dataset, batch_size=4, val_ratio=0.2))
    record = registry.get(run.id)
    assert status == "failed" and record.status == "failed"
    assert "out of GPU memory even with a micro-batch of 2" in record.error and "--crop" in record.error


# --------------------------------------------------------------------------- stop, early stop, weights


def test_sigterm_and_sigint_set_the_stop_flag_instead_of_killing():
    stop = StopRequested()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.install()
        for sig in (signal.SIGINT, signal.SIGTERM):
            stop.requested = False
            os.kill(os.getpid(), sig)
            _wait_for(lambda: stop.requested, timeout=5, what=f"{sig.name} handled")
            assert stop.signal_name == sig.name
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# A trainer with DataLoader workers gets Stop's SIGTERM (sent to its whole process group) the
# instant after it forks them, before they can ignore it: the race that failed a stopped run
# with "DataLoader worker ... exited unexpectedly" once in CI.
STOP_AT_WORKER_START = """
import json, os, signal, sys, torch
from seg_core.core.runtime import StopRequested
from seg_core.datasets.loader import make_loader
from seg_core.runs.study_table import summary_table

stop = StopRequested()
stop.install()
data = [(torch.zeros(3, 8, 8), torch.zeros(8, 8, dtype=torch.int64)) for _ in range(8)]
loader = make_loader(data, 2, None, 2, torch.device("cpu"))
survived = 0
for _ in range(int(sys.argv[1])):
    batches = iter(loader)
    os.killpg(os.getpgid(0), signal.SIGTERM)  # the whole group, as runs.stop does
    survived += len(list(batches)) == 4
print(json.dumps({"survived": survived, "stop_requested": stop.requested}))
"""


def test_a_stop_signal_reaching_loader_workers_as_they_start_does_not_kill_them():
    rounds = 5
    result = subprocess.run(
        [sys.executable, "-c", STOP_AT_WORKER_START, str(rounds)],
        cwd=paths.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # without the fix the loader can also hang on its dead worker
        start_new_session=True,  # its own process group, so the signal reaches nothing else
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"survived": rounds, "stop_requested": True}


def test_early_stop_after_patience_epochs_without_a_val_dice_gain(tiny_dataset, monkeypatch):
    import seg_core.training.loop as train_module

    real_evaluate = train_module.evaluate
    dice_by_call = iter([0.40, 0.50, 0.50, 0.49, 0.45, 0.9, 0.9, 0.9])

    def scripted_dice(*args, **kwargs):
        result = real_evaluate(*args, **kwargs)
        if kwargs.get("want_preview") is not None:  # the per-epoch validation, not the final pass
            result.kaggle_dice = next(dice_by_call)
        return result

    monkeypatch.setattr(train_module, "evaluate", scripted_dice)
    cfg = tiny_config(tiny_dataset, epochs=8, early_stop_patience=3)
    registry, run, status = start_run(cfg)
    record = registry.get(run.id)
    assert status == "completed" and record.epochs_done == 5  # best at 2, then 3 epochs without gain
    assert (record.best_metric, record.best_epoch) == (0.5, 2)
    assert load_checkpoint(run.checkpoint_dir / "best.pt")["meta"]["epoch"] == 2
    assert any("early stop: no val Dice gain for 3 epochs" in line.message for line in registry.logs(run.id))


def test_weighted_ce_weights_come_from_the_training_split_pixel_counts(tiny_dataset, monkeypatch):
    import numpy as np

    import seg_core.training.setup as train_module
    from seg_core.datasets.dataset import ArrayCache
    from seg_core.datasets.discovery import split_pairs, validate_dataset
    from seg_core.training.losses import class_weights_from_counts

    captured = {}
    real_create_loss = train_module.create_loss

    def spy(name, num_classes, class_weights=None, **others):
        captured["weights"] = class_weights
        return real_create_loss(name, num_classes, class_weights=class_weights, **others)

    monkeypatch.setattr(train_module, "create_loss", spy)
    cfg = tiny_config(tiny_dataset, epochs=1, loss="weighted_ce", class_weight_cap=4.0)
    assert start_run(cfg)[2] == "completed"
    train_pairs, _ = split_pairs(validate_dataset(tiny_dataset).pairs, cfg.val_ratio, cfg.seed)
    cache = ArrayCache(cfg.resolution)
    counts = sum(np.bincount(cache.pair(p)[1].ravel(), minlength=25)[:25] for p in train_pairs)
    expected = class_weights_from_counts(counts, cap=4.0)
    torch.testing.assert_close(captured["weights"], expected)
    assert float(expected.max()) <= 4.0 and float(expected.min()) >= 0.25
    assert start_run(tiny_config(tiny_dataset, epochs=1))[2] == "completed" and captured["weights"] is None


@pytest.mark.slow
def test_ddp_stop_signal_reaching_one_rank_stops_every_rank_at_the_same_step(tiny_dataset, stormseg_home):
    """SIGTERM to rank 0 alone (the pid the registry holds): the ranks agree on the stop after
    each step, so none is left waiting in the next step's all-reduce for a rank that has left."""
    env = {**os.environ, "STORMSEG_HOME": str(stormseg_home), "OMP_NUM_THREADS": "1"}
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
        str(tiny_dataset),
        *TINY_FLAGS,
        "--epochs",
        "1000",
        "--device",
        "cpu",
    ]
    proc = subprocess.Popen(
        args, cwd=paths.REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    registry = RunRegistry()
    try:
        _wait_for(lambda: registry.list() and (registry.list()[0].epochs_done or 0) >= 1, what="an epoch")
        run = registry.list()[0]
        os.kill(run.pid, signal.SIGTERM)
        output = proc.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        proc.kill()
    assert proc.returncode == 0, output[-3000:]
    record = registry.get(run.id)
    assert record.status == "stopped", output[-3000:]
    assert "train_state" in load_checkpoint(record.checkpoint_dir / "last.pt")


def test_checkpoint_every_n_epochs_saves_then_the_last_and_on_a_stop_and_resumes_exactly(
    tiny_dataset, monkeypatch
):
    """Few-photo runs save every N epochs (their 2-step epochs cost less than the saves), yet a
    stop between saves still leaves a last.pt to resume from, and the resume equals a straight run."""
    from seg_core.training.state import TrainingRun

    saved_at, save = [], TrainingRun.save

    def recording_save(self, name, metrics, resumable):
        saved_at.append((name, self.state.epoch))
        save(self, name, metrics, resumable)

    monkeypatch.setattr(TrainingRun, "save", recording_save)
    cfg = tiny_config(tiny_dataset, epochs=5, checkpoint_every=2)
    registry, straight, status = start_run(cfg)
    assert status == "completed"
    assert [epoch for name, epoch in saved_at if name == "last.pt"] == [2, 4, 5]
    assert sorted(_epoch_losses(registry, straight.id)) == [1, 2, 3, 4, 5]  # every epoch still logged
    assert [
        h["epoch"]
        for h in load_checkpoint(straight.checkpoint_dir / "last.pt")["train_state"]["loop"]["history"]
    ] == [1, 2, 3, 4, 5]
    assert registry.get(straight.id).epochs_done == 5
    _, every_epoch, _ = start_run(tiny_config(tiny_dataset, epochs=5))  # fewer saves, same training
    a = load_checkpoint(every_epoch.checkpoint_dir / "last.pt")["state_dict"]
    b = load_checkpoint(straight.checkpoint_dir / "last.pt")["state_dict"]
    assert all(torch.equal(a[key], b[key]) for key in a)

    saved_at.clear()  # 2 steps per epoch, then the end-of-epoch check: the 3rd check ends epoch 1
    registry, stopped, status = start_run(cfg, stop=StopAfterChecks(2))
    assert status == "stopped" and saved_at == [("last.pt", 1), ("best.pt", 1)]
    assert fit(cfg, stopped.id, registry, stopped.checkpoint_dir, resume=True) == "completed"
    a = load_checkpoint(straight.checkpoint_dir / "last.pt")["state_dict"]
    b = load_checkpoint(stopped.checkpoint_dir / "last.pt")["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_checkpoint_every_must_be_at_least_one():
    with pytest.raises(ValueError, match="checkpoint_every 0 must be at least 1"):
        TrainConfig(checkpoint_every=0)
