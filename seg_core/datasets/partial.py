"""Partial labels on disk: masks that say only what the labeller knows.

A partial-label dataset is an ordinary dataset (images + class-id PNG masks, either layout) with
a sidecar `partial_labels.json` at its root. Its masks may hold three kinds of value:

- a class id (0..N-1 of the dataset's label scheme): the pixel IS that class ("road");
- 255 (IGNORE_INDEX): unknown; no loss at all;
- a "not" code that the sidecar lists (N..254): the pixel is NONE of the code's classes
  ("not road"); every other class stays possible, Background included.

"One of these classes" is the same kind of code, ruling out every other class: a source whose
one "vegetation" class is Grass, Trees/Shrubs or Dense Vegetation in our scheme labels its
vegetation "one of Grass, Trees/Shrubs, Dense Vegetation/Forest" (`code_for_one_of`), and the
loss learns the set without choosing among its members.

The sidecar can also say, per photo, which classes an analyst labelled exhaustively
(`labelled_only`, the Label page's "I labelled only these classes"). The photo's mask stays as
saved; its other class ids are untrusted (a pre-label nobody checked) and read, when training,
as "none of the labelled classes": a road the analyst did not paint is not taught as anything.

    {"format": "stormseg-partial-labels", "version": 1,
     "not_codes": {"254": [14], "253": [1, 14]},     # mask value -> the classes it rules out
     "labelled_only": {"IMG_0007": [14]},             # photo stem -> its exhaustive classes
     "sources": [{"vectors": "roads.gpkg", ...}]}     # provenance, free form

Codes are one byte in the same PNG so that resizing (nearest), cropping, flips and padding carry
them with the pixels exactly like class ids; a table per pixel would need its own pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seg_core.core.atomic import atomic_write_bytes
from seg_core.core.locks import file_lock
from seg_core.schemes.files import read_dataset_scheme
from seg_core.schemes.scheme import DEFAULT_SCHEME, IGNORE_INDEX, LabelScheme, builtin

PARTIAL_LABELS_FILE = "partial_labels.json"
FORMAT = "stormseg-partial-labels"
VERSION = 1
# Codes are handed out from the top down (254 first), so the low values stay free for schemes
# with more classes; 230 codes are far more than the class combinations a dataset ever needs.
# The lowest code is the scheme's class count.
FIRST_CODE = IGNORE_INDEX - 1


@dataclass
class PartialLabels:
    """A dataset's partial-label sidecar (see the module docstring), for the label scheme whose
    class ids it names (the dataset's)."""

    not_codes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    labelled_only: dict[str, tuple[int, ...]] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    scheme: LabelScheme = field(default_factory=lambda: builtin(DEFAULT_SCHEME))

    @property
    def last_code(self) -> int:
        return self.scheme.num_classes

    def code_for(self, classes: Iterable[int]) -> int:
        """The mask value meaning "none of `classes`", allocated if new.

        Raises:
            ValueError: no class, every class (a pixel must be something), or no code left.
        """
        wanted = _class_set(classes, "a not-code", self.scheme.num_classes)
        for code, ruled_out in self.not_codes.items():
            if ruled_out == wanted:
                return code
        free = [c for c in range(FIRST_CODE, self.last_code - 1, -1) if c not in self.not_codes]
        if not free:
            raise ValueError(f"every mask value {self.last_code}..{FIRST_CODE} is already a not-code")
        self.not_codes[free[0]] = wanted
        return free[0]

    def code_for_one_of(self, classes: Iterable[int]) -> int:
        """The mask value meaning "one of `classes`" (the not-code of every other class).

        Raises:
            ValueError: no class, every class (that says nothing: use 255), or no code left.
        """
        n = self.scheme.num_classes
        wanted = _class_set(
            classes, "a one-of code", n, "every class says nothing: write 255 (unknown) instead"
        )
        return self.code_for(sorted(set(range(n)) - set(wanted)))

    def allowed(self, code: int) -> tuple[int, ...]:
        """The classes a pixel of mask value `code` may be (a class id: itself; 255: every class)."""
        if code < self.scheme.num_classes:
            return (code,)
        ruled_out = set(self.not_codes.get(code, ()))
        return tuple(c for c in range(self.scheme.num_classes) if c not in ruled_out)

    def set_labelled_only(self, stem: str, classes: Iterable[int]) -> None:
        """Record that `stem` has only `classes` labelled (an empty list: every class, a full label)."""
        classes = sorted(set(int(c) for c in classes))
        if not classes or len(classes) == self.scheme.num_classes:
            self.labelled_only.pop(stem, None)
            return
        wanted = _class_set(classes, f"photo {stem!r}", self.scheme.num_classes)
        self.code_for(wanted)  # the code its other pixels are read as
        self.labelled_only[stem] = wanted

    def mask_values(self) -> set[int]:
        """Mask values besides class ids that this dataset's masks may hold."""
        return {IGNORE_INDEX, *self.not_codes}

    def value_map(self, stem: str) -> np.ndarray:
        """(256,) uint8 lookup table applied to `stem`'s mask before training: the identity, except
        that on a `labelled_only` photo every class it does not vouch for becomes its not-code."""
        table = np.arange(256, dtype=np.uint8)
        claimed = self.labelled_only.get(stem)
        if claimed:
            code = self.code_for(claimed)
            untrusted = np.setdiff1d(np.arange(self.scheme.num_classes), claimed)
            table[untrusted] = code
        return table

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "not_codes": {str(k): list(v) for k, v in sorted(self.not_codes.items(), reverse=True)},
            "not_codes_named": {
                str(k): [self.scheme.names[c] for c in v]
                for k, v in sorted(self.not_codes.items(), reverse=True)
            },
            "may_be_named": {  # the same codes, read the other way: what the pixel may be
                str(k): [self.scheme.names[c] for c in self.allowed(k)]
                for k in sorted(self.not_codes, reverse=True)
            },
            "labelled_only": {k: list(v) for k, v in sorted(self.labelled_only.items())},
            "sources": self.sources,
        }


def _class_set(
    classes: Iterable[int],
    what: str,
    num_classes: int,
    every: str = "cannot rule out every class (a pixel is always something)",
) -> tuple[int, ...]:
    try:
        wanted = tuple(sorted({int(c) for c in classes}))
    except (TypeError, ValueError):
        raise ValueError(f"{what}: classes must be class ids 0..{num_classes - 1}") from None
    if not wanted or wanted[0] < 0 or wanted[-1] >= num_classes:
        raise ValueError(f"{what}: classes must be 1 to {num_classes - 1} class ids in 0..{num_classes - 1}")
    if len(wanted) == num_classes:
        raise ValueError(f"{what}: {every}")
    return wanted


def partial_labels_path(root: str | Path) -> Path:
    return Path(root) / PARTIAL_LABELS_FILE


def read_partial_labels(root: str | Path, scheme: LabelScheme | None = None) -> PartialLabels | None:
    """The dataset's sidecar, or None when it has none (an ordinary, fully labelled dataset).
    `scheme`: the dataset's label scheme; None reads its classes.json, else the default scheme.

    Raises:
        ValueError: unreadable or malformed (the message names the file and the key).
    """
    path = partial_labels_path(root)
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the partial-label file ({exc})") from None
    if not isinstance(values, dict) or values.get("format") != FORMAT:
        raise ValueError(f'{path}: not a partial-label file (expected "format": "{FORMAT}")')
    if values.get("version") != VERSION:
        raise ValueError(f"{path}: version {values.get('version')!r}; this StormSeg reads version {VERSION}")
    scheme = scheme or read_dataset_scheme(root) or builtin(DEFAULT_SCHEME)
    labels = PartialLabels(sources=list(values.get("sources") or []), scheme=scheme)
    n = scheme.num_classes
    for key, classes in _mapping(values, "not_codes", path).items():
        code = int(key) if str(key).isdigit() else -1
        if not labels.last_code <= code <= FIRST_CODE:
            raise ValueError(
                f"{path}: not-code {key!r} must be a mask value {labels.last_code}..{FIRST_CODE} "
                f"({scheme.name} has {n} classes)"
            )
        labels.not_codes[code] = _class_set(_list(classes, path), f"{path}: not_codes[{key}]", n)
    for stem, classes in _mapping(values, "labelled_only", path).items():
        claimed = _class_set(_list(classes, path), f"{path}: labelled_only[{stem!r}]", n)
        if claimed not in labels.not_codes.values():
            raise ValueError(
                f"{path}: labelled_only[{stem!r}] has no not-code for its classes {list(claimed)}"
            )
        labels.labelled_only[str(stem)] = claimed
    return labels


def _mapping(values: dict, key: str, path: Path) -> dict:
    found = values.get(key) or {}
    if not isinstance(found, dict):
        raise ValueError(f"{path}: {key!r} must be a JSON object")
    return found


def _list(value: object, path: Path) -> list:
    if not isinstance(value, list):
        raise ValueError(f"{path}: class lists must be JSON arrays of class ids, got {value!r}")
    return value


def write_partial_labels(root: str | Path, labels: PartialLabels) -> Path:
    """Write the sidecar atomically (a kill leaves the old file or the new one)."""
    path = partial_labels_path(root)
    atomic_write_bytes(path, (json.dumps(labels.to_json(), indent=1) + "\n").encode())
    return path


def update_partial_labels(
    root: str | Path, change: Callable[[PartialLabels], None], scheme: LabelScheme | None = None
) -> PartialLabels:
    """Read, change and write the sidecar under a file lock: two analysts marking photos at the
    same moment both keep their marks."""
    root = Path(root)
    with file_lock(root / f".{PARTIAL_LABELS_FILE}.lock"):
        scheme = scheme or read_dataset_scheme(root) or builtin(DEFAULT_SCHEME)
        labels = read_partial_labels(root, scheme) or PartialLabels(scheme=scheme)
        change(labels)
        write_partial_labels(root, labels)
    return labels
