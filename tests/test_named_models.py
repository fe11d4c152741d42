"""Models by name (services/models.py): `demo` and every run by id or name, for each command that
takes a model, `stormseg models`, and the app's pickers reading the same list."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import write_tiny_checkpoint
from PIL import Image

from seg_core.cli import main
from seg_core.core import paths
from seg_core.runs.registry import RunRegistry
from seg_core.services import catalog
from seg_core.services.models import named_models, resolve_checkpoint, resolve_onnx


def trained_run(registry: RunRegistry, name: str, dice: float | None = None, onnx: bool = False):
    run = registry.create_run({"arch": "unet"}, name=name)
    write_tiny_checkpoint(run.checkpoint_dir / "best.pt")
    if dice is not None:
        registry.set_best(run.id, dice, 1)
    if onnx:
        (run.checkpoint_dir / "model.onnx").write_bytes(b"stand-in: resolution never opens it")
    return run


def test_demo_a_run_id_and_a_run_name_name_their_checkpoints():
    registry = RunRegistry()
    run = trained_run(registry, "harvey-fpn", dice=0.7)
    assert resolve_checkpoint("demo") == paths.DEMO_CHECKPOINT
    assert resolve_checkpoint(run.id) == run.checkpoint_dir / "best.pt"
    assert resolve_checkpoint("harvey-fpn") == run.checkpoint_dir / "best.pt"


def test_a_path_is_taken_as_given_and_wins_over_a_name(tmp_path, monkeypatch):
    trained_run(RunRegistry(), "shadowed")
    monkeypatch.chdir(tmp_path)
    own = write_tiny_checkpoint(tmp_path / "shadowed")
    assert (
        resolve_checkpoint("shadowed").resolve() == own
    )  # a file in the current folder is what the user meant
    assert resolve_checkpoint("missing/best.pt").name == "best.pt"  # the loader names a missing file
    (tmp_path / "demo").mkdir()  # e.g. `demo-data --out demo`: a folder is never a checkpoint
    assert resolve_checkpoint("demo") == paths.DEMO_CHECKPOINT


def test_a_name_two_runs_share_asks_for_an_id():
    registry = RunRegistry()
    first, second = trained_run(registry, "same"), trained_run(registry, "same")
    with pytest.raises(ValueError, match="2 runs have this name") as caught:
        resolve_checkpoint("same")
    assert first.id in str(caught.value) and second.id in str(caught.value)


def test_a_run_without_best_pt_and_a_run_not_exported_say_so():
    registry = RunRegistry()
    onnx_only = registry.create_run({"arch": "unet"}, name="exported-only")
    (onnx_only.checkpoint_dir / "model.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="has no best.pt yet"):
        resolve_checkpoint("exported-only")
    assert resolve_onnx("exported-only") == onnx_only.checkpoint_dir / "model.onnx"
    plain = trained_run(registry, "not-exported")
    with pytest.raises(ValueError, match=f"export --checkpoint {plain.id}"):
        resolve_onnx("not-exported")


def test_listing_never_creates_the_registry(stormseg_home, capsys):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["id"] for m in listed] == ["demo"] and listed[0]["status"] == "shipped"
    assert not (stormseg_home / "runs").exists()


def test_models_lists_demo_then_runs_best_first(capsys):
    registry = RunRegistry()
    low, high = trained_run(registry, "low", 0.4, onnx=True), trained_run(registry, "high", 0.8)
    trained_run(registry, "unscored")
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["name"] for m in listed][1:] == ["high", "low", "unscored"]
    assert listed[1]["id"] == high.id and listed[1]["val_dice"] == 0.8
    assert listed[2]["onnx"] == str(low.checkpoint_dir / "model.onnx")
    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["id", "name", "val_dice", "status"] and table[1].startswith("demo ")
    assert "(+ .onnx)" in table[3]


def test_the_app_pickers_offer_the_models_in_the_same_order():
    registry = RunRegistry()
    trained_run(registry, "a", 0.3)
    trained_run(registry, "b", 0.6)
    picked = [c.path for c in catalog.list_models(registry) if c.path.suffix == ".pt"]
    assert picked == [m.checkpoint for m in named_models(registry)]
    assert catalog.list_models(registry)[0].label == "Demo model (synthetic floods + real ground)"


@pytest.mark.parametrize(
    "command",
    [
        "predict --checkpoint {name} --out {tmp}/out {tmp}/photo.png",
        "predict --model {name} --out {tmp}/out {tmp}/photo.png",
        "evaluate --checkpoint {name} --data {tmp}",
        "map --checkpoint {name} --out {tmp}/out {tmp}/photo.png",
        "buildings --checkpoint {name} --out {tmp}/out {tmp}/photo.png",
        "export --checkpoint {name} --out {tmp}/m.onnx",
        "label prelabel {tmp} --checkpoint {name}",
        "finetune --parent {name} --data {tmp}",
    ],
)
def test_every_model_argument_refuses_an_unknown_name_in_one_sentence(command, tmp_path, capsys):
    trained_run(RunRegistry(), "storm-ian")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photo.png")
    code = main(command.format(name="stormian", tmp=tmp_path).split())
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("error: stormian: no such file, and no model has this name;")
    assert "models that can be named: demo, " in err and "(storm-ian)" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_predict_and_finetune_accept_names(tmp_path, tiny_dataset, capsys):
    registry = RunRegistry()
    parent = trained_run(registry, "tiny")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", "tiny", "--out", str(out), str(tmp_path / "photo.png")]) == 0
    assert (out / "photo_mask.png").is_file()
    finetune = f"finetune --parent {parent.id} --data {tiny_dataset} --epochs 1 --batch-size 2 --crop 32"
    assert main([*finetune.split(), "--name", "child"]) == 0
    child = next(r for r in registry.list() if r.name == "child")
    assert child.config["init_from"] == str(parent.checkpoint_dir / "best.pt")


@pytest.mark.slow
def test_the_shipped_demo_model_segments_by_name(tmp_path):
    photo = paths.SAMPLES_DIR / "flooded_street.jpg"
    assert main(["predict", "--checkpoint", "demo", "--out", str(tmp_path / "out"), str(photo)]) == 0
    mask = np.asarray(Image.open(tmp_path / "out" / "flooded_street_mask.png"))
    assert mask.shape == Image.open(photo).size[::-1] and len(np.unique(mask)) > 1
