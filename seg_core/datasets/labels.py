"""Which label scheme a dataset's masks are in, and whether each mask's ids fit it.

The scheme comes from `classes.json` beside the dataset when there is one; a FloodNet/RescueNet
distribution folder without one has it detected from its ids; any other dataset is read as
harvey. A mask is refused, by file, when it holds ids outside its scheme, or (when the scheme was
not declared) when its ids look like another scheme's (`seg_core.schemes.lookalike`): a RescueNet
mask dropped into a Harvey dataset is named, not read as Street Lights and Solar Panels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seg_core.schemes.files import DATASET_SCHEME_FILE, DatasetScheme
from seg_core.schemes.lookalike import detect_scheme, ids_outside, look_alike
from seg_core.schemes.scheme import BUILTIN, DEFAULT_SCHEME, LabelScheme, builtin

# Layouts whose masks come in a published scheme that the folder does not name.
DETECTED_LAYOUTS = ("splits", "train-split", "val-split", "test-split")


def dataset_scheme(
    root: Path, layout: str, totals: np.ndarray, declared: LabelScheme | None
) -> tuple[DatasetScheme | None, str]:
    """The dataset's scheme, or None with the sentence saying why it cannot be told.

    Args:
        root: the dataset folder.
        layout: its layout (`discovery.detect_layout`).
        totals: 256-bin histogram of every readable mask's values.
        declared: what its classes.json declares (`read_dataset_scheme`), None without one.
    """
    if declared is not None:
        return DatasetScheme(
            declared, DATASET_SCHEME_FILE, f"{DATASET_SCHEME_FILE}: {declared.describe()}"
        ), ""
    if layout in DETECTED_LAYOUTS:
        found, reason = detect_scheme(totals)
        if found is None:
            return None, (
                f"{root / DATASET_SCHEME_FILE}: missing, and the scheme of these FloodNet/RescueNet-layout "
                f'masks cannot be told from their ids ({reason}); add it, e.g. {{"scheme": "rescuenet"}}'
            )
        note = f"detected {found.describe()}: {reason}; a {DATASET_SCHEME_FILE} naming it makes this explicit"
        return DatasetScheme(found, "detected", note), ""
    scheme = builtin(DEFAULT_SCHEME)
    note = f"no {DATASET_SCHEME_FILE}: masks read as {scheme.describe()}"
    return DatasetScheme(scheme, "default", note), ""


def _range(scheme: LabelScheme) -> str:
    return f"{scheme.name}'s ids 0..{scheme.num_classes - 1}"


def ids_problem(mask_path: Path, counts: np.ndarray, known: DatasetScheme) -> tuple[str, str] | None:
    """(kind, sentence) when this mask's ids do not fit the dataset's scheme, else None.

    Args:
        counts: 256-bin histogram of the mask's values.
    """
    scheme = known.scheme
    outside = ids_outside(counts, scheme)
    if outside:
        fits = [s.name for s in BUILTIN.values() if s != scheme and not ids_outside(counts, s)]
        hint = f" (they fit {' or '.join(fits)}: name the scheme in {DATASET_SCHEME_FILE})" if fits else ""
        shown = ", ".join(map(str, outside[:5])) + (", ..." if len(outside) > 5 else "")
        return "bad_labels", f"{mask_path}: label values {shown} are outside {_range(scheme)}{hint}"
    if not np.asarray(counts)[: scheme.num_classes].any():
        return "unlabelled", (
            f"{mask_path}: no pixel is labelled (every value is {scheme.ignore_index}, "
            "unlabelled), so the pair cannot teach a model anything"
        )
    if known.declared:
        return None  # the team said which scheme; ids inside it are theirs to mean
    alike = look_alike(counts, scheme)
    if alike is None:
        return None
    others, reason = alike
    names = " or ".join(s.name for s in others)
    return "foreign_scheme", (
        f"{mask_path}: its ids look like {names} labels, not {scheme.name} ({reason}); skipped: "
        f'a {DATASET_SCHEME_FILE} naming the scheme settles it, e.g. {{"scheme": "{others[0].name}"}}'
    )
