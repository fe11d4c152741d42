"""Semi-supervised fine-tuning: the flight's unlabelled photos, FixMatch-style (Sohn et al. 2020,
as UniMatch applies it to segmentation).

Every batch of labelled photos gets `unlabelled_per_batch` unlabelled ones. For each: a weak
view (the run's random crop, flips and rotations) that the model, in eval mode and without
gradients, labels; the pixels it is at least `pseudo_label_threshold` sure of become its
pseudo-label, the rest IGNORE_INDEX. A strong view (the weak view plus colour, blur and noise
changes, and CutMix between the batch's unlabelled photos) is appended to the batch with that
pseudo-label, so the run's own loss, step, micro-batching, AMP and DDP treat it like a labelled
photo. The model must give the same answer on a harder view of the same pixels: consistency
where it is confident, nothing where it is not.

The teacher is the model itself (no EMA copy): a short fine-tune has too few steps for an EMA
to catch up, and nothing extra needs saving. Which photos and augmentations a step draws depend
only on (seed, rank, global step), so a resumed run continues exactly.

Cost: each unlabelled view is one forward pass without gradients plus one forward and
backward: 2.6 CPU s at 320 px crops on one thread (docs/benchmarks-analysis.md section 22); photos are decoded on first use (cached), so a flight of
thousands costs nothing until its photos are drawn. README "Semi-supervised fine-tuning".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from seg_core.core.runtime import autocast
from seg_core.datasets.augment import build_augmentation, reseed
from seg_core.datasets.dataset import ArrayCache, normalize, pad_collate
from seg_core.datasets.unlabelled import unlabelled_photos
from seg_core.schemes.scheme import IGNORE_INDEX
from seg_core.training.state import TrainingRun

CUTMIX_PROBABILITY = 0.5  # UniMatch's: half the strong views get a box of another photo
CUTMIX_AREA = (0.1, 0.4)  # share of the crop the pasted box covers


def _strong_colour():
    """Photometric changes only: the strong view must keep the weak view's geometry, so that its
    pseudo-label stays aligned pixel for pixel."""
    import albumentations as A

    return A.Compose(
        [
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.8),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=30, val_shift_limit=20, p=0.5),
            A.ToGray(p=0.2),
            A.OneOf([A.GaussianBlur(sigma_limit=(0.3, 1.5)), A.GaussNoise(std_range=(0.02, 0.08))], p=0.5),
        ],
        seed=0,
    )


def pseudo_labels(logits: torch.Tensor, threshold: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The model's top class where its probability reaches `threshold`, IGNORE_INDEX elsewhere
    (and where `valid` is False: padding that is not photo).

    Shape:
        logits (N, C, H, W), valid (N, H, W) bool -> (N, H, W) int64
    """
    confidence, label = logits.float().softmax(dim=1).max(dim=1)
    keep = confidence >= threshold
    if valid is not None:
        keep &= valid
    return torch.where(keep, label, torch.full_like(label, IGNORE_INDEX))


def cutmix(
    images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a random box of photo i+1 (and its pseudo-label) into photo i, for about half of them.

    Shape:
        images (N, 3, H, W), labels (N, H, W) -> the same
    """
    n, _, height, width = images.shape
    if n < 2:
        return images, labels
    images, labels = images.clone(), labels.clone()
    for i in range(n):
        if rng.random() >= CUTMIX_PROBABILITY:
            continue
        area = rng.uniform(*CUTMIX_AREA) * height * width
        ratio = rng.uniform(0.5, 2.0)
        h = int(min(height, round((area * ratio) ** 0.5)))
        w = int(min(width, round((area / ratio) ** 0.5)))
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        j = (i + 1) % n
        images[i, :, y : y + h, x : x + w] = images[j, :, y : y + h, x : x + w]
        labels[i, y : y + h, x : x + w] = labels[j, y : y + h, x : x + w]
    return images, labels


def batch_hooks(run: TrainingRun) -> list:
    """What the loop passes every epoch's batches through, in order: the unlabelled views
    (`cfg.unlabelled`), then the parent's anchor of a partial-label fine-tune."""
    from seg_core.training.partial import ParentAnchor

    return [hook for hook in (UnlabelledStream.for_run(run), ParentAnchor.for_run(run)) if hook is not None]


class UnlabelledStream:
    """Draws unlabelled views for each step and labels them with the model (see the module)."""

    def __init__(self, photos: list[Path], run: TrainingRun):
        cfg = run.cfg
        self.photos, self.run = photos, run
        self.cache = ArrayCache(cfg.resolution)
        self.weak = build_augmentation(cfg.augment, cfg.crop or None)
        self.strong = _strong_colour()
        self.per_batch, self.threshold = cfg.unlabelled_per_batch, cfg.pseudo_label_threshold
        self.kept = torch.zeros(2, dtype=torch.float64)  # (confident pixels, photo pixels) this epoch

    @classmethod
    def for_run(cls, run: TrainingRun) -> UnlabelledStream | None:
        """The stream of a run with `unlabelled` set; None for a supervised run."""
        if not run.cfg.unlabelled:
            return None
        photos = unlabelled_photos(run.cfg.unlabelled)
        run.reporter.log(
            f"semi-supervised: {len(photos)} unlabelled photo(s) in {run.cfg.unlabelled}, "
            f"{run.cfg.unlabelled_per_batch} per batch; pseudo-labels where the model is at least "
            f"{run.cfg.pseudo_label_threshold:.0%} sure"
        )
        return cls(photos, run)

    def _draw(self, step: int) -> list[tuple[int, int]]:
        """(photo index, augmentation seed) of each unlabelled view of `step`: a fresh shuffle of
        the photos per pass, disjoint between ranks, from (seed, rank, step) alone."""
        group, n = self.run.group, len(self.photos)
        views = []
        for slot in range(self.per_batch):
            position = (step * self.per_batch + slot) * group.world_size + group.rank
            order = np.random.default_rng([self.run.cfg.seed, position // n]).permutation(n)
            views.append((int(order[position % n]), (self.run.cfg.seed * 7_919 + position) % 2**31))
        return views

    def _views(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Weak views, strong views (normalised, N x 3 x H x W) and the photo pixels (N x H x W)."""
        mean, std = self.run.setup.mean, self.run.setup.std
        weak, strong = [], []
        for index, seed in self._draw(step):
            image = np.asarray(self.cache.image(self.photos[index]))
            reseed(self.weak, seed)
            out = self.weak(image=image, mask=np.zeros(image.shape[:2], np.uint8))
            reseed(self.strong, seed + 1)
            weak.append((normalize(out["image"], mean, std), torch.from_numpy(out["mask"].astype(np.int64))))
            strong.append((normalize(self.strong(image=out["image"])["image"], mean, std), weak[-1][1]))
        weak_images, padding = pad_collate(weak)
        strong_images, _ = pad_collate(strong)
        return weak_images, strong_images, padding != IGNORE_INDEX

    @torch.no_grad()
    def labelled_views(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's strong views and their pseudo-labels (on the CPU, like the loader's batches)."""
        run = self.run
        weak, strong, valid = self._views(step)
        model = run.model_without_ddp  # no DDP forward: it would expect a matching backward
        was_training = model.training
        model.eval()
        try:
            with autocast(run.device, run.amp):
                logits = model(weak.to(run.device))
        finally:
            model.train(was_training)
        labels = pseudo_labels(logits, self.threshold, valid.to(run.device)).cpu()
        self.kept += torch.tensor(
            [float((labels != IGNORE_INDEX).sum()), float(valid.sum())], dtype=torch.float64
        )
        return cutmix(strong, labels, np.random.default_rng([run.cfg.seed, step, 1]))

    def batches(self, loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The loader's labelled batches, each with this step's unlabelled views appended; logs
        the share of unlabelled pixels that got a pseudo-label when the epoch ends."""
        self.kept.zero_()
        for images, masks in loader:
            views, labels = self.labelled_views(self.run.state.global_step)
            yield pad_collate([*zip(images, masks, strict=True), *zip(views, labels, strict=True)])
        if self.kept[1] > 0:
            share = float(self.kept[0] / self.kept[1])
            state = self.run.state
            self.run.reporter.metrics(
                [(state.global_step, state.epoch + 1, "train", "pseudo_label_share", share)]
            )
            self.run.reporter.log(
                f"pseudo-labels this epoch: {share:.0%} of unlabelled pixels confident enough"
            )
