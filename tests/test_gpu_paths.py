"""The CUDA and multi-GPU paths of training, checked on CPU (issue 17): fakes stand in for the
GPU calls, gloo for NCCL. What only a GPU can show is in scripts/gpu_check.sh."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import socket
import subprocess
import sys
import weakref
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from seg_core.core import paths
from seg_core.training import distributed as dist_utils
from seg_core.training import step as step_module
from seg_core.training.distributed import ProcessGroup
from seg_core.training.losses import create_loss
from seg_core.training.state import LoopState, TrainingRun, capture_rng, restore_rng
from seg_core.training.step import DistributedOutOfMemoryError, train_step
from tests.test_train import bare_run, tiny_config


class OutOfMemoryAbove(torch.nn.Module):
    """A 1x1 convolution that raises CUDA's OOM for forwards of more than `limit` images, after
    allocating an activation (kept in `activations` as weak references)."""

    def __init__(self, limit: int = 10**9):
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 25, 1)
        self.limit = limit
        self.activations: list[weakref.ref] = []

    def forward(self, x):
        activation = self.conv(x)
        self.activations.append(weakref.ref(activation))
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return activation


def batch(seed: int, size: int = 8):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(size, 3, 8, 8, generator=generator)
    return images, torch.randint(0, 25, (size, 8, 8), generator=generator)


# --------------------------------------------------------------------------- process group


def test_each_rank_binds_its_own_gpu_before_joining_the_group(monkeypatch):
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: calls.append(("init", kwargs)))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    for device in (torch.device("cuda", 1), "cuda"):  # the CLI passes the device type
        calls.clear()
        group = dist_utils.init_from_env(device)
        assert group == ProcessGroup(rank=1, world_size=2, local_rank=1)
        gpu = torch.device("cuda", 1)
        assert calls == [
            ("set_device", gpu),
            ("init", {"backend": "nccl", "device_id": gpu, "timeout": dist_utils.COLLECTIVE_TIMEOUT}),
        ]
    assert timedelta(minutes=30) <= dist_utils.COLLECTIVE_TIMEOUT  # NCCL's default is 10 minutes


def test_the_photo_cache_is_decoded_in_shares_by_every_rank(tiny_dataset, monkeypatch):
    import seg_core.training.setup as setup
    from seg_core.datasets.discovery import validate_dataset
    from seg_core.runs.reporter import RunReporter

    decoded, barriers = [], []
    monkeypatch.setattr(setup, "warm_cache", lambda pairs, cache, progress=None: decoded.extend(pairs))
    monkeypatch.setattr(dist, "barrier", lambda: barriers.append(1))
    cfg = tiny_config(tiny_dataset)
    setup.prepare_data(cfg, setup.model_spec(cfg), RunReporter(None, "x", False), ProcessGroup(1, 2, 1))
    assert decoded == validate_dataset(tiny_dataset).pairs[1::2] and barriers == [1]


# --------------------------------------------------------------------------- resume


def test_resume_restores_the_cuda_random_state_of_the_device_in_use_only(monkeypatch):
    restored, read = [], []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.append((state, device)))
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: read.append(device) or torch.ones(4))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: pytest.fail("restores every GPU"))
    rng = capture_rng(torch.device("cuda", 1))
    assert read == [torch.device("cuda", 1)] and torch.equal(rng["cuda"], torch.ones(4))
    restore_rng(rng, torch.device("cuda", 0))
    assert restored == [(rng["cuda"], torch.device("cuda", 0))]
    # A file from before (one state per GPU) saved on a 1-GPU machine, resumed on GPU 1: no IndexError.
    restored.clear()
    old = {"torch": torch.get_rng_state(), "python": random.getstate(), "cuda": [torch.zeros(4)]}
    restore_rng(old, torch.device("cuda", 1))
    restore_rng(old, torch.device("cuda", 0))
    assert len(restored) == 1 and restored[0][1] == torch.device("cuda", 0)


def test_an_fp16_resume_of_a_run_saved_without_a_scaler_state_starts_a_fresh_scale(tmp_path, monkeypatch):
    """A CPU or bf16 run saves its disabled GradScaler as {}; resuming it with fp16 enabled failed
    on the empty state. The file is also loaded on the CPU: the optimiser moves its tensors."""
    import seg_core.training.state as state_module
    from seg_core.models.checkpoint import save_checkpoint

    model = torch.nn.Conv2d(3, 25, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 3, 4, 4)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    train_state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(),
        "loop": {"epoch": 1, "step_in_epoch": 1},
        "rng": capture_rng(torch.device("cpu")),
    }
    assert train_state["scaler"] == {}
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": ["c"] * 25,
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    }
    save_checkpoint(
        {"state_dict": model.state_dict(), "meta": meta, "train_state": train_state}, tmp_path / "last.pt"
    )
    locations = []
    real_load = state_module.load_checkpoint
    monkeypatch.setattr(
        state_module,
        "load_checkpoint",
        lambda path, map_location: locations.append(map_location) or real_load(path),
    )
    run = bare_run(torch.nn.Conv2d(3, 25, 1), None, None)
    run.optimizer = torch.optim.AdamW(run.model.parameters())
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, lambda step: 1.0)
    run.scaler = torch.amp.GradScaler("cpu", enabled=True)
    run.checkpoint_dir = tmp_path
    TrainingRun.restore(run)
    assert locations == ["cpu"]
    assert run.state == LoopState(epoch=1, step_in_epoch=1)
    assert "loss scale starts afresh" in run.reporter.lines[0][1]
    assert all(s["step"].device.type == "cpu" for s in run.optimizer.state.values())


# --------------------------------------------------------------------------- out of memory, NaN


def test_out_of_memory_under_ddp_is_fatal_with_a_clear_message():
    run = bare_run(OutOfMemoryAbove(limit=2), create_loss("ce"), tiny_config("x"))
    run.group = ProcessGroup(rank=1, world_size=2, local_rank=1)
    with pytest.raises(DistributedOutOfMemoryError, match="rank 1 .* multi-GPU .*--batch-size"):
        train_step(run, *batch(0), ends_window=True)
    assert run.state.micro_batch == 0  # no rank shrinks alone


def test_the_retry_frees_the_failed_attempt_before_emptying_the_cache(monkeypatch):
    model = OutOfMemoryAbove(limit=4)
    alive_at_empty_cache = []
    monkeypatch.setattr(
        step_module,
        "free_cached_memory",
        lambda device: alive_at_empty_cache.append([ref() is not None for ref in model.activations]),
    )
    train_step(bare_run(model, create_loss("ce"), tiny_config("x")), *batch(0), ends_window=True)
    assert alive_at_empty_cache == [[False]]  # the 8-image activation was gone when the cache emptied


def test_out_of_memory_inside_an_accumulation_window_keeps_the_earlier_batches_gradients():
    cfg = tiny_config("x", accumulation=2)

    def window_gradient(limit):
        model = OutOfMemoryAbove(limit)
        run = bare_run(model, create_loss("ce"), cfg)
        train_step(run, *batch(1), ends_window=False)  # the window's first batch fits
        run.state.step_in_epoch = 1
        train_step(run, *batch(2), ends_window=True)  # the second needs micro-batches
        return model.conv.weight.grad.clone(), run.state.micro_batch

    whole, _ = window_gradient(limit=10**9)
    retried, micro_batch = window_gradient(limit=4)
    assert micro_batch == 4
    torch.testing.assert_close(retried, whole, rtol=1e-4, atol=1e-6)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


AGREE_ON_STEP = """
import json, os, sys, torch, torch.distributed as dist
from seg_core.training.distributed import ProcessGroup, agree_on_step
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:" + sys.argv[2], rank=rank, world_size=2)
loss = torch.tensor(float("nan") if rank == 1 else 0.5)  # NaN on rank 1 only
stop = rank == 0  # a stop signal that reached rank 0 only
print(json.dumps(agree_on_step(loss, stop, ProcessGroup(rank, 2, rank))))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_a_nan_or_a_stop_on_one_rank_is_seen_by_every_rank_at_the_same_step():
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AGREE_ON_STEP, str(rank), port],
            cwd=paths.REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    for output in outputs:
        loss, stop = json.loads(output)
        assert loss != loss and stop is True  # NaN (so both ranks fail the run) and stop on both


# --------------------------------------------------------------------------- DDP details


def test_sync_batchnorm_conversion_keeps_the_default_encoders_activations():
    """torch's converter turns timm's BatchNormAct2d into a plain SyncBatchNorm and drops its
    ReLU6; timm's keeps it, so the converted network computes what the Predictor will."""
    from seg_core.models import ModelSpec, create_model

    torch.manual_seed(0)
    model = create_model(ModelSpec(), load_weights=False).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        converted = dist_utils.convert_sync_batchnorm(copy.deepcopy(model)).eval()
        torch.testing.assert_close(converted(x), expected)
        broken = torch.nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model)).eval()
        assert not torch.allclose(broken(x), expected, atol=1e-3)  # the fault this guards against
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules())


class CountsSyncs(torch.nn.Module):
    """Stands in for DDP: records, per forward, whether gradients would be all-reduced."""

    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Conv2d(3, 25, 1)
        self.syncing, self.forwards = True, []

    @contextlib.contextmanager
    def no_sync(self):
        self.syncing = False
        try:
            yield
        finally:
            self.syncing = True

    def forward(self, x):
        self.forwards.append(self.syncing)
        return self.inner(x)


def test_gradients_are_all_reduced_once_per_accumulation_window():
    model = CountsSyncs()
    run = bare_run(model, create_loss("ce"), tiny_config("x", accumulation=2))
    run.model_without_ddp = model.inner
    run.state.micro_batch = 4
    train_step(run, *batch(0), ends_window=False)
    train_step(run, *batch(1), ends_window=True)
    assert model.forwards == [False, False, False, True]  # only the window's last micro-batch syncs


def test_loader_workers_share_the_cores_among_the_processes_of_a_machine(monkeypatch):
    from seg_core.datasets.loader import worker_count

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    cuda = torch.device("cuda", 0)
    assert worker_count(-1, cuda, processes_per_machine=1) == 8
    assert worker_count(-1, cuda, processes_per_machine=4) == 3  # 4 cores each, one for the trainer
    assert worker_count(-1, torch.device("cpu")) == 0 and worker_count(5, cuda, 4) == 5


# --------------------------------------------------------------------------- inference


def test_the_predictor_folds_batchnorm_on_the_cpu_before_moving_to_its_device(monkeypatch):
    import seg_core.inference.predictor as predictor_module
    from tests.reliability.hostile import tiny_meta, tiny_unet

    events = []
    real_fold = predictor_module.fold_batchnorm

    def fold(model):
        events.append(("fold", next(model.parameters()).device.type))
        return real_fold(model)

    model = tiny_unet()
    real_to = model.to
    monkeypatch.setattr(model, "to", lambda *a, **k: events.append(("to", str(a[0]))) or real_to(*a, **k))
    monkeypatch.setattr(predictor_module, "fold_batchnorm", fold)
    predictor_module.Predictor(model, tiny_meta(), torch.device("cpu"))
    assert events == [("fold", "cpu"), ("to", "cpu")]
