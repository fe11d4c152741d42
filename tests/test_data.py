import json
import os

import numpy as np
import pytest
from helpers import make_pair
from PIL import Image

from seg_core.cli import main
from seg_core.datasets.discovery import split_pairs, validate_dataset


@pytest.fixture
def faulty_dataset(tmp_path):
    """Two good pairs and one of each fault."""
    root = tmp_path / "faulty"
    make_pair(root, "good1", seed=1)
    make_pair(root, "good2", seed=2, image_suffix=".jpg")
    make_pair(root, "nomask")
    (root / "train_masks" / "nomask.png").unlink()  # missing mask
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / "train_masks" / "orphan.png")  # orphan mask
    image, _ = make_pair(root, "cut", image_suffix=".jpg")
    image.write_bytes(image.read_bytes()[:-400])  # truncated
    (root / "train_images" / "junk.png").write_bytes(b"<html>not an image</html>")  # unreadable
    Image.fromarray(np.zeros((32, 48), np.uint8)).save(root / "train_masks" / "junk.png")
    make_pair(root, "small", size=(48, 32))
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "train_masks" / "small.png")  # size mismatch
    make_pair(root, "badlab")
    Image.fromarray(np.full((32, 48), 99, np.uint8)).save(root / "train_masks" / "badlab.png")  # labels > 24
    (root / "train_images" / "notes.txt").write_text("flight log")  # not an image
    make_pair(root, "dup")
    Image.new("RGB", (48, 32)).save(root / "train_images" / "dup.jpg")  # duplicate stem
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (48, 32)).save(outside)
    os.symlink(outside, root / "train_images" / "escape.png")  # leaves the root
    (root / "test_images").mkdir()
    Image.new("RGB", (48, 32)).save(root / "test_images" / "t1.png")
    return root


def test_validation_names_every_fault_and_keeps_good_pairs(faulty_dataset):
    report = validate_dataset(faulty_dataset)
    assert sorted(p.stem for p in report.pairs) == ["good1", "good2"]
    kinds = {p.kind: p for p in report.problems}
    expected = {
        "missing_mask": "nomask",
        "orphan_mask": "orphan",
        "damaged": "cut",
        "unreadable": "junk",
        "size_mismatch": "small",
        "bad_labels": "badlab",
        "not_an_image": "notes.txt",
        "duplicate_stem": "dup",
        "outside_root": "escape",
    }
    for kind, name in expected.items():
        assert kind in kinds, kind
        assert name in kinds[kind].message, (kind, kinds[kind].message)
    assert "99" in kinds["bad_labels"].message
    assert len(report.test_images) == 1
    assert sum(report.class_pixel_counts) == 2 * 48 * 32
    assert report.image_sizes == {"48x32": 2}


def test_validate_cli_json_and_exit_codes(faulty_dataset, tmp_path, capsys):
    assert main(["validate", str(faulty_dataset), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["usable_pairs"] == 2 and payload["test_images"] == 1
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    (empty / "masks").mkdir()
    assert main(["validate", str(empty)]) == 2
    assert "no images found" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "nowhere")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_generic_layout_and_mask_suffixes(tmp_path):
    root = tmp_path / "generic"
    make_pair(root, "a", layout="generic")
    image, mask = make_pair(root, "b", layout="generic")
    mask.rename(mask.with_name("b_mask.png"))
    report = validate_dataset(root)
    assert report.layout == "generic"
    assert [p.stem for p in report.pairs] == ["a", "b"]
    with pytest.raises(ValueError, match="no dataset found"):
        validate_dataset(tmp_path)


def test_split_is_seeded_reproducible_and_disjoint(tiny_dataset):
    pairs = validate_dataset(tiny_dataset).pairs
    train, val = split_pairs(pairs, 0.34, seed=3)
    assert (train, val) == split_pairs(list(reversed(pairs)), 0.34, seed=3)
    assert len(val) == 2 and len(train) == 4
    assert not {p.stem for p in train} & {p.stem for p in val}
    assert len(split_pairs(pairs[:2], 0.15)[1]) == 1  # never an empty val set with two pairs
    with pytest.raises(ValueError, match="val ratio"):
        split_pairs(pairs, 1.0)


def test_validate_reads_photo_headers_only_and_decodes_each_mask_once(tmp_path, monkeypatch):
    """What keeps a 261-photo, 12-megapixel set well under a minute: no TIFF or JPEG photo is
    decoded, and each mask is decoded exactly once."""
    from PIL import ImageFile

    root = tmp_path / "headers"
    for i, suffix in enumerate([".tif", ".jpg", ".tif", ".jpeg"]):
        make_pair(root, f"p{i}", size=(64, 48), seed=i, image_suffix=suffix)
    decoded = []
    real_load = ImageFile.ImageFile.load

    def counting_load(image):
        if image.tile:  # pixels still to decode (a second load() of a decoded image is free)
            decoded.append(os.path.basename(image.filename))
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    report = validate_dataset(root)
    assert len(report.pairs) == 4 and not report.problems
    assert sorted(decoded) == ["p0.png", "p1.png", "p2.png", "p3.png"]  # the masks, once each


def test_default_split_is_the_studys_and_rebuilds_from_a_saved_run_config(tmp_path):
    from seg_core.training.config import TrainConfig

    root = tmp_path / "forty"
    for i in range(40):
        make_pair(root, f"img{i:02d}", size=(8, 8), seed=i)
    pairs = validate_dataset(root).pairs
    cfg = TrainConfig(data=str(root))
    assert (cfg.val_ratio, cfg.seed) == (0.15, 0)
    train, val = split_pairs(pairs)
    assert len(val) == 6 and len(train) == 34  # round(40 * 0.15)
    saved = json.loads(json.dumps(cfg.to_dict()))  # as stored in the run record and checkpoint
    again = TrainConfig.from_dict(saved)
    assert split_pairs(pairs, again.val_ratio, again.seed) == (train, val)
    assert split_pairs(pairs, again.val_ratio, again.seed + 1) != (train, val)
