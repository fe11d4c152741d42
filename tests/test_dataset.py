import os

import numpy as np
import torch
from helpers import make_pair
from PIL import Image

import seg_core.datasets.dataset as dataset_module
from seg_core.datasets.dataset import ArrayCache, SegmentationDataset, pad_collate
from seg_core.datasets.discovery import validate_dataset


def test_cache_decodes_once_and_detects_edits(tiny_dataset, tmp_path, monkeypatch):
    pair = validate_dataset(tiny_dataset).pairs[0]
    cache = ArrayCache(long_side=24, root=tmp_path / "cache")
    image, mask = cache.pair(pair)
    assert image.shape == (16, 24, 3) and mask.shape == (16, 24)

    def no_decoding(*args, **kwargs):
        raise AssertionError("an original was decoded again")

    monkeypatch.setattr(dataset_module, "load_rgb", no_decoding)
    monkeypatch.setattr(dataset_module, "load_mask", no_decoding)
    for _epoch in range(2):  # the next epochs, and a new run (a new cache object on the same folder)
        again_image, again_mask = ArrayCache(long_side=24, root=tmp_path / "cache").pair(pair)
        assert np.array_equal(again_image, image) and np.array_equal(again_mask, mask)
    monkeypatch.undo()

    Image.fromarray(np.full((32, 48, 3), 7, np.uint8)).save(pair.image)  # the photo is edited
    os.utime(pair.image, ns=(1, 1))
    edited, _ = cache.pair(pair)
    assert (np.asarray(edited) == 7).all()  # decoded again, never the stale entry
    small, small_mask = ArrayCache(long_side=12, root=tmp_path / "cache").pair(pair)
    assert small.shape == (8, 12, 3) and small_mask.shape == (8, 12)  # each resolution has its own entry
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 5


def test_working_resolution_area_resizes_photos_and_nearest_resizes_masks(tmp_path):
    root = tmp_path / "stripes"
    image_path, mask_path = make_pair(root, "s", size=(48, 32))
    stripes = np.zeros((32, 48, 3), np.uint8)
    stripes[:, 1::2] = 255  # alternating black and white columns
    Image.fromarray(stripes).save(image_path)
    blocks = np.random.default_rng(0).integers(0, 25, (16, 24), dtype=np.uint8)
    Image.fromarray(np.kron(blocks, np.ones((2, 2), np.uint8))).save(mask_path)
    pair = validate_dataset(root).pairs[0]
    image, mask = ArrayCache(long_side=24, root=tmp_path / "cache").pair(pair)
    assert image.shape == (16, 24, 3)
    # area: each pixel averages a black and a white column (nearest would give 0 or 255)
    assert (np.abs(image.astype(int) - 128) <= 1).all()
    np.testing.assert_array_equal(mask, blocks)  # nearest: every label is one of the originals, none invented


def test_dataset_normalises_crops_and_is_reproducible(tiny_dataset, tmp_path):
    pairs = validate_dataset(tiny_dataset).pairs
    cache = ArrayCache(long_side=48, root=tmp_path / "cache")
    data = SegmentationDataset(pairs, cache, mean=(0.5,) * 3, std=(0.5,) * 3, crop=16, augment="seed", seed=1)
    image, mask = data[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert mask.shape == (16, 16) and mask.dtype == torch.int64
    assert image.min() >= -1.0 and image.max() <= 1.0
    again_image, again_mask = data[0]
    assert torch.equal(image, again_image) and torch.equal(mask, again_mask)
    data.set_epoch(1)
    assert not torch.equal(data[0][0], image)  # a new epoch draws new crops
    full = SegmentationDataset(pairs, cache, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert full[0][0].shape == (3, 32, 48)


def test_pad_collate_pads_masks_with_ignore():
    a = (torch.zeros(3, 4, 5), torch.zeros(4, 5, dtype=torch.int64))
    b = (torch.ones(3, 6, 3), torch.ones(6, 3, dtype=torch.int64))
    images, masks = pad_collate([a, b])
    assert images.shape == (2, 3, 6, 5) and masks.shape == (2, 6, 5)
    assert masks[0, 5, 0] == 255 and masks[1, 0, 4] == 255 and masks[1, 0, 0] == 1


def test_a_cache_that_cannot_be_written_still_serves_the_arrays_and_leaves_no_temp(
    tiny_dataset, tmp_path, monkeypatch
):
    import errno

    pair = validate_dataset(tiny_dataset).pairs[0]
    cache = ArrayCache(long_side=24, root=tmp_path / "cache")

    def disk_full(handle, array):  # part of the array reaches the disk, then it is full
        handle.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    image, mask = cache.pair(pair)
    assert image.shape[2] == 3 and mask.shape == image.shape[:2]
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
