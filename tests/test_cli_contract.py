"""The error contract (docs/reference/errors.md) under a new user's natural mistakes: bad input
gets one sentence on stderr and exit 2, never a traceback, and nothing is created (no run, no
output file)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_pair
from PIL import Image
from test_infer import _meta

from seg_core.cli import main
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.runs.registry import RunRegistry


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    return save_checkpoint(
        {"state_dict": model.state_dict(), "meta": _meta(resolution=64)}, tmp_path / "m.pt"
    )


@pytest.fixture
def places(tmp_path, tiny_dataset, checkpoint) -> dict[str, str]:
    """Paths the command lines below name: a dataset, a broken one, a plain file, a folder."""
    bad = tmp_path / "bad"
    make_pair(bad, "only")
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(bad / "train_masks" / "only.png")
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder")
    (tmp_path / "config.json").write_text(json.dumps({"epochs": "one"}))
    (tmp_path / "folder").mkdir()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photo)
    return {
        "data": str(tiny_dataset),
        "bad": str(bad),
        "file": str(plain),
        "tmp": str(tmp_path),
        "photo": str(photo),
        "ckpt": str(checkpoint),
    }


CASES = [
    # (command line, exit code, phrase the sentence must contain)
    ("train --data {tmp}/missing", 2, "not found"),
    ("train --data {file}", 2, "is a file"),
    ("train --data {data} --arch nonsense", 2, "Unknown architecture 'nonsense'"),
    ("train --data {data} --encoder resnet999", 2, "Unknown encoder 'resnet999'"),
    ("train --data {data} --weights {tmp}/missing.pt", 2, "weights file not found"),
    ("train --data {data} --arch unet --batch-size 50", 2, "--batch-size 50 is larger than the 5"),
    ("train --data {bad} --arch unet", 2, "mask is 10x10 but its image is 48x32"),
    ("train --data {data} --arch fpn --encoder resnet18 --weights imagenet", 2, "cannot be downloaded"),
    ("train --data {data} --config {tmp}/config.json", 2, "epochs 'one' must be a whole number"),
    ("train --data {data} --epochs one", 2, "invalid int value: 'one'"),
    ("train --data {data} --device gpu", 2, "device 'gpu' is not one of"),
    ("study --data {tmp}/missing", 2, "not found"),
    ("study --data {data} --epochs 0", 2, "epochs 0 must be at least 1"),
    ("predict --checkpoint {ckpt} --out {file} {photo}", 2, "is a file; give a folder"),
    ("predict --checkpoint {ckpt} --out {file}/sub {photo}", 2, "which is a file"),
    ("predict --checkpoint {ckpt} --out {tmp}/out --device gpu {photo}", 2, "--device 'gpu' is not one of"),
    ("predict --checkpoint {ckpt} --out {tmp}/out --opacity 2 {photo}", 2, "--opacity 2.0 must be between"),
    ("predict --checkpoint {tmp}/folder --out {tmp}/out {photo}", 2, "is a folder, not a checkpoint"),
    ("evaluate --checkpoint {ckpt} --data {data} --device gpu", 2, "--device 'gpu' is not one of"),
    ("evaluate --checkpoint {tmp}/folder --data {data}", 2, "is a folder, not a checkpoint"),
    ("demo-data --out {file} --n 1 --size 64x64", 2, "is a file; give a folder"),
    ("demo-data --out {file}/sub --n 1 --size 64x64", 2, "which is a file"),
    ("demo-data --out {data} --n 1 --size 64x64", 2, "is not empty"),
]


@pytest.mark.parametrize(("command", "code", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_sentence_exit_2_and_creates_nothing(
    command, code, phrase, places, stormseg_home, capsys, monkeypatch
):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # "offline", whatever this machine has
    argv = command.format(**places).split()
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0], captured.err
    assert "Traceback" not in captured.err + captured.out
    assert RunRegistry().list() == []  # no run was created, not even a failed one
    assert not (stormseg_home / "checkpoints").exists() or not any((stormseg_home / "checkpoints").iterdir())
    assert not Path(places["tmp"], "out").exists()  # nor an output folder
    assert Path(places["file"]).read_text() == "not a folder"


def test_runs_resume_refuses_a_completed_run(capsys):
    registry = RunRegistry()
    run = registry.create_run({"arch": "unet", "epochs": 2}, name="done")
    run.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    (run.checkpoint_dir / "last.pt").write_bytes(b"a saved state")
    registry.finish(run.id, "completed")
    ended = registry.get(run.id).ended_at
    assert main(["runs", "resume", run.id]) == 2
    err = capsys.readouterr().err
    assert "has already completed" in err and len(err.strip().splitlines()) == 1
    after = registry.get(run.id)
    assert after.status == "completed" and after.ended_at == ended  # not relaunched
    assert main(["train", "--resume", run.id]) == 2
    assert "has already completed" in capsys.readouterr().err


def test_ctrl_c_on_study_exits_130_after_the_table(tiny_dataset, capsys, monkeypatch):
    import seg_core.services.study as study

    def stopped_study(*_args, stop_request, **_kwargs):
        stop_request.requested, stop_request.signal_name = True, "SIGINT"  # what Ctrl-C sets
        return [{"name": "study: U-Net + SGD", "status": "stopped"}]

    monkeypatch.setattr(study, "run_study", stopped_study)
    assert main(["study", "--data", str(tiny_dataset)]) == 130
    captured = capsys.readouterr()
    assert "U-Net + SGD" in captured.out
    assert captured.err.strip().splitlines() == [
        "study stopped by SIGINT; `python -m seg_core runs resume ID` continues a run"
    ]


def test_demo_data_replaces_an_existing_dataset_only_when_told(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo-data", "--out", str(out), "--n", "3", "--size", "96x64"]) == 0
    before = sorted(p.name for p in out.rglob("*"))
    assert main(["demo-data", "--out", str(out), "--n", "2", "--size", "64x64"]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.rglob("*")) == before  # untouched
    (out / "README.txt").write_text("mine")
    assert main(["demo-data", "--out", str(out), "--n", "2", "--size", "64x64", "--replace"]) == 0
    images = sorted((out / "train_images").iterdir())
    assert [p.name for p in images] == ["synth_0000.tif", "synth_0001.tif"]  # no old scene left
    assert {Image.open(p).size for p in images} == {(64, 64)}
    assert (out / "README.txt").read_text() == "mine"


def test_json_is_always_one_object_and_show_prints_dates(capsys):
    registry = RunRegistry()
    ids = []
    for name in ("a", "b"):
        run = registry.create_run({"arch": "unet", "epochs": 1}, name=name)
        registry.finish(run.id, "completed")
        ids.append(run.id)
    for argv in (["runs", "list"], ["runs", "compare", *ids], ["runs", "show", *ids]):
        assert main([*argv, "--json"]) == 0
        document = json.loads(capsys.readouterr().out)  # one JSON document, an object
        assert sorted(r["id"] for r in document["runs"]) == sorted(ids), argv
    assert main(["runs", "show", ids[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == ids[0]  # one run: the run itself
    assert main(["runs", "show", ids[0]]) == 0
    shown = capsys.readouterr().out
    created = next(line for line in shown.splitlines() if line.strip().startswith("created_at:"))
    assert re.search(r"created_at: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$", created), created


@pytest.mark.parametrize(
    "flags",
    [
        ["--data", "{tmp}/missing"],
        ["--data", "{data}", "--arch", "deeplabv3plus", "--encoder", "resnet50", "--weights", "imagenet"],
    ],
    ids=["missing data", "imagenet offline"],
)
def test_train_refuses_these_before_torch_is_even_imported(flags, places):
    """The README's promise of a sentence in a fraction of a second: nothing heavy loads first
    (torch alone takes seconds to import), let alone a model."""
    import os
    import subprocess
    import sys

    argv = [flag.format(**places) for flag in ["train", *flags]]
    script = (
        "import sys; from seg_core.cli import main; code = main(sys.argv[1:], own_process=True); "
        "print(code, 'torch' in sys.modules)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env, cwd=repo
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
