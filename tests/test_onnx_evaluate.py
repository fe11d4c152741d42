"""`evaluate --model model.onnx`: an exported model scored on a labelled dataset gives the same
metrics and outputs as its checkpoint, and the whole command runs with torch blocked.

The tiny seeded U-Net of tests/helpers.py stands in for a trained model; random masks for labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import make_pairs, write_tiny_checkpoint
from PIL import Image
from test_onnx import ROOT, _env, _run_without_torch, run_cli_without_torch

from seg_core.cli import main
from seg_core.inference.export import export_onnx


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt")


@pytest.fixture(scope="module")
def model(tmp_path_factory, checkpoint) -> Path:
    photos = tmp_path_factory.mktemp("verify")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
        photos / "v.png"
    )
    return Path(
        export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "model.onnx", photos_folder=photos).path
    )


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    return make_pairs(tmp_path_factory.mktemp("data"), 4, size=(80, 60))


def _scores(capsys, *args) -> dict:
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_exported_model_scores_what_its_checkpoint_scores(checkpoint, model, labelled, capsys):
    torch_scores = _scores(capsys, "--checkpoint", str(checkpoint), "--data", str(labelled))
    onnx_scores = _scores(capsys, "--model", str(model), "--data", str(labelled))
    assert onnx_scores["checkpoint"] == str(model) and set(onnx_scores) == set(torch_scores)
    assert onnx_scores["images"] == torch_scores["images"] == 4 and onnx_scores["split"] == "all"
    for key in ("kaggle_dice", "miou", "mean_dice", "pixel_accuracy"):
        assert onnx_scores[key] == pytest.approx(torch_scores[key], abs=1e-3), key
    assert [r["support"] for r in onnx_scores["per_class"]] == [
        r["support"] for r in torch_scores["per_class"]
    ]
    assert sum(r["support"] for r in onnx_scores["per_class"]) == 4 * 80 * 60
    assert main(["evaluate", "--model", str(model), "--data", str(labelled)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{model} on {labelled}") and "Kaggle Dice" in printed


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --checkpoint"),
        (["--checkpoint", "m.onnx"], "--checkpoint m.onnx is an ONNX model: pass it as --model"),
        (["--model", "gone.onnx"], "gone.onnx: no such model file"),
    ],
)
def test_evaluate_names_a_wrong_model_argument(args, message, labelled, capsys):
    assert main(["evaluate", *args, "--data", str(labelled)]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_with_an_onnx_model_never_imports_torch(model, labelled, tmp_path):
    argv = ["evaluate", "--model", str(model), "--data", str(labelled), "--json"]
    result = run_cli_without_torch(argv, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads(result.stdout)
    assert scores["images"] == 4 and len(scores["per_class"]) == 25 and 0 <= scores["kaggle_dice"] <= 1


def test_the_evaluate_page_scores_an_onnx_model_without_torch(model, labelled, tmp_path):
    """A field install has no torch: the Evaluate page lists the exported model, scores it and
    draws its worst photos through ONNX Runtime alone."""
    import shutil

    home = tmp_path / "home"
    (home / "checkpoints" / "field").mkdir(parents=True)
    shutil.copy(model, home / "checkpoints" / "field" / "model.onnx")
    shutil.copytree(labelled, home / "data" / "tiny")
    result = _run_without_torch(
        f"""
        from streamlit.testing.v1 import AppTest
        app = AppTest.from_file({str(ROOT / "app_pages" / "evaluate.py")!r}, default_timeout=120).run()
        assert not app.exception, app.exception
        assert "field/model.onnx" in app.selectbox[0].value, app.selectbox[0].options
        app.button[0].click().run()
        assert not app.exception and not app.error, (app.exception, app.error)
        assert {{m.label: m.value for m in app.metric}}["Photos scored"] == "4"
        assert len([c for image in app.image for c in image.captions]) == 4
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        print("scored")
        """,
        _env(home),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scored" in result.stdout
