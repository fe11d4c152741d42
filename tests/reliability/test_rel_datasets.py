"""Hostile datasets: links that leave the dataset (file, mask, folder, loop, dangling), ambiguous masks,
labels out of range in every mask encoding, cut-off files, missing folders, dataset names that try to
leave the data root; training and evaluation refuse zero usable pairs with a sentence, and a training
run writes nothing outside its own folders.

Complements tests/test_data.py (one fault of each kind, an image linked outside the root, the validate
CLI on an empty dataset) and tests/test_train.py (fit on empty folders) without repeating them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import make_pair, make_pairs
from hostile import save_tiny_checkpoint, truncated
from PIL import Image

import seg_core.datasets.discovery
from seg_core.cli import main
from seg_core.core import paths
from seg_core.datasets.discovery import validate_dataset
from seg_core.runs.registry import RunRegistry
from seg_core.services import catalog


def problems_by_file(report) -> dict[str, tuple[str, str]]:
    """'folder/file' -> (kind, message) of every problem in a validation report."""
    return {f"{Path(p.path).parent.name}/{Path(p.path).name}": (p.kind, p.message) for p in report.problems}


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder next to the dataset holding a photo/mask pair and a folder of photos."""
    folder = tmp_path / "outside"
    make_pair(folder, "secret", seed=9)
    return folder


@pytest.fixture
def opened(monkeypatch) -> list[Path]:
    """Every file validation opens as an image or a mask."""
    paths_opened: list[Path] = []
    real_open, real_mask = seg_core.datasets.discovery.open_checked, seg_core.datasets.discovery.load_mask

    def open_checked(path, *args, **kwargs):
        paths_opened.append(Path(path))
        return real_open(path, *args, **kwargs)

    def load_mask(path, *args, **kwargs):
        paths_opened.append(Path(path))
        return real_mask(path, *args, **kwargs)

    monkeypatch.setattr(seg_core.datasets.discovery, "open_checked", open_checked)
    monkeypatch.setattr(seg_core.datasets.discovery, "load_mask", load_mask)
    return paths_opened


def test_links_leaving_the_dataset_are_named_and_never_opened(tmp_path, outside, opened):
    root = tmp_path / "linked"
    make_pair(root, "good", seed=1)
    make_pair(root, "inner", seed=2)
    images, masks = root / "train_images", root / "train_masks"
    (masks / "inner.png").unlink()
    os.symlink(outside / "train_masks" / "secret.png", masks / "inner.png")  # a mask linked outside
    os.symlink(outside / "train_images", images / "folder")  # a folder linked outside
    os.symlink(images / "loop.png", images / "loop.png")  # a link to itself
    os.symlink(tmp_path / "gone.png", images / "dangling.png")  # a link to nothing (outside)
    os.symlink(images / "good.png", images / "alias.png")  # a link inside the dataset: allowed
    os.symlink(masks / "good.png", masks / "alias.png")

    report = validate_dataset(root)
    assert sorted(p.stem for p in report.pairs) == ["alias", "good"]
    found = problems_by_file(report)
    assert found["train_masks/inner.png"] == (
        "outside_root",
        f"{masks / 'inner.png'}: links outside the dataset folder; skipped",
    )
    assert found["train_images/folder"][0] == "outside_root"
    loop = f"{images / 'loop.png'}: a symbolic link that loops; skipped"
    assert found["train_images/loop.png"] == ("unreadable", loop)
    assert found["train_images/dangling.png"][0] == "outside_root"
    # The image whose mask was refused is named too, as an image without a usable mask.
    assert found["train_images/inner.png"][0] == "missing_mask"
    assert len(report.problems) == 5
    assert opened and all(p.resolve().is_relative_to(root) for p in opened)


def test_a_linked_image_folder_yields_no_pairs_and_every_file_is_named(tmp_path, outside):
    root = tmp_path / "folder_link"
    (root / "train_masks").mkdir(parents=True)
    os.symlink(outside / "train_images", root / "train_images")
    Image.new("L", (48, 32)).save(root / "train_masks" / "secret.png")
    report = validate_dataset(root)
    assert report.pairs == [] and not report.usable
    assert set(problems_by_file(report)) == {
        "train_images/secret.png",
        "folder_link/train_images",
        "train_masks/secret.png",
    }
    assert sorted(p.kind for p in report.problems) == ["empty", "orphan_mask", "outside_root"]


def test_a_dataset_reached_through_a_link_validates_from_its_real_folder(tmp_path):
    make_pair(tmp_path / "real", "a")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    report = validate_dataset(tmp_path / "alias")
    assert report.root == tmp_path / "real" and [p.stem for p in report.pairs] == ["a"]


def test_two_masks_for_one_image_are_both_named_and_skipped(tmp_path):
    root = tmp_path / "ambiguous"
    make_pair(root, "a", seed=1)
    make_pair(root, "b", seed=2)
    masks = root / "train_masks"
    Image.new("L", (48, 32)).save(masks / "a_mask.png")  # which one is a.png's mask?
    Image.new("L", (48, 32)).save(masks / "a_label.png")
    report = validate_dataset(root)
    assert [p.stem for p in report.pairs] == ["b"]
    duplicates = [p for p in report.problems if p.kind == "duplicate_stem"]
    assert len(duplicates) == 2 and len(report.problems) == 2  # not also "image has no mask"
    named = " ".join(p.message for p in duplicates)
    assert all(name in named for name in ("a.png", "a_mask.png", "a_label.png"))


def test_a_photo_whose_name_ends_like_a_mask_suffix_still_pairs(tmp_path):
    root = tmp_path / "suffixes"
    make_pair(root, "roof_mask")  # train_images/roof_mask.png + train_masks/roof_mask.png
    make_pair(root, "porch")
    (root / "train_masks" / "porch.png").rename(root / "train_masks" / "porch_lab.png")
    report = validate_dataset(root)
    assert sorted((p.stem, p.mask.name) for p in report.pairs) == [
        ("porch", "porch_lab.png"),
        ("roof_mask", "roof_mask.png"),
    ]
    assert report.problems == []


def test_labels_out_of_range_are_named_in_every_mask_encoding(tmp_path):
    root = tmp_path / "labels"
    for stem in ("palette", "sixteen", "ignore255", "rgb", "good"):
        make_pair(root, stem)
    masks = root / "train_masks"
    palette = Image.fromarray(np.full((32, 48), 30, np.uint8), "L").convert("P")
    palette.save(masks / "palette.png")  # palette index 30: not a class
    Image.fromarray(np.full((32, 48), 300, np.uint16)).save(masks / "sixteen.png")  # above 255
    Image.fromarray(np.full((32, 48), 255, np.uint8)).save(masks / "ignore255.png")  # all unlabelled
    Image.new("RGB", (48, 32), (3, 3, 3)).save(masks / "rgb.png")  # a colour mask, not class ids
    report = validate_dataset(root)
    assert [p.stem for p in report.pairs] == ["good"]
    found = problems_by_file(report)
    palette, ignore = found["train_masks/palette.png"], found["train_masks/ignore255.png"]
    assert palette[0] == "bad_labels" and "label values 30 are outside harvey's ids 0..24" in palette[1]
    assert ignore[0] == "unlabelled" and "no pixel is labelled (every value is 255" in ignore[1]
    sixteen, rgb = found["train_masks/sixteen.png"], found["train_masks/rgb.png"]
    assert sixteen[0] == "unreadable" and "mask values reach 300" in sixteen[1]
    assert rgb[0] == "unreadable" and "single-channel" in rgb[1]


def test_cut_off_photos_and_masks_are_named_not_a_crash(tmp_path):
    """Before the fix a cut-off PNG photo made validate_dataset itself raise OSError."""
    root = tmp_path / "cut"
    for stem in ("png_photo", "tif_photo", "png_mask", "good"):
        make_pair(root, stem, size=(96, 64))
    (root / "train_images" / "png_photo.png").write_bytes(truncated("PNG", 0.5))
    (root / "train_images" / "tif_photo.png").unlink()
    (root / "train_images" / "tif_photo.tif").write_bytes(truncated("TIFF", 0.5))
    mask = root / "train_masks" / "png_mask.png"
    mask.write_bytes(mask.read_bytes()[: mask.stat().st_size // 2])
    report = validate_dataset(root)
    assert [p.stem for p in report.pairs] == ["good"]
    found = problems_by_file(report)
    photo = found["train_images/png_photo.png"]
    assert photo[0] == "damaged" and "png_photo.png: the file is damaged" in photo[1]
    assert found["train_images/tif_photo.tif"][0] == "damaged"
    assert "png_mask.png: the file is damaged" in found["train_masks/png_mask.png"][1]


def test_a_missing_mask_folder_names_every_image(tmp_path):
    root = tmp_path / "no_masks"
    for i in range(3):
        make_pair(root, f"p{i}")
    for mask in (root / "train_masks").iterdir():
        mask.unlink()
    (root / "train_masks").rmdir()
    report = validate_dataset(root)
    assert report.pairs == []
    assert sorted(problems_by_file(report)) == [
        "train_images/p0.png",
        "train_images/p1.png",
        "train_images/p2.png",
    ]
    assert {p.kind for p in report.problems} == {"missing_mask"}


@pytest.mark.parametrize("name", ["..", "../data", "/etc", "a/b", ".hidden", "", "linked_out", "missing"])
def test_dataset_names_cannot_leave_the_data_root(stormseg_home, tmp_path, name):
    root = paths.data_root()
    make_pair(root / "real", "a")
    (root / ".hidden").mkdir()
    make_pair(tmp_path / "elsewhere", "b")
    os.symlink(tmp_path / "elsewhere", root / "linked_out")
    assert catalog.resolve_dataset("real") == root / "real"
    with pytest.raises(ValueError, match=r"dataset name|no dataset folder"):
        catalog.resolve_dataset(name)


# --- zero usable pairs ----------------------------------------------------------------------------


@pytest.fixture
def all_bad(tmp_path) -> Path:
    """A dataset in which every file is unusable, one way each."""
    root = tmp_path / "all_bad"
    for stem in ("html", "cut", "labels", "size", "nomask"):
        make_pair(root, stem)
    images, masks = root / "train_images", root / "train_masks"
    (images / "html.png").write_bytes(b"<html>404</html>")
    (images / "cut.png").write_bytes(truncated("PNG", 0.5))
    Image.fromarray(np.full((32, 48), 77, np.uint8)).save(masks / "labels.png")
    Image.new("L", (5, 5)).save(masks / "size.png")
    (masks / "nomask.png").unlink()
    return root


def cli(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "seg_core", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


TINY_TRAINING = [
    "--arch",
    "unet",
    "--unet-base-width",
    "4",
    "--crop",
    "32",
    "--resolution",
    "48",
    "--batch-size",
    "2",
    "--val-ratio",
    "0.34",
    "--warmup-epochs",
    "0",
    "--early-stop-patience",
    "0",
    "--epochs",
    "1",
    "--device",
    "cpu",
]


def test_training_refuses_zero_usable_pairs_with_a_sentence(all_bad, tmp_path, stormseg_home):
    result = cli("train", "--data", str(all_bad), *TINY_TRAINING, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr  # bad input, refused up front
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and "no usable image/mask pairs" in error[0]
    assert f"python -m seg_core validate {all_bad}" in error[0] and "Traceback" not in result.stderr
    assert RunRegistry().list() == []  # no run is created for a dataset that cannot train
    assert list(stormseg_home.rglob("*.pt")) == []  # nothing was trained, nothing saved


def test_evaluation_refuses_zero_usable_pairs_with_a_sentence(all_bad, tmp_path, capsys):
    checkpoint = save_tiny_checkpoint(tmp_path / "model.pt")
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--data", str(all_bad)]) == 2
    assert f"error: {all_bad}: no usable image/mask pairs to evaluate on" in capsys.readouterr().err


def tree(root: Path) -> dict[str, tuple]:
    """Every file and link under root: path -> (size, mtime, link target)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        target = os.readlink(path) if path.is_symlink() else None
        entries[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns, target)
    return entries


def test_a_training_run_writes_only_into_its_own_folders(tmp_path, stormseg_home, outside):
    """A tiny run on a dataset with hostile files in it (a link leaving it, a bad mask): the dataset,
    the linked-to folder and the working directory are byte-for-byte as before; in the StormSeg home
    only the registry, the run's log, its checkpoint folder and the decoded-image cache changed."""
    data = tmp_path / "data_root" / "dataset"
    make_pairs(data, 4)
    os.symlink(outside / "train_images" / "secret.png", data / "train_images" / "escape.png")
    Image.fromarray(np.full((32, 48), 40, np.uint8)).save(data / "train_masks" / "img3.png")
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    watched = {"data root": tmp_path / "data_root", "outside": outside, "workdir": workdir}
    before = {name: tree(folder) for name, folder in watched.items()}
    home_before = tree(stormseg_home)

    result = cli("train", "--data", str(data), *TINY_TRAINING, cwd=workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_id = result.stdout.splitlines()[0].split()[-1]
    assert "2 file(s) skipped by validation" in result.stdout  # the link and the bad mask

    for name, folder in watched.items():
        assert tree(folder) == before[name], name
    changed = {path for path, entry in tree(stormseg_home).items() if home_before.get(path) != entry}
    allowed = ("runs", "checkpoints", f"checkpoints/{run_id}", ".cache")
    outside_allowed = [
        p for p in changed if not (p in allowed or p.startswith(tuple(a + "/" for a in allowed)))
    ]
    assert changed and outside_allowed == [], outside_allowed
    assert not [
        p for p in changed if p.startswith("checkpoints/") and not p.startswith(f"checkpoints/{run_id}")
    ]
    assert f"checkpoints/{run_id}/best.pt" in changed
    record = RunRegistry().get(run_id)
    assert record.status == "completed" and json.loads(json.dumps(record.config))["data"] == str(data)
