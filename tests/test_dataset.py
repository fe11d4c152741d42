import numpy as np
import torch

from seg_core.data import validate_dataset
from seg_core.dataset import ArrayCache, SegmentationDataset, pad_collate


def test_cache_decodes_once_and_detects_edits(tiny_dataset, tmp_path, monkeypatch):
    pair = validate_dataset(tiny_dataset).pairs[0]
    cache = ArrayCache(long_side=24, root=tmp_path / "cache")
    image, mask = cache.pair(pair)
    assert image.shape == (16, 24, 3) and mask.shape == (16, 24)
    calls = []
    import seg_core.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "load_rgb", lambda *a, **k: calls.append(a) or None)
    again, _ = ArrayCache(long_side=24, root=tmp_path / "cache").pair(pair)  # a new process, same cache
    assert calls == [] and np.array_equal(again, image)
    monkeypatch.undo()
    pair.image.write_bytes(pair.image.read_bytes())  # touch: new mtime -> new key
    import os

    os.utime(pair.image, ns=(1, 1))
    assert cache._entry(pair.image, "image") != ArrayCache(24, tmp_path / "other")._entry(pair.image, "image")
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2


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
