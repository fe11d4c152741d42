"""The working GSD a model is trained at: a dataset's gsd.json (or `train --gsd-cm`) x (long side /
resolution), recorded in the checkpoint as `working_gsd_cm`, which `map` then uses (source
"checkpoint" instead of "default"); `demo-data` writes the sidecar from its scenes' ground width."""

from __future__ import annotations

import json

import pytest
from geo_helpers import write_geotiff
from test_train import start_run, tiny_config

from seg_core.cli import main
from seg_core.imagery.gsd import (
    CHECKPOINT_GSD_KEY,
    read_dataset_gsd,
    working_gsd_record,
    write_dataset_gsd,
)
from seg_core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from seg_core.training.config import TrainConfig
from seg_core.training.preflight import check_before_run


def test_the_working_gsd_is_the_source_gsd_shrunk_to_the_resolution_never_enlarged():
    record = working_gsd_record([3.0, 3.0, 2.0], [4000, 4000, 512], 1000, "gsd.json")
    # 3 cm at 4000 px seen at 1000 px: 12 cm; the 512 px photo is not enlarged: 2 cm
    assert record == {
        "median_cm": 12.0,
        "min_cm": 2.0,
        "max_cm": 12.0,
        "images": 3,
        "resolution": 1000,
        "source": "gsd.json",
    }
    with pytest.raises(ValueError, match="one source GSD and one long side per training photo"):
        working_gsd_record([3.0], [], 1000, "x")


def test_the_sidecar_round_trips_and_a_malformed_one_names_the_file(tmp_path):
    write_dataset_gsd(tmp_path, {"a": 2.5, "b": 2.5, "c": 3.1}, "DJI XMP, 60 m")
    sidecar = read_dataset_gsd(tmp_path)
    assert (sidecar.default_cm, sidecar.per_image, sidecar.source) == (2.5, {"c": 3.1}, "DJI XMP, 60 m")
    assert sidecar.for_image("a") == 2.5 and sidecar.for_image("c") == 3.1
    assert read_dataset_gsd(tmp_path / "nowhere") is None
    (tmp_path / "gsd.json").write_text('{"default_cm_per_px": -1}')
    with pytest.raises(
        ValueError, match=r"gsd.json: default_cm_per_px -1 must be a ground sampling distance"
    ):
        read_dataset_gsd(tmp_path)
    (tmp_path / "gsd.json").write_text("{not json")
    with pytest.raises(ValueError, match="gsd.json: cannot read the dataset's GSD file"):
        read_dataset_gsd(tmp_path)
    with pytest.raises(ValueError, match="gsd_cm -2.0 must be 0"):
        TrainConfig(gsd_cm=-2.0)


def test_a_malformed_sidecar_is_refused_before_the_run_exists(tiny_dataset):
    (tiny_dataset / "gsd.json").write_text('{"images": {}}')
    with pytest.raises(ValueError, match='gsd.json: must be a JSON object with "default_cm_per_px"'):
        check_before_run(tiny_config(tiny_dataset))


def test_training_records_the_working_gsd_from_the_sidecar_or_the_flag(tiny_dataset):
    stems = sorted(p.stem for p in (tiny_dataset / "train_images").iterdir())
    write_dataset_gsd(tiny_dataset, {stems[0]: 10.0, **{s: 5.0 for s in stems[1:]}}, "survey report")
    # 48x32 photos at resolution 32: each shrunk 1.5x
    _, run, status = start_run(tiny_config(tiny_dataset, resolution=32, epochs=1))
    assert status == "completed"
    meta = load_checkpoint(run.checkpoint_dir / "best.pt")["meta"]
    assert meta[CHECKPOINT_GSD_KEY] == 7.5
    record = meta["working_gsd"]
    assert record["min_cm"] == 7.5 and record["source"] == "gsd.json: survey report"
    assert record["images"] == 4 and record["max_cm"] in (7.5, 15.0)  # stems[0] may be in validation
    _, run, _ = start_run(tiny_config(tiny_dataset, resolution=32, epochs=1, gsd_cm=2.0))
    meta = load_checkpoint(run.checkpoint_dir / "last.pt")["meta"]
    assert meta[CHECKPOINT_GSD_KEY] == 3.0 and meta["working_gsd"]["source"] == "--gsd-cm 2"


def test_without_a_stated_gsd_no_working_gsd_is_recorded(tiny_dataset):
    _, run, _ = start_run(tiny_config(tiny_dataset, epochs=1))
    assert CHECKPOINT_GSD_KEY not in load_checkpoint(run.checkpoint_dir / "best.pt")["meta"]


def test_a_checkpoint_with_a_nonsense_working_gsd_is_refused(tiny_dataset, tmp_path):
    _, run, _ = start_run(tiny_config(tiny_dataset, epochs=1, gsd_cm=2.0))
    payload = load_checkpoint(run.checkpoint_dir / "best.pt")
    payload["meta"][CHECKPOINT_GSD_KEY] = 0
    save_checkpoint(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="working_gsd_cm 0 is not a positive number"):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.slow
def test_demo_data_states_its_gsd_and_map_then_uses_the_checkpoint_gsd(tmp_path, capsys):
    data = tmp_path / "demo"
    assert main(["demo-data", "--out", str(data), "--n", "4", "--size", "160x120"]) == 0
    sidecar = json.loads((data / "gsd.json").read_text())
    assert sidecar["default_cm_per_px"] == 75.0  # the demo scenes are 120 m across: 12000 cm / 160 px
    _, run, status = start_run(tiny_config(data, resolution=80, epochs=1, val_ratio=0.25))
    assert status == "completed"
    checkpoint = run.checkpoint_dir / "best.pt"
    assert load_checkpoint(checkpoint)["meta"][CHECKPOINT_GSD_KEY] == 150.0  # 160 px seen at 80 px
    ortho = write_geotiff(tmp_path / "ortho.tif", width=64, height=48, pixel=1.0)
    out = tmp_path / "map"
    assert main(["map", "--checkpoint", str(checkpoint), "--out", str(out), "--no-vectors", str(ortho)]) == 0
    summary = json.loads((out / "ortho_summary.json").read_text())
    assert summary["model_gsd"].startswith("150.00 cm/px (checkpoint")


def test_demo_data_mix_of_styles_states_each_photos_own_gsd(tmp_path):
    """Styles are flown at different heights: scene i of a mix is drawn in style i mod n, and the
    sidecar gives each photo its own style's ground width (forest 180 m, coastal 100 m)."""
    data = tmp_path / "mix"
    assert (
        main(["demo-data", "--out", str(data), "--n", "2", "--size", "160x120", "--style", "forest,coastal"])
        == 0
    )
    sidecar = json.loads((data / "gsd.json").read_text())
    per_image = sidecar["images"]
    assert per_image["synth_0000"] == pytest.approx(18000 / 160)  # forest: 180 m across 160 px
    assert per_image["synth_0001"] == pytest.approx(10000 / 160)  # coastal: 100 m
