"""Label sets for the pages and the CLI: the set a dataset's labels make now, the sets frozen
for it, the set a run trained on ("which labels made this model"), what changed between two,
and a set exported as a dataset of its own (`labelling.labelset`)."""

from __future__ import annotations

from pathlib import Path

from seg_core.datasets.discovery import validate_dataset
from seg_core.labelling import labelset
from seg_core.labelling.labelset import LabelSet
from seg_core.runs.registry import RunRegistry, validate_run_id


def current(dataset: str | Path, include_unreviewed: bool = False) -> LabelSet:
    """The set a run started now would train on (not frozen, nothing written)."""
    report = validate_dataset(dataset)
    return labelset.choose(report.root, report.pairs, include_unreviewed)


def saved(dataset: str | Path) -> list[LabelSet]:
    return labelset.saved_sets(dataset)


def of_run(run_id: str, registry: RunRegistry | None = None) -> LabelSet | None:
    """The label set a run trained on, from its checkpoint folder; None for a run that started
    before label sets were recorded (or has not started)."""
    registry = registry or RunRegistry()
    record = registry.get(validate_run_id(run_id)).checkpoint_dir / labelset.RUN_RECORD
    return labelset.load(record) if record.is_file() else None


def find(reference: str, dataset: str | Path | None = None, registry: RunRegistry | None = None) -> LabelSet:
    """A set by run id, by manifest path, or by set id (`ls-...`, with its dataset)."""
    if reference.startswith("ls-"):
        if dataset is None:
            raise ValueError(f"label set {reference}: name its dataset too (--data DATASET)")
        return labelset.find(dataset, reference)
    if Path(reference).is_file():
        return labelset.load(reference)
    found = of_run(reference, registry)
    if found is None:
        raise ValueError(f"run {reference} has no label set record (it started before label sets were kept)")
    return found


def compare(old: LabelSet, new: LabelSet) -> dict:
    return labelset.compare(old, new)


def export(label_set: LabelSet, out: str | Path) -> Path:
    """The set as a Harvey-layout dataset at `out` (a new folder): its photos, its masks as
    recorded (checksums verified) and its manifest."""
    return labelset.export(label_set, out)


def freeze_current(dataset: str | Path, include_unreviewed: bool = False) -> LabelSet:
    """Freeze the set the labels make now (with a label store; else it is used in place), so it
    can be exported or compared later as it is now. ValueError when it holds no mask."""
    label_set = labelset.refuse_empty(current(dataset, include_unreviewed))
    return labelset.freeze(label_set) if labelset.has_label_store(dataset) else label_set


def rows(label_set: LabelSet) -> list[dict]:
    """One row per photo of the set, and one per photo left out, for tables."""
    taken = [
        {
            "photo": p.stem,
            "in set": "yes",
            "state": p.state,
            "saved by": p.by or "",
            "reviewer": p.reviewer or "",
            "mask sha256": p.mask_sha256[:12],
        }
        for p in label_set.photos
    ]
    left = [
        {
            "photo": item["stem"],
            "in set": "no",
            "state": item["state"],
            "saved by": "",
            "reviewer": "",
            "mask sha256": "",
        }
        for item in label_set.left_out
    ]
    return taken + left
