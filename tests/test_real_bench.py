"""The real-photo benchmark (bench/real/): the committed manifest's format, and the assembly,
checksums and task API on a tiny synthetic stand-in for a source snapshot (no real data needed)."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seg_core.datasets.discovery import validate_dataset
from seg_core.datasets.partial import read_partial_labels

BENCH = Path(__file__).resolve().parent.parent / "bench" / "real"


def _module(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def assemble():
    return _module("assemble")


@pytest.fixture(scope="module")
def tasks_api():
    return _module("tasks")


def test_the_committed_manifest_records_sources_licences_checksums_and_the_split(assemble):
    manifest = assemble.load_manifest(BENCH / "manifest.json")
    assert set(manifest["groups"]) == {"selection", "report"}
    for name, source in manifest["sources"].items():
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), name
        assert source["licence"] and isinstance(source["ship_weights"], bool)
        assert len(source["files"]) >= 100
        assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for sha in source["files"].values())
    assert manifest["sources"]["dubai"]["ship_weights"] and "CC0" in manifest["sources"]["dubai"]["licence"]
    assert not manifest["sources"]["cil_roads"]["ship_weights"]
    groups = {t["group"] for t in manifest["tasks"]}
    assert groups == {"selection", "report"}
    for task in manifest["tasks"]:
        stems = {Path(p).stem for p in manifest["sources"][task["source"]]["files"]}
        assert set(task["pool"] + task["test"]) <= stems, task["name"]
        assert not set(task["pool"]) & set(task["test"]), task["name"]
    # A model shipped with the app trains only on photos of the selection group.
    for dense in manifest["dense"]:
        assert dense["group"] == "selection" and manifest["sources"][dense["source"]]["ship_weights"]
        report = {s for t in manifest["tasks"] if t["group"] == "report" for s in t["pool"] + t["test"]}
        assert not set(dense["photos"]) & report


def test_a_photo_in_both_groups_is_refused(assemble, tmp_path):
    manifest = json.loads((BENCH / "manifest.json").read_text())
    leak = copy.deepcopy(manifest["tasks"][-1])
    leak.update(name="leak", group="selection")
    manifest["tasks"].append(leak)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="both the .* group"):
        assemble.load_manifest(path)


COLOURS = {"building": [200, 0, 0], "water": [0, 0, 200], "land": [100, 100, 100], "unlabelled": [7, 7, 7]}


def _stand_in(mirror: Path) -> str:
    """A git repository with 3 photos (40x20 px) and palette masks; returns its commit."""
    repo = mirror / "someone+aerial" / "repo"
    (repo / "data" / "img").mkdir(parents=True)
    (repo / "data" / "lab").mkdir(parents=True)
    for i in range(3):
        image = np.full((20, 40, 3), 30 * i, np.uint8)
        mask = np.zeros((20, 40, 3), np.uint8)
        mask[:] = COLOURS["land"]
        mask[:, :10] = COLOURS["building"]
        mask[:5, 30:] = COLOURS["water"]
        mask[-2:, :] = COLOURS["unlabelled"]
        Image.fromarray(image).save(repo / "data" / "img" / f"p{i}.png")
        Image.fromarray(mask).save(repo / "data" / "lab" / f"p{i}.png")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def stand_in(tmp_path, assemble):
    mirror = tmp_path / "mirror"
    commit = _stand_in(mirror)
    manifest = {
        "format": 1,
        "tile_px": 20,
        "groups": {"selection": "", "report": ""},
        "sources": {
            "aerial": {
                "repo": "someone/aerial",
                "commit": commit,
                "licence": "CC0-1.0",
                "ship_weights": True,
                "images": "data/img/",
                "masks": "data/lab/",
                "mask_kind": "palette_rgb",
                "classes": COLOURS,
                "unlabelled": ["unlabelled"],
                "files": {},
            }
        },
        "tasks": [
            {
                "name": "roof-s",
                "group": "selection",
                "source": "aerial",
                "class": "building",
                "harvey": ["Property Roof"],
                "pool": ["p0"],
                "test": ["p1"],
            },
            {
                "name": "water-r",
                "group": "report",
                "source": "aerial",
                "class": "water",
                "harvey": ["Water Body"],
                "pool": ["p2"],
                "test": [],
            },
        ],
        "dense": [
            {
                "name": "aerial-selection",
                "source": "aerial",
                "group": "selection",
                "photos": ["p0"],
                "mapping": {
                    "building": "Property Roof",
                    "water": "Water Body",
                    "land": ["Grass", "Trees/Shrubs"],  # a class Harvey splits: "one of" them
                    "unlabelled": None,
                },
            }
        ],
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    assemble.record(path, mirror)
    return path, mirror


def test_recording_checksums_lists_every_source_file(stand_in, assemble):
    path, _ = stand_in
    files = json.loads(path.read_text())["sources"]["aerial"]["files"]
    assert sorted(files) == [f"data/{d}/p{i}.png" for d in ("img", "lab") for i in range(3)]


def test_assembly_cuts_tiles_and_maps_the_labelled_class_to_harvey(stand_in, assemble, tmp_path):
    path, mirror = stand_in
    out = tmp_path / "real"
    result = assemble.assemble(assemble.load_manifest(path), mirror, out, log=lambda _m: None)
    assert result == {"built": ["roof-s", "water-r", "aerial-selection"], "missing": []}
    pool = sorted(p.name for p in (out / "tasks" / "roof-s" / "pool" / "images").iterdir())
    assert pool == ["p0_r0c0.png", "p0_r0c1.png"]  # 40x20 -> two 20x20 tiles, no resampling
    left = np.asarray(Image.open(out / "tasks" / "roof-s" / "pool" / "masks" / "p0_r0c0.png"))
    assert left.shape == (20, 20)
    assert (left[:18, :10] == 1).all() and (left[:18, 10:] == 0).all()  # building -> Property Roof
    assert (left[-2:] == 255).all()  # the source's unlabelled pixels are never background
    task = json.loads((out / "tasks" / "roof-s" / "task.json").read_text())
    assert task["order"][0] == "p0_r0c0"  # the tile that shows the class is labelled first
    dense = np.asarray(Image.open(out / "dense" / "aerial-selection" / "masks" / "p0_r0c1.png"))
    assert (dense[:5, 10:] == 22).all()  # water -> Water Body
    labels = read_partial_labels(out / "dense" / "aerial-selection")
    (code,) = labels.not_codes
    assert labels.allowed(code) == (5, 6)  # Grass or Trees/Shrubs, nothing else
    assert (dense[5:18, :10] == code).all()  # land -> "one of Grass, Trees/Shrubs"
    assert (dense[-2:] == 255).all()  # the source's unlabelled pixels stay unknown
    report = validate_dataset(out / "dense" / "aerial-selection")  # a valid partial-label dataset
    assert not report.problems and len(report.pairs) == 2


def test_a_changed_file_stops_the_assembly(stand_in, assemble, tmp_path):
    path, mirror = stand_in
    manifest = assemble.load_manifest(path)
    manifest["sources"]["aerial"]["files"]["data/img/p1.png"] = "0" * 64
    with pytest.raises(assemble.ChecksumMismatch, match="p1.png"):
        assemble.assemble(manifest, mirror, tmp_path / "real", log=lambda _m: None)
    assert not (tmp_path / "real" / "tasks").exists()  # verified before anything is written


def test_a_missing_snapshot_is_named_with_how_to_fetch_it(stand_in, assemble, tmp_path, capsys):
    path, _ = stand_in
    code = assemble.main(
        ["--manifest", str(path), "--mirror", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "source(s) missing" in err
    result = assemble.assemble(
        assemble.load_manifest(path), tmp_path / "empty", tmp_path / "o", log=lambda _m: None
    )
    assert result["built"] == [] and "fetch github:someone/aerial" in result["missing"][0]


def test_the_task_api_gives_subsets_and_counts_the_task_class(stand_in, assemble, tasks_api, tmp_path):
    path, mirror = stand_in
    out = tmp_path / "real"
    assemble.assemble(assemble.load_manifest(path), mirror, out, log=lambda _m: None)
    (roof,) = tasks_api.load_tasks(group="selection", root=out)
    assert (roof.name, roof.class_ids, len(roof.test_photos())) == ("roof-s", (1,), 2)
    subset = tasks_api.labelled_subset(roof, 1, tmp_path / "one")
    assert [p.name for p in (subset / "masks").iterdir()] == ["p0_r0c0.png"]
    with pytest.raises(ValueError, match="pool has 2"):
        tasks_api.labelled_subset(roof, 3, tmp_path / "three")
    with pytest.raises(FileNotFoundError, match="assemble"):
        tasks_api.load_tasks(root=tmp_path / "nothing")
    truth = np.array([[1, 1, 0, 255]], np.uint8)
    guess = np.array([[1, 6, 1, 1]], np.uint8)
    assert tasks_api.class_counts(guess, truth, (1,), 1) == (1, 3)
    assert tasks_api.class_counts(guess, truth, (1, 6), 1) == (2, 3)  # several Harvey classes count


def test_masks_with_unlabelled_pixels_are_valid_training_pairs(tmp_path):
    from seg_core.datasets.discovery import validate_dataset

    for kind in ("images", "masks"):
        (tmp_path / kind).mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    mask = np.full((8, 8), 255, np.uint8)
    mask[:4] = 14
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    report = validate_dataset(tmp_path)
    assert [p.stem for p in report.pairs] == ["a"] and not report.problems
    mask[0, 0] = 99
    Image.fromarray(mask).save(tmp_path / "masks" / "a.png")
    assert "99" in validate_dataset(tmp_path).problems[0].message
