"""Datasets with photos in each review state, for the review, agreement and label-set tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from seg_core.labelling import review
from seg_core.labelling.labelstore import NO_VERSION, LabelStore
from seg_core.team.access import Actor

SIZE = (40, 30)  # width, height: small enough for hundreds of cases a second
ANA = Actor("ana@eoc.example.org", "analyst")
BEN = Actor("ben@eoc.example.org", "analyst")
RITA = Actor("rita@eoc.example.org", "reviewer")
VERA = Actor("vera@eoc.example.org", "viewer")
ADA = Actor("ada@eoc.example.org", "admin")


def storm(root: Path, n: int = 3, with_masks: int = 0) -> Path:
    """A Harvey-layout dataset of `n` noise photos p0, p1, ...; the first `with_masks` come with
    a mask of their own (made elsewhere, as a published dataset's)."""
    (root / "train_images").mkdir(parents=True)
    (root / "train_masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "train_images" / f"p{i}.png")
        if i < with_masks:
            Image.fromarray(mask_of(i + 1)).save(root / "train_masks" / f"p{i}.png")
    return root


def mask_of(class_id: int, band: int = 0) -> np.ndarray:
    """Background with the top rows (10 + `band`) of `class_id`."""
    mask = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    mask[: 10 + band] = class_id
    return mask


def put_in_state(
    store: LabelStore, stem: str, state: str, author: str = "ana", reviewer: str = "rita"
) -> None:
    """Bring `stem` to `state` the way people would: pre-label, draft, save, review."""
    if state == "unlabelled":
        return
    if state == "pre-labelled":
        store.save_prelabel(stem, mask_of(1), "demo", weights_sha256="abc")
    elif state == "draft":
        store.save_draft(stem, author, mask_of(1), NO_VERSION)
    else:
        store.save(stem, mask_of(1), author, store.version(stem))
        if state == "accepted":
            review.review(store, stem, "accept", reviewer)
        elif state == "rejected":
            review.review(store, stem, "reject", reviewer, comment="the roof is a road")
    assert review.photo_state(store, stem).state == state
