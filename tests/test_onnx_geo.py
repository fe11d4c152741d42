"""Geo outputs on the ONNX path: an orthomosaic segmented by an exported model gives the torch
model's classes, and `map --model` and the Map page run with torch blocked from importing.

A tiny untrained U-Net at 128 px (20 cm/px working GSD) stands in for a trained model; the
torch-blocking mechanism is tests/test_onnx.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from geo_helpers import write_geotiff
from PIL import Image
from test_onnx import _env, _run_without_torch, run_cli_without_torch

from seg_core.cli import main
from seg_core.gis.mosaic import NODATA, MosaicSettings, segment_mosaic
from seg_core.imagery.camera import tag_photo
from seg_core.inference.export import export_onnx
from seg_core.inference.onnx_predictor import OnnxPredictor
from seg_core.inference.predictor import Predictor
from seg_core.models import ModelSpec, create_model
from seg_core.models.checkpoint import save_checkpoint
from seg_core.schemes.classes import CLASS_NAMES, NUM_CLASSES

ROOT = Path(__file__).resolve().parents[1]
# Small windows so the 300x200 mosaic is cut into many (context and seams are exercised).
WINDOWS = MosaicSettings(window=96, context=16, block=32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": NUM_CLASSES,
        "class_names": list(CLASS_NAMES),
        "resolution": 128,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
        "working_gsd_cm": 20.0,
    }
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory, checkpoint) -> Path:
    photos = tmp_path_factory.mktemp("verify")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(photos / "v.png")
    return Path(
        export_onnx(checkpoint, tmp_path_factory.mktemp("onnx") / "model.onnx", photos_folder=photos).path
    )


@pytest.fixture(scope="module")
def ortho(tmp_path_factory) -> Path:
    # 10 cm pixels under a 20 cm model: every window is resampled by GDAL on the way in.
    return write_geotiff(tmp_path_factory.mktemp("ortho") / "ortho.tif", width=300, height=200, pixel=0.1)


def test_an_onnx_mosaic_gives_the_torch_models_classes(checkpoint, model, ortho, tmp_path):
    torch_result = segment_mosaic(Predictor.from_checkpoint(checkpoint), ortho, tmp_path / "t.tif", WINDOWS)
    onnx_result = segment_mosaic(OnnxPredictor.from_file(model), ortho, tmp_path / "o.tif", WINDOWS)
    assert onnx_result.windows_done == torch_result.windows_done == onnx_result.windows_total > 4
    assert onnx_result.model_gsd.cm_per_px == 20.0  # the GSD the checkpoint recorded travels in the export
    with rasterio.open(tmp_path / "t.tif") as t, rasterio.open(tmp_path / "o.tif") as o:
        expected, got = t.read(1), o.read(1)
        assert o.crs == t.crs and o.transform == t.transform
    assert (expected != NODATA).all() and len(np.unique(expected)) > 1  # a real, varied mask
    assert (got == expected).mean() >= 0.999


def test_predict_working_is_the_same_for_both_backends(checkpoint, model):
    pixels = np.random.default_rng(2).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    expected = Predictor.from_checkpoint(checkpoint).predict_working(pixels)
    got = OnnxPredictor.from_file(model).predict_working(pixels)
    assert got.shape == expected.shape == (70, 90) and got.dtype == np.uint8
    assert (got == expected).mean() >= 0.999


def test_map_with_an_onnx_model_never_imports_torch(model, ortho, tmp_path):
    tag_photo(Image.new("RGB", (160, 120), (40, 60, 150)), tmp_path / "a.jpg", 29.76, -95.37, 90.0, 60.0)
    out = tmp_path / "map"
    argv = ["map", "--model", str(model), "--out", str(out), str(ortho), str(tmp_path / "a.jpg")]
    result = run_cli_without_torch(argv, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ortho.tif: " in result.stdout and "1 photo(s), 1 with a GPS position" in result.stdout
    summary = json.loads((out / "ortho_summary.json").read_text())
    assert summary["windows_done"] == summary["windows"] and summary["model_gsd"].startswith("20")
    for name in ("ortho_classes.tif", "ortho_classes.geojson", "ortho_classes.gpkg", "flight.geojson"):
        assert (out / name).is_file(), name


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --checkpoint"),
        (["--model", "best.pt"], "--model best.pt must be an exported .onnx file"),
        (["--model", "gone.onnx"], "gone.onnx: no such model file"),
    ],
)
def test_map_names_a_wrong_model_argument(args, message, ortho, tmp_path, capsys):
    assert main(["map", *args, "--out", str(tmp_path / "out"), str(ortho)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_map_page_makes_a_map_with_an_onnx_model_without_torch(model, ortho, tmp_path):
    home = tmp_path / "home"
    (home / "checkpoints" / "field").mkdir(parents=True)
    (home / "checkpoints" / "field" / "model.onnx").write_bytes(model.read_bytes())
    result = _run_without_torch(
        f"""
        from pathlib import Path
        from streamlit.testing.v1 import AppTest
        from seg_core.views import geomap
        app = AppTest.from_file({str(ROOT / "app_pages" / "map.py")!r}, default_timeout=120).run()
        assert list(app.selectbox[0].options) == ["field/model.onnx · ONNX Runtime"], app.selectbox[0].options
        app.file_uploader[0].set_value([("ortho.tif", Path({str(ortho)!r}).read_bytes(), "image/tiff")]).run()
        app.button[0].click().run()
        assert not app.exception and not app.error, (app.exception, app.error)
        labels = {{b.label for b in app.get("download_button")}}
        assert {{"ortho_classes.tif", "ortho_classes.geojson"}} <= labels, labels
        assert [layer.kind for layer in geomap.read_map(geomap.list_map_folders()[0]).layers] == ["mosaic"]
        assert not [m for m in sys.modules if m.split(".")[0] == "torch"]
        print("mapped")
        """,
        _env(home),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mapped" in result.stdout
