"""The training-time view of a dataset: a disk cache of decoded, resized arrays and a torch
Dataset over it.

Originals are decoded once per (file, working resolution): a 12-megapixel TIFF takes ~0.5 s to
decode, a cached 1024x768 array ~1 ms to map. The cache key includes the file's size and mtime,
so an edited photo is re-decoded and a stale entry is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seg_core.core import paths
from seg_core.core.atomic import atomic_write
from seg_core.datasets.augment import build_augmentation, reseed
from seg_core.datasets.discovery import Pair
from seg_core.datasets.sampling import RareClassCrops, crop_around
from seg_core.imagery.imageio import load_mask, load_rgb
from seg_core.schemes.scheme import IGNORE_INDEX

CACHE_FORMAT_VERSION = 1


class ArrayCache:
    """Decoded-and-resized images and masks on disk as .npy, keyed by file identity.

    Args:
        long_side: working resolution (px on the long side); images are area-resized, masks
            nearest-resized to the image's new size; images smaller than this are kept as they are.
        root: cache folder (default `paths.cache_dir()`).
    """

    def __init__(self, long_side: int, root: Path | None = None):
        self.long_side = long_side
        self.root = Path(root) if root is not None else paths.cache_dir()

    def _entry(self, path: Path, kind: str) -> Path:
        stat = path.stat()
        identity = f"{CACHE_FORMAT_VERSION}|{kind}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{self.long_side}"
        digest = hashlib.sha1(identity.encode()).hexdigest()
        return self.root / str(self.long_side) / digest[:2] / f"{digest}.npy"

    def _load_or_build(self, entry: Path, build) -> np.ndarray:
        if entry.exists():
            try:
                return np.load(entry, mmap_mode="r")
            except (OSError, ValueError):
                entry.unlink(missing_ok=True)  # a damaged entry is rebuilt, never trusted
        array = build()
        entry.parent.mkdir(parents=True, exist_ok=True)
        # The cache only saves time: a full or read-only disk must not stop training (the
        # checkpoint save reports a full disk with its reason); the write leaves no temp. Not
        # fsynced: an entry a power cut leaves empty fails to load and is rebuilt.
        with contextlib.suppress(OSError):
            atomic_write(entry, lambda handle: np.save(handle, array), durable=False)
        return array

    def image(self, path: Path) -> np.ndarray:
        """HxWx3 uint8 RGB at the working resolution."""
        return self._load_or_build(self._entry(path, "image"), lambda: load_rgb(path, self.long_side).pixels)

    def mask(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        """HxW uint8 class ids, nearest-resized to `size` = (width, height)."""
        entry = self._entry(path, f"mask{size[0]}x{size[1]}")
        return self._load_or_build(entry, lambda: load_mask(path, size))

    def pair(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        image = self.image(pair.image)
        return image, self.mask(pair.mask, (image.shape[1], image.shape[0]))


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float32, (x/255 - mean) / std."""
    scale = np.float32(1.0 / 255.0)
    mean_ = np.asarray(mean, dtype=np.float32)
    std_ = np.asarray(std, dtype=np.float32)
    array = (np.asarray(image, dtype=np.float32) * scale - mean_) / std_
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


class SegmentationDataset(Dataset):
    """(normalised image tensor 3xHxW float32, mask tensor HxW int64) pairs.

    Training: a random `crop` and the augmentation preset, seeded per (seed, epoch, index) so
    a run is reproducible whatever the number of loader workers, and resumes exactly. With
    `rare_crops`, a share of the crops is instead centred on a rare-class pixel of a photo that
    `rare_crops` draws (`seg_core.datasets.sampling`), from the same seed.
    Validation (`crop=None`, preset 'none'): whole working-resolution images. Mask pixels of
    a scheme's own `ignore_index` are read as IGNORE_INDEX, the value padding uses. `remaps`
    (mask path -> 256-entry table, `seg_core.schemes.remap`) reads a mask of another scheme's
    dataset as the run's scheme, its own ignore value included.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        cache: ArrayCache,
        mean: Sequence[float],
        std: Sequence[float],
        crop: int | None = None,
        augment: str = "none",
        seed: int = 0,
        ignore_index: int = IGNORE_INDEX,
        rare_crops: RareClassCrops | None = None,
        remaps: dict[Path, np.ndarray] | None = None,
    ):
        self.pairs = list(pairs)
        self.remaps = remaps or {}
        self.ignore_index = ignore_index
        self.cache = cache
        self.mean, self.std = tuple(mean), tuple(std)
        self.transform = build_augmentation(augment, crop) if (crop or augment != "none") else None
        self.crop, self.augment = crop, augment
        self.seed = seed
        self.epoch = 0
        self.centre_crops_on(rare_crops)

    def centre_crops_on(self, rare_crops: RareClassCrops | None) -> None:
        """Centre a share of the training crops on rare classes (None: random crops only). Needs
        crops: a dataset of whole images ignores it."""
        self.rare_crops = rare_crops if self.crop else None
        # A centred crop is cut here; the preset then runs without its own random crop.
        self.preset = build_augmentation(self.augment, None) if self.rare_crops is not None else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Photo `index` and its mask at working resolution, uncropped; the scheme's ignore value
        is read as IGNORE_INDEX."""
        image, mask = self.cache.pair(self.pairs[index])
        table = self.remaps.get(self.pairs[index].mask)
        if table is not None:
            return image, table[np.asarray(mask)]
        if self.ignore_index != IGNORE_INDEX:
            mask = np.where(np.asarray(mask) == self.ignore_index, np.uint8(IGNORE_INDEX), mask)
        return image, mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample_seed = (self.seed * 1_000_003 + self.epoch * 10_007 + index) % (2**31)
        rng = np.random.default_rng([sample_seed, 1])  # the rare-crop draws: a stream of their own
        centred_on = self.rare_crops.draw(rng) if self.rare_crops is not None else None
        image, mask = self.arrays(index if centred_on is None else centred_on[0])
        transform = self.transform
        if centred_on is not None:
            image, mask = crop_around(image, mask, centred_on[1], self.crop, rng)
            transform = self.preset
        if transform is not None:
            reseed(transform, sample_seed)
            out = transform(image=np.asarray(image), mask=np.asarray(mask))
            image, mask = out["image"], out["mask"]
        return normalize(image, self.mean, self.std), torch.from_numpy(np.array(mask, dtype=np.int64))


def pad_collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack samples of different sizes: images padded with 0, masks with IGNORE_INDEX."""
    height = max(image.shape[1] for image, _ in batch)
    width = max(image.shape[2] for image, _ in batch)
    images = torch.zeros(len(batch), 3, height, width)
    masks = torch.full((len(batch), height, width), IGNORE_INDEX, dtype=torch.int64)
    for i, (image, mask) in enumerate(batch):
        images[i, :, : image.shape[1], : image.shape[2]] = image
        masks[i, : mask.shape[0], : mask.shape[1]] = mask
    return images, masks


def warm_cache(pairs: Sequence[Pair], cache: ArrayCache, progress=None) -> None:
    """Decode every pair once up front, so the first epoch's timing is not decode-bound."""
    for done, pair in enumerate(pairs, start=1):
        cache.pair(pair)
        if progress:
            progress(done, len(pairs))
