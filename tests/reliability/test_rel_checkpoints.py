"""Hostile checkpoints: pickle payloads in every place a .pt can hide one, refused by every entry point
(Predictor, model summary, CLI predict/evaluate, training resume) without running; cut-off and fuzzed
files; checkpoints whose weights do not fit their declared model, or that were trained for 3 classes;
metadata that would crash inference. Each is refused with a CheckpointError sentence naming the file.

Complements tests/test_checkpoint.py (one os.system payload through load_checkpoint, empty, random,
one truncation, foreign dict) and tests/test_infer.py (unet weights declared as FPN, 7 classes).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_pair
from hostile import save_tiny_checkpoint, tiny_meta, tiny_unet

from seg_core.cli import main
from seg_core.core import paths
from seg_core.inference.predictor import Predictor
from seg_core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.services import catalog
from seg_core.training.config import TrainConfig
from seg_core.training.loop import fit

MARKER_ENV = "STORMSEG_TEST_PWNED"  # where a payload that ran would leave its mark


class TouchMarker:
    """Unpickling this runs a shell command that creates the marker file."""

    def __reduce__(self):
        return (os.system, (f'touch "{os.environ[MARKER_ENV]}"',))


class EvalMarker:
    def __reduce__(self):
        return (eval, (f"open({os.environ[MARKER_ENV]!r}, 'w').close()",))


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "PWNED"
    monkeypatch.setenv(MARKER_ENV, str(path))
    monkeypatch.chdir(tmp_path)
    return path


def legacy_pickle(payload, path: Path) -> Path:
    """The pre-1.6 torch format: a bare pickle stream, not a zip archive."""
    torch.save(payload, path, _use_new_zipfile_serialization=False)
    return path


def evil_checkpoints(folder: Path) -> dict[str, Path]:
    """One checkpoint per hiding place of a code-running payload."""
    state = tiny_unet().state_dict()
    meta = tiny_meta()
    cases = {
        "in_meta": {"state_dict": state, "meta": {**meta, "config": TouchMarker()}},
        "in_state_dict": {"state_dict": {**state, "extra": TouchMarker()}, "meta": meta},
        "as_payload": TouchMarker(),
        "eval_builtin": {"state_dict": state, "meta": {**meta, "metrics": EvalMarker()}},
        "numpy_object": {"state_dict": state, "meta": {**meta, "x": np.array([TouchMarker()], dtype=object)}},
    }
    made = {}
    for name, payload in cases.items():
        made[name] = folder / f"{name}.pt"
        torch.save(payload, made[name], pickle_module=pickle)
    made["legacy_format"] = legacy_pickle(
        {"state_dict": state, "meta": {**meta, "x": TouchMarker()}}, folder / "legacy_format.pt"
    )
    made["raw_pickle"] = folder / "raw_pickle.pt"
    made["raw_pickle"].write_bytes(pickle.dumps(TouchMarker()))
    return made


def test_payloads_are_refused_by_every_loader_and_never_run(tmp_path, marker):
    for name, path in evil_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError, match=f"{name}.pt: ") as info:
            load_checkpoint(path)
        assert "refused" in str(info.value) or "not a PyTorch file" in str(info.value), name
        with pytest.raises(CheckpointError, match=f"{name}.pt"):
            Predictor.from_checkpoint(path)
        summary = catalog.checkpoint_summary(path)
        assert set(summary) == {"error"} and f"{name}.pt" in summary["error"]
    assert not marker.exists()


def cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "seg_core", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def test_the_cli_refuses_payloads_with_exit_2_and_never_runs_them(tmp_path, marker, tiny_dataset):
    evil = evil_checkpoints(tmp_path)
    photo, _ = make_pair(tmp_path / "photos", "p")
    commands = {
        "in_meta": [
            "predict",
            "--checkpoint",
            str(evil["in_meta"]),
            "--out",
            str(tmp_path / "out"),
            str(photo),
        ],
        "legacy_format": [
            "evaluate",
            "--checkpoint",
            str(evil["legacy_format"]),
            "--data",
            str(tiny_dataset),
        ],
    }
    for name, command in commands.items():
        result = cli(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"error: {evil[name]}: ") and "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_resuming_from_a_poisoned_last_pt_fails_the_run_with_its_reason(tmp_path, marker, tiny_dataset):
    cfg = TrainConfig(
        data=str(tiny_dataset),
        arch="unet",
        unet_base_width=4,
        epochs=2,
        batch_size=2,
        crop=32,
        resolution=48,
        warmup_epochs=0,
        early_stop_patience=0,
        val_ratio=0.34,
    )
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="poisoned")
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": {}, "meta": TouchMarker()}, run.checkpoint_dir / "last.pt", pickle_module=pickle
    )
    assert fit(cfg, run.id, registry, run.checkpoint_dir, resume=True) == "failed"
    record = registry.get(run.id)
    assert record.status == "failed" and "last.pt: refused" in record.error
    assert not marker.exists()


# --- damaged files ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("good") / "best.pt")


@pytest.mark.parametrize("keep", [1, 22, 0.1, 0.5, 0.9, 0.999])
def test_a_cut_off_checkpoint_is_refused_naming_it(tmp_path, good_checkpoint, keep):
    data = good_checkpoint.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut.pt: the checkpoint is damaged or not a PyTorch file"):
        Predictor.from_checkpoint(cut)


def test_fuzzed_checkpoints_load_or_are_refused_never_crash(tmp_path, good_checkpoint):
    """60 seeded copies with 1-8 bytes overwritten anywhere (zip directory, pickle, tensor data): each
    gives a working Predictor or a CheckpointError naming the file, nothing else. Before the fix one
    of these 60 escaped as IndexError (torch's weights-only unpickler); other seeds gave KeyError and
    AttributeError (a tuple where a tensor belongs)."""
    original = good_checkpoint.read_bytes()
    rng = np.random.default_rng(11)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(60):
        mutated = bytearray(original)
        for _ in range(rng.integers(1, 9)):
            mutated[rng.integers(0, len(mutated))] = rng.integers(0, 256)
        path = tmp_path / f"fuzz{i}.pt"
        path.write_bytes(bytes(mutated))
        try:  # without BatchNorm folding, a speed-up whose self-check costs ~2 s per model here
            predictor = Predictor.from_checkpoint(path, fold_norms=False)
        except CheckpointError as exc:
            assert str(exc).startswith(f"{path}: ")
            outcomes["refused"] += 1
        else:
            assert isinstance(predictor.model, torch.nn.Module)
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0, outcomes


def test_a_zip_that_is_not_a_torch_archive_is_refused(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(CheckpointError, match="archive.pt: the checkpoint is damaged or not a PyTorch file"):
        load_checkpoint(path)


# --- weights that do not fit ------------------------------------------------------------------------


@pytest.fixture
def three_class_checkpoint(tmp_path) -> Path:
    """An honest checkpoint of another task: 3 classes in its weights, its metadata and its names."""
    meta = tiny_meta(num_classes=3, class_names=["background", "water", "roof"])
    return save_checkpoint({"state_dict": tiny_unet(3).state_dict(), "meta": meta}, tmp_path / "three.pt")


def test_a_three_class_checkpoint_without_a_scheme_is_refused(three_class_checkpoint, tiny_dataset, capsys):
    with pytest.raises(CheckpointError, match="three.pt: records 3 classes but no label scheme"):
        Predictor.from_checkpoint(three_class_checkpoint)
    summary = catalog.checkpoint_summary(three_class_checkpoint)  # the pickers say why, next to it
    assert "records 3 classes but no label scheme" in summary["error"]
    assert main(["evaluate", "--checkpoint", str(three_class_checkpoint), "--data", str(tiny_dataset)]) == 2
    assert "records 3 classes but no label scheme" in capsys.readouterr().err


@pytest.mark.parametrize(
    "weights, meta_changes, message",
    [
        (3, {}, "its weights do not fit a unet/none model"),  # 3-class weights declared as 25
        (25, {"unet_base_width": 8}, "its weights do not fit a unet/none model"),  # a wider U-Net
        (25, {"arch": "deeplabv3plus", "encoder": "resnet18"}, "do not fit a deeplabv3plus/resnet18"),
        (25, {"arch": "evil"}, "Unknown architecture 'evil'"),
        (25, {"encoder": "../../etc/passwd", "arch": "fpn"}, "Unknown encoder"),
    ],
)
def test_weights_that_do_not_fit_their_declared_model_are_refused(tmp_path, weights, meta_changes, message):
    path = save_checkpoint(
        {"state_dict": tiny_unet(weights).state_dict(), "meta": tiny_meta(**meta_changes)},
        tmp_path / "lie.pt",
    )
    with pytest.raises(CheckpointError, match=f"lie.pt: .*{message}"):
        Predictor.from_checkpoint(path)


@pytest.mark.parametrize(
    "meta_changes",
    [
        {"resolution": 0},
        {"resolution": -5},
        {"resolution": "1024"},
        {"mean": [0.5, 0.5]},
        {"std": [0.0, 0.0, 0.0]},
        {"std": [float("nan")] * 3},
        {"num_classes": None},
        {"num_classes": "25"},
        {"arch": ["unet"]},
    ],
    ids=lambda changes: "-".join(f"{k}={v}" for k, v in changes.items()),
)
def test_metadata_that_would_crash_inference_is_refused_naming_the_file(tmp_path, meta_changes):
    path = save_tiny_checkpoint(tmp_path / "meta.pt", **meta_changes)
    key = next(iter(meta_changes))
    with pytest.raises(CheckpointError, match=f"meta.pt: checkpoint metadata is not usable: {key} "):
        Predictor.from_checkpoint(path)


def test_a_meta_that_is_not_a_dictionary_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"state_dict": {}, "meta": ["arch", "encoder"]}, buffer)
    path = tmp_path / "listmeta.pt"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="listmeta.pt: not a StormSeg checkpoint"):
        load_checkpoint(path)


# --- run ids and checkpoint names typed by users ----------------------------------------------------

TRAVERSALS = [
    "../../etc",
    "..",
    ".",
    "../x",
    "/etc/passwd",
    "a/../../b",
    "run\x00id",
    "RUN",
    "-rf",
    "x" * 65,
    "%2e%2e",
    "..\\..\\x",
    "ok-id/..",
    " ok",
]


@pytest.fixture
def victims(stormseg_home) -> list[Path]:
    """Files a traversal would reach: next to the checkpoints, in another run's folder, in the home."""
    files = [
        paths.checkpoints_dir() / "victim" / "best.pt",
        stormseg_home / "victim.txt",
        paths.runs_dir() / "victim.log",
    ]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("keep me")
    return files


@pytest.mark.parametrize("bad", TRAVERSALS, ids=repr)
def test_run_ids_from_the_command_line_cannot_traverse_paths(bad, victims, capsys):
    actions = ("show", "delete", "stop", "resume", "compare")
    # "--" and "--opt=value" let an id that starts with "-" reach StormSeg instead of argparse.
    commands = [["runs", action, "--", bad] for action in actions]
    commands += [["train", f"--run-id={bad}"], ["train", f"--resume={bad}"]]
    for args in commands:
        assert main(args) == 2, args
        assert "invalid run id" in capsys.readouterr().err, args
    assert all(file.read_text() == "keep me" for file in victims)
    with pytest.raises(ValueError, match="invalid run id"):
        catalog.model_path_for_run(bad)


def test_runs_delete_dotdot_in_a_real_process_deletes_nothing(tmp_path, victims):
    result = cli("runs", "delete", "..", cwd=tmp_path)
    assert result.returncode == 2 and "invalid run id '..'" in result.stderr
    assert all(file.read_text() == "keep me" for file in victims)


def test_checkpoint_names_that_are_not_checkpoints_are_refused_without_echoing_them(
    tmp_path, tiny_dataset, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret-content\n")
    (tmp_path / "sub").mkdir()
    os.symlink(secret, tmp_path / "linked.pt")
    os.mkfifo(tmp_path / "pipe.pt")  # reading it would block forever
    cases = {
        "sub/../secret.txt": "the checkpoint is damaged or not a PyTorch file",
        "linked.pt": "damaged",
        "sub": "is a folder, not a checkpoint file",
        "pipe.pt": "checkpoint not found",
        "/dev/zero": "checkpoint not found",
        "../../../../../../etc/hostname": "not a PyTorch file|not found",
    }
    for name, message in cases.items():
        assert main(["evaluate", "--checkpoint", name, "--data", str(tiny_dataset)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith(f"error: {name}: ") and re.search(message, err), (name, err)
        assert "secret-content" not in err
