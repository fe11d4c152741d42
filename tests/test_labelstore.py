"""Label store: status per photo, atomic saves at original size, drafts, and caught conflicts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

from seg_core.imagery.imageio import load_mask
from seg_core.labelling.labelstore import NO_VERSION, ConflictError, LabelStore, create_dataset


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "storm"
    (root / "train_images").mkdir(parents=True)
    (root / "train_masks").mkdir()
    for i in range(3):
        Image.fromarray(np.full((30, 40, 3), 40 * i, np.uint8)).save(root / "train_images" / f"p{i}.jpg")
    return root


def test_status_moves_from_unlabelled_to_prelabelled_to_corrected(dataset):
    store = LabelStore(dataset)
    assert [p.status for p in store.photos()] == ["unlabelled"] * 3
    store.save_prelabel("p0", np.ones((30, 40), np.uint8), "demo", {"mean": 0.2, "uncertain_share": 0.1})
    assert store.status("p0").status == "pre-labelled" and store.status("p0").model == "demo"
    assert not store.mask_path("p0").exists()  # a model's guess never becomes training truth
    store.save("p0", np.full((30, 40), 5, np.uint8), "ana", NO_VERSION)
    status = store.status("p0")
    assert (status.status, status.by) == ("corrected", "ana") and status.at is not None
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(store.mask_path("p1"))  # made with another tool
    assert store.status("p1").status == "labelled"


def test_save_writes_the_class_ids_at_the_original_size(dataset):
    store = LabelStore(dataset)
    mask = np.random.default_rng(0).integers(0, 25, (30, 40)).astype(np.uint8)
    store.save("p1", mask, "ana", store.version("p1"))
    np.testing.assert_array_equal(load_mask(store.mask_path("p1")), mask)
    assert not list(store.mask_dir.glob(".*partial"))


def test_bad_masks_and_removed_photos_get_a_sentence(dataset):
    store = LabelStore(dataset)
    with pytest.raises(ValueError, match=r"mask is 20x10 px but the photo is 40x30"):
        store.save("p0", np.zeros((10, 20), np.uint8), "ana", NO_VERSION)
    with pytest.raises(ValueError, match=r"class id 30; the harvey scheme.s ids are 0\.\.24"):
        store.save("p0", np.full((30, 40), 30, np.uint8), "ana", NO_VERSION)
    (dataset / "train_images" / "p2.jpg").unlink()
    with pytest.raises(ValueError, match=r"photo 'p2' is no longer in the dataset"):
        store.save("p2", np.zeros((30, 40), np.uint8), "ana", NO_VERSION)
    with pytest.raises(ValueError, match="analyst name"):
        store.save("p0", np.zeros((30, 40), np.uint8), "../evil", NO_VERSION)
    assert not store.mask_path("p0").exists()


def test_a_second_analyst_saving_over_the_first_is_refused_with_who_and_when(dataset):
    store = LabelStore(dataset)
    opened_by_ana = opened_by_ben = store.version("p0")
    store.save("p0", np.full((30, 40), 1, np.uint8), "ana", opened_by_ana)
    with pytest.raises(ConflictError, match=r"p0: ana saved this photo at .* after you opened it"):
        store.save("p0", np.full((30, 40), 2, np.uint8), "ben", opened_by_ben)
    assert load_mask(store.mask_path("p0")).max() == 1  # ana's work is intact
    store.save("p0", np.full((30, 40), 2, np.uint8), "ben", opened_by_ben, force=True)  # on purpose
    assert store.status("p0").by == "ben"


def test_drafts_restore_and_show_who_else_is_editing(dataset):
    store = LabelStore(dataset)
    work = np.zeros((30, 40), np.uint8)
    work[5:10, 5:10] = 23
    store.save_draft("p0", "ana", work, NO_VERSION)
    mask, base = store.load_draft("p0", "ana")
    np.testing.assert_array_equal(mask, work)
    assert base == NO_VERSION and store.others_editing("p0", "ben") == ["ana"]
    store.save("p0", mask, "ana", base)
    assert store.load_draft("p0", "ana") is None  # saving clears the draft


def test_create_dataset_from_uploads_keeps_good_photos_and_names_bad_ones(tmp_path):
    good = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    folder, refused = create_dataset(
        tmp_path / "data", "new-storm", [("a.png", good.read_bytes()), ("b.jpg", b"<html>")]
    )
    assert (folder / "train_images" / "a.png").is_file() and (folder / "train_masks").is_dir()
    assert len(refused) == 1 and "b.jpg" in refused[0]
    with pytest.raises(ValueError, match="already exists"):
        create_dataset(tmp_path / "data", "new-storm", [("a.png", good.read_bytes())])
    with pytest.raises(ValueError, match="dataset name"):
        create_dataset(tmp_path / "data", "../x", [("a.png", good.read_bytes())])


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    from seg_core.labelling.labelstore import write_mask_png
    path = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    masks = [np.full((1500, 2000), v, np.uint8) for v in (3, 7)]
    for m in masks:
        m[rng.integers(0, 1500, 50000), rng.integers(0, 2000, 50000)] = 1  # slower to compress
    i = 0
    while True:
        print(i, flush=True)
        write_mask_png(path, masks[i % 2])
        i += 1
    """
)


@pytest.mark.slow
def test_a_save_killed_at_any_moment_leaves_the_old_or_the_new_mask(tmp_path):
    path = tmp_path / "train_masks" / "p.png"
    rng = np.random.default_rng(1)
    mid_write = 0
    for round_ in range(10):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(int(rng.integers(2, 5))):  # let it replace the file a few times
            writer.stdout.readline()
        if round_ % 2:  # every other round: wait until the temp file exists, then kill mid-write
            deadline = time.monotonic() + 10
            while not list(path.parent.glob(".*partial")) and time.monotonic() < deadline:
                pass
        writer.kill()
        writer.wait()
        mid_write += bool(list(path.parent.glob(".*partial")))
        for tmp in path.parent.glob(".*partial"):
            tmp.unlink()
        values = set(np.unique(load_mask(path)))
        assert values in ({1, 3}, {1, 7})
    assert mid_write >= 1, "no kill landed mid-write: the test proved nothing"


def test_a_rescuenet_layout_dataset_is_labelled_in_its_own_mask_files(tmp_path):
    """Its masks are `<id>_lab.png`: they count as labelled, a save replaces that file, and a new
    mask takes the same kind of name, so training never meets two masks for one photo."""
    from seg_core.datasets.discovery import validate_dataset
    from seg_core.demo.synth import write_demo_dataset

    root = tmp_path / "michael"
    write_demo_dataset(root, n=3, n_test=1, size=(128, 96), seed=5, scheme="rescuenet")
    store = LabelStore(root)
    masks = root / "train" / "train-label-img"
    assert {p.status for p in store.photos()} == {"labelled"}
    stem = store.photos()[0].stem
    assert store.mask_path(stem) == masks / f"{stem}_lab.png"
    store.save(stem, np.full((96, 128), 4, np.uint8), "ana", store.version(stem))
    assert (load_mask(masks / f"{stem}_lab.png") == 4).all() and not (masks / f"{stem}.png").exists()

    (masks / f"{stem}_lab.png").unlink()  # a photo nobody has labelled yet
    assert store.status(stem).status == "unlabelled"
    store.save(stem, np.full((96, 128), 2, np.uint8), "ana", store.version(stem))
    assert (masks / f"{stem}_lab.png").is_file() and not (masks / f"{stem}.png").exists()
    report = validate_dataset(root)
    assert stem in {pair.stem for pair in report.pairs} and not report.problems
