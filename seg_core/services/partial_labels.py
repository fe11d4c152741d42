"""Partial labels for the Label page and `python -m seg_core partial-labels`: which classes an
analyst labelled on a photo, and what a semi-supervised fine-tune will draw on.

Marking a photo "labelled only for roads" changes no mask: it is a statement in the dataset's
`partial_labels.json` (seg_core.datasets.partial) that training reads; the saved mask stays as
the analyst left it, so unmarking gives the full label back.
"""

from __future__ import annotations

from pathlib import Path

from seg_core.datasets.partial import read_partial_labels, update_partial_labels
from seg_core.datasets.unlabelled import unlabelled_photos
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.schemes.files import read_dataset_scheme
from seg_core.schemes.scheme import DEFAULT_SCHEME, builtin
from seg_core.team import access


def class_names(dataset: str | Path) -> tuple[str, ...]:
    """The names of the dataset's classes, by id (its classes.json, else the default scheme)."""
    return (read_dataset_scheme(dataset) or builtin(DEFAULT_SCHEME)).names


def labelled_classes(dataset: str | Path, stem: str) -> list[int]:
    """The classes `stem` is marked as labelled for; [] when every class is (a full label)."""
    labels = read_partial_labels(dataset)
    return list(labels.labelled_only.get(stem, ())) if labels else []


def mark_labelled_classes(
    dataset: str | Path, stem: str, class_ids: list[int], actor: access.Actor | None = None
) -> str:
    """Record that only `class_ids` are labelled on `stem` ([] or every class: all of them);
    returns a sentence for the page. Analysts and admins only (`actor`; None: the owner).

    Raises:
        ValueError: the photo is not in the dataset, or a class id is out of range.
        AccessDenied: `actor` may not save labels.
    """
    store = LabelStore(dataset)
    store.image_path(stem)  # ValueError naming the photo when it is gone
    access.authorize(
        actor, "label.save", RunRegistry(), target=f"{store.root.name}/{stem} (labelled classes)"
    )
    labels = update_partial_labels(store.root, lambda labels: labels.set_labelled_only(stem, class_ids))
    chosen = sorted(set(class_ids))
    if not chosen or len(chosen) == labels.scheme.num_classes:
        return f"{stem}: every class counts as labelled (a full label)."
    names = ", ".join(labels.scheme.names[c] for c in chosen)
    return (
        f"{stem}: only {names} labelled; training reads the photo's other pixels as "
        f'"not {names}", never as Background.'
    )


def mask_code(dataset: str | Path, classes: list[int], one_of: bool) -> tuple[int, str]:
    """The mask value to write for "one of `classes`" (`one_of`) or "none of `classes`", declared
    in the dataset's sidecar if new; returns it and a sentence saying what it means.

    Raises:
        ValueError: no class, every class, or a class id out of range (the message says which).
    """
    if not Path(dataset).is_dir():
        raise ValueError(f"{dataset}: no such dataset folder")

    def declare(labels) -> int:  # allocates the code once; later calls find it
        return labels.code_for_one_of(classes) if one_of else labels.code_for(classes)

    labels = update_partial_labels(Path(dataset), declare)
    value = declare(labels)
    named = ", ".join(labels.scheme.names[c] for c in sorted(set(classes)))
    meaning = f"one of {named}" if one_of else f"none of {named} (every other class stays possible)"
    return value, f"mask value {value} in {Path(dataset).name}: {meaning}"


# CPU seconds one unlabelled view adds to a fine-tune: its pseudo-labelling forward pass and its
# forward and backward in the batch, at 320 px crops on one thread (docs/benchmarks-analysis.md
# section 22: 0.63-0.67 s in 10-, 30- and 90-epoch runs on a quiet machine; 2.6 s at load 9-10).
SECONDS_PER_UNLABELLED_VIEW = 0.65


def unlabelled_cost(labelled_photos: int) -> dict:
    """What ticking "also learn from the unlabelled photos" adds to a default fine-tune on
    `labelled_photos`: {'views': unlabelled views drawn, 'cpu_minutes': their estimated cost}."""
    from seg_core.training.config import TrainConfig
    from seg_core.training.finetune import FineTuneSchedule

    schedule = FineTuneSchedule()
    batch = max(1, min(schedule.batch_size, labelled_photos))
    views = schedule.epochs * max(1, labelled_photos // batch) * TrainConfig().unlabelled_per_batch
    return {"views": views, "cpu_minutes": views * SECONDS_PER_UNLABELLED_VIEW / 60}


def unlabelled_count(dataset: str | Path) -> int:
    """How many of the dataset's photos have no mask (what `--unlabelled DATASET` would draw on)."""
    try:
        return len(unlabelled_photos(dataset))
    except ValueError:
        return 0
