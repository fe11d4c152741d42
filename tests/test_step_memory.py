"""The memory a training step needs (training/step_memory.py), the memory a process can still
take (core/memory.py), and the preflight refusing a step that cannot fit (training/preflight.py).
Peak memory itself varies with the machine: bench/step_memory.py measures it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from helpers import make_pairs

from seg_core.cli import main
from seg_core.core import memory
from seg_core.core.memory import available_memory_bytes
from seg_core.models import ModelSpec, create_model
from seg_core.training.config import TrainConfig
from seg_core.training.losses import create_loss
from seg_core.training.preflight import check_before_run, step_images
from seg_core.training.step_memory import PROBE_BATCH, measure_step_memory, saved_bytes

GB = 10**9


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc(tmp_path) -> Path:
    """A /proc with 8 GB available."""
    write(tmp_path / "proc" / "meminfo", "MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    return tmp_path / "proc"


def test_the_room_is_the_kernels_available_memory_without_a_control_group(proc, tmp_path):
    assert available_memory_bytes(proc, tmp_path / "cgroup") == 8_000_000 * 1024


def test_a_containers_limit_lowers_the_room(proc, tmp_path):
    write(proc / "self" / "cgroup", "0::/job\n")
    write(tmp_path / "cgroup" / "job" / "memory.max", f"{2 * GB}\n")
    write(tmp_path / "cgroup" / "job" / "memory.current", f"{GB // 2}\n")
    assert available_memory_bytes(proc, tmp_path / "cgroup") == 3 * GB // 2


def test_a_control_group_without_a_limit_leaves_the_kernels_figure(proc, tmp_path):
    write(proc / "self" / "cgroup", "4:memory:/job\n0::/\n")
    write(tmp_path / "cgroup" / "memory" / "job" / "memory.limit_in_bytes", "9223372036854771712\n")
    write(tmp_path / "cgroup" / "memory" / "job" / "memory.usage_in_bytes", f"{GB}\n")
    write(tmp_path / "cgroup" / "memory.max", "max\n")
    assert available_memory_bytes(proc, tmp_path / "cgroup") == 8_000_000 * 1024


def test_a_cgroup_v1_limit_lowers_the_room(proc, tmp_path):
    write(proc / "self" / "cgroup", "9:pids:/\n4:memory:/job\n")
    write(tmp_path / "cgroup" / "memory" / "job" / "memory.limit_in_bytes", f"{GB}\n")
    write(tmp_path / "cgroup" / "memory" / "job" / "memory.usage_in_bytes", f"{GB // 4}\n")
    assert available_memory_bytes(proc, tmp_path / "cgroup") == 3 * GB // 4


def test_without_proc_the_room_is_unknown(tmp_path):
    assert available_memory_bytes(tmp_path / "nothing", tmp_path / "cgroup") is None


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="Linux only")
def test_this_machines_room_is_some_of_its_memory():
    total = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    assert 0 < available_memory_bytes() <= total


DEFAULT = ModelSpec(weights="none")  # FPN / EfficientNet-Lite0, 25 classes


def test_the_line_through_two_tiny_probes_predicts_a_larger_input_on_the_cpu():
    """The probe runs the network on the meta device; the straight line through its two sizes
    gives what autograd really saves, computing, on a four times larger input."""
    loss = create_loss("ce_dice", 25)
    step = measure_step_memory(DEFAULT, loss, moments=2)
    counted = saved_bytes(create_model(DEFAULT, load_weights=False), loss, 25, 256)
    assert step.bytes_for(PROBE_BATCH, 256, 256) - step.parameters == pytest.approx(counted, rel=0.03)


def test_a_step_grows_with_its_images_pixels_and_classes():
    step = measure_step_memory(DEFAULT, create_loss("ce_dice", 25), moments=2)
    weights = sum(p.numel() * 4 for p in create_model(DEFAULT, load_weights=False).parameters())
    assert step.parameters == 4 * weights  # weights, gradients and AdamW's two moments
    one, four = step.bytes_for(1, 512, 512), step.bytes_for(4, 512, 512)
    assert four - step.parameters == pytest.approx(4 * (one - step.parameters), rel=0.01)
    assert step.bytes_for(4, 1024, 1024) - step.parameters > 3.9 * (four - step.parameters)
    fewer = measure_step_memory(
        dataclasses.replace(DEFAULT, num_classes=5), create_loss("ce_dice", 5), moments=2
    )
    assert fewer.per_pixel < step.per_pixel  # smaller logits and probabilities
    assert step.likely_peak(4, 512, 512) > step.bytes_for(4, 512, 512)


@pytest.fixture
def photos(tmp_path) -> Path:
    return make_pairs(tmp_path / "tiny", 6, size=(1200, 900))


@pytest.fixture
def room(monkeypatch):
    """Set the memory the preflight sees free."""

    def set_room(count: int | None) -> None:
        monkeypatch.setattr(memory, "available_memory_bytes", lambda: count)

    return set_room


def test_a_step_the_machine_cannot_hold_is_refused_with_its_size(photos, room):
    room(24 * GB)
    with pytest.raises(ValueError) as refusal:
        check_before_run(TrainConfig(data=str(photos), crop=8192, batch_size=4, device="cpu"))
    sentence = str(refusal.value)
    assert "4 crops of 8192 px" in sentence and "24.0 GB free" in sentence
    assert "fpn, tu-efficientnet_lite0" in sentence and "lower --crop or --batch-size" in sentence
    need = float(sentence.split("needs about ")[1].split(" GB")[0])
    assert need > 100  # 4 x 67 M pixels x 25 classes of logits alone are 27 GB


def test_the_same_step_passes_on_a_machine_that_holds_it_and_where_the_room_is_unknown(photos, room):
    cfg = TrainConfig(data=str(photos), crop=8192, batch_size=2, device="cpu")
    room(100_000 * GB)
    assert check_before_run(cfg).pairs
    room(None)
    assert check_before_run(cfg).pairs


def test_the_default_step_passes_in_a_few_gigabytes(photos, room):
    room(8 * GB)
    assert check_before_run(TrainConfig(data=str(photos), device="cpu")).pairs


def test_whole_photos_are_measured_at_the_working_resolution(photos, room):
    cfg = TrainConfig(data=str(photos), crop=0, resolution=1024, batch_size=2, augment="none", device="cpu")
    assert step_images(cfg, check_before_run(cfg).pairs) == (2, 768, 1024)
    room(GB // 2)
    with pytest.raises(
        ValueError, match=r"2 whole photos of up to 1024 x 768 px .* lower --crop or --resolution"
    ):
        check_before_run(cfg)


def test_photos_turned_by_the_augmentation_make_a_square_batch(photos):
    """rot90 turns some photos of a batch to portrait: padded to the long side both ways."""
    cfg = TrainConfig(data=str(photos), crop=0, resolution=1024, batch_size=2, augment="seed", device="cpu")
    assert step_images(cfg, check_before_run(cfg).pairs) == (2, 1024, 1024)


def test_unlabelled_views_join_the_step(photos):
    cfg = TrainConfig(data=str(photos), batch_size=2, unlabelled=str(photos), unlabelled_per_batch=3)
    assert step_images(cfg, [])[0] == 5


def test_train_refuses_it_in_one_line_before_a_run_exists(photos, room, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("STORMSEG_HOME", str(tmp_path / "home"))
    room(24 * GB)
    assert main(["train", "--data", str(photos), "--crop", "8192", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "crops of 8192 px needs about" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


@pytest.fixture
def gpu_of(monkeypatch):
    """Make the preflight see a CUDA GPU of the given size (bf16 autocast under --amp auto)."""
    from types import SimpleNamespace

    from seg_core.core import runtime

    def install(size: int) -> None:
        monkeypatch.setattr(runtime, "select_device", lambda name, local_rank=0: torch.device("cuda", 0))
        monkeypatch.setattr(
            runtime, "amp_dtype", lambda device, mode: None if mode == "off" else torch.bfloat16
        )
        monkeypatch.setattr(
            torch.cuda, "get_device_properties", lambda device: SimpleNamespace(total_memory=size)
        )

    return install


def test_on_a_gpu_only_a_micro_batch_of_two_that_cannot_fit_is_refused(photos, gpu_of, room):
    """The loop halves the micro-batch down to 2 after an out-of-memory error, so batch 16 is not
    refused for its size; autocast halves the activations."""
    room(GB)  # the CPU's room is not what counts here
    gpu_of(16 * GB)
    assert check_before_run(TrainConfig(data=str(photos), crop=2048, batch_size=5, amp="auto")).pairs
    with pytest.raises(ValueError) as refusal:
        check_before_run(TrainConfig(data=str(photos), crop=2048, batch_size=5, amp="off"))
    assert "a micro-batch of 2 crops of 2048 px" in str(refusal.value)
    assert "the GPU holds 16.0 GB in all" in str(refusal.value)
