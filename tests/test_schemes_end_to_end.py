"""A RescueNet dataset as distributed, through the CLI: train (tiny), predict, evaluate, export to
ONNX, each in RescueNet's own classes and colours; a Harvey parent fine-tuned onto it needs a new
head; Harvey checkpoints without a scheme give the masks they always gave."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_tiny_checkpoint
from PIL import Image

from seg_core.cli import main
from seg_core.core import paths
from seg_core.demo.synth import write_demo_dataset
from seg_core.inference.onnx_predictor import OnnxPredictor
from seg_core.inference.predictor import Predictor
from seg_core.models.checkpoint import load_checkpoint, save_checkpoint
from seg_core.runs.registry import RunRegistry
from seg_core.schemes.scheme import HARVEY, RESCUENET

TINY = ["--arch", "unet", "--encoder", "none", "--weights", "none", "--unet-base-width", "4"]
TINY += ["--resolution", "64", "--crop", "0", "--batch-size", "2", "--loss", "ce", "--epochs", "2"]


@pytest.fixture(scope="module")
def rescuenet(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "rescuenet"
    write_demo_dataset(root, n=6, n_test=1, size=(128, 96), seed=5, scheme="rescuenet")
    return root


def _trained(capsys, data: Path, *extra: str) -> Path:
    assert main(["train", "--data", str(data), *TINY, "--val-ratio", "0.34", *extra]) == 0
    out = capsys.readouterr().out
    folder = Path(next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("checkpoints ")))
    return folder / "best.pt"


@pytest.mark.slow
def test_a_rescuenet_dataset_trains_predicts_evaluates_and_exports_in_its_own_classes(
    rescuenet, tmp_path, capsys
):
    best = _trained(capsys, rescuenet)
    meta = load_checkpoint(best)["meta"]
    assert meta["num_classes"] == 11 and meta["class_names"] == list(RESCUENET.names)
    assert meta["scheme"] == RESCUENET.to_dict()
    predictor = Predictor.from_checkpoint(best, device="cpu")
    assert predictor.scheme is RESCUENET

    out = tmp_path / "predicted"
    photo = rescuenet / "test" / "test-org-img" / "synth_0006.jpg"
    assert main(["predict", "--checkpoint", str(best), "--out", str(out), "--gsd", "90", str(photo)]) == 0
    printed = capsys.readouterr().out
    assert "label scheme: rescuenet" in printed and "buildings by damage: No damage" in printed
    stats = json.loads((out / "synth_0006_stats.json").read_text())
    assert stats["scheme"] == "rescuenet" and list(stats["pixel_share"]) == list(RESCUENET.names)
    assert stats["flood"]["flooded_share"] is None and "rescuenet marks no flood water" in stats["notes"][0]
    assert set(stats["buildings_by_damage"]) == {"No damage", "Minor", "Major", "Destroyed"}
    header = next(csv.reader((out / "stats.csv").open()))
    assert "share_building_total_destruction" in header and "buildings_destroyed" in header
    with Image.open(out / "synth_0006_mask.png") as png:  # its palette is RescueNet's
        assert png.getpalette()[3 * 5 : 3 * 6] == [255, 0, 0] and png.getpalette()[3 * 9 : 3 * 10] == [
            4,
            250,
            7,
        ]

    assert main(["evaluate", "--checkpoint", str(best), "--data", str(rescuenet / "test"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scheme"] == "rescuenet" and [r["name"] for r in result["per_class"]] == list(
        RESCUENET.names
    )

    onnx = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(best), "--out", str(onnx)]) == 0
    capsys.readouterr()
    exported = OnnxPredictor.from_file(onnx)
    assert exported.scheme == RESCUENET and exported.meta["class_colours"][5] == "#ff0000"
    same = exported.predict(photo)
    assert np.mean(same == predictor.predict(photo)) > 0.999


@pytest.mark.slow
def test_a_harvey_parent_fine_tuned_on_rescuenet_needs_a_new_head_and_records_both_schemes(
    rescuenet, tmp_path, capsys
):
    parent = write_tiny_checkpoint(tmp_path / "harvey.pt")  # a Harvey model without a recorded scheme
    assert (
        main(["finetune", "--parent", str(parent), "--data", str(rescuenet), "--epochs", "1", "--crop", "64"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "predicts harvey (25 classes) but the dataset's masks are rescuenet" in err
    )
    assert RunRegistry().list() == []  # refused before a run exists

    args = ["finetune", "--parent", str(parent), "--data", str(rescuenet), "--epochs", "1", "--crop", "64"]
    assert main([*args, "--new-head", "roles"]) == 0
    out = capsys.readouterr().out
    folder = Path(next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("checkpoints ")))
    meta = load_checkpoint(folder / "last.pt")["meta"]
    assert meta["scheme"]["name"] == "rescuenet" and meta["config"]["parent_scheme"] == "harvey"
    assert meta["config"]["new_head"] == "roles" and meta["num_classes"] == 11


def _mask_digest(predictor: Predictor, image: np.ndarray) -> str:
    return hashlib.sha256(predictor.predict(image).tobytes()).hexdigest()


def test_a_checkpoint_without_a_scheme_is_harvey_and_gives_the_masks_it_always_gave(tmp_path):
    old = write_tiny_checkpoint(tmp_path / "old.pt")
    payload = load_checkpoint(old)
    assert "scheme" not in payload["meta"]
    recorded = save_checkpoint(
        {"state_dict": payload["state_dict"], "meta": {**payload["meta"], "scheme": HARVEY.to_dict()}},
        tmp_path / "new.pt",
    )
    image = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    before, after = (
        Predictor.from_checkpoint(old, device="cpu"),
        Predictor.from_checkpoint(recorded, device="cpu"),
    )
    assert before.scheme is HARVEY and after.scheme is HARVEY
    assert _mask_digest(before, image) == _mask_digest(after, image)


def test_the_shipped_demo_model_is_harvey_and_so_is_a_checkpoint_from_before_schemes(tmp_path):
    payload = load_checkpoint(paths.DEMO_CHECKPOINT)
    assert payload["meta"]["scheme"]["name"] == "harvey" and payload["meta"]["num_classes"] == 25
    assert Predictor.from_checkpoint(paths.DEMO_CHECKPOINT, device="cpu").scheme is HARVEY
    del payload["meta"]["scheme"]  # as the demo model before 2026-12-06 was written
    old = save_checkpoint(payload, tmp_path / "before-schemes.pt")
    assert Predictor.from_checkpoint(old, device="cpu").scheme is HARVEY


def test_a_checkpoint_with_eleven_outputs_and_a_rescuenet_scheme_loads(tmp_path):
    from seg_core.models import ModelSpec, create_model

    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4, num_classes=11), False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "num_classes": 11,
        "class_names": list(RESCUENET.names),
        "scheme": RESCUENET.to_dict(),
        "resolution": 64,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "unet_base_width": 4,
    }
    path = save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, tmp_path / "r.pt")
    predictor = Predictor.from_checkpoint(path, device="cpu")
    mask = predictor.predict(np.zeros((50, 70, 3), np.uint8))
    assert predictor.scheme is RESCUENET and mask.shape == (50, 70) and mask.max() < 11
