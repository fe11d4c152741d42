"""Training datasets of two schemes together: a dataset's mask ids read as the run's scheme.

The mapping file is the one a new head reads (`seg_core.schemes.mapping`), with the dataset's
scheme as "from" and the run's as "to": each run class lists the dataset classes it stands for.

    {"from": "rescuenet", "to": "harvey",
     "classes": {"Property Roof": ["building-no-damage", "building-minor-damage"],
                 "Road/Highway": ["road-clear", "road-blocked"], "Trees/Shrubs": "tree"}}

A dataset class the file does not name becomes ignored pixels (no loss, no metric): left out,
never guessed. A dataset class named under two run classes is refused: a pixel has one class.
The training loader applies the table to each mask as it reads it (`SegmentationDataset`'s
`remaps`); the files on disk stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seg_core.schemes.files import SchemeError
from seg_core.schemes.mapping import BY_ROLES, ClassMapping, mapping_by_roles, read_mapping
from seg_core.schemes.scheme import IGNORE_INDEX, LabelScheme


def remap_table(mapping: ClassMapping) -> np.ndarray:
    """256 uint8 entries: a dataset (source) id -> the run's (target) id; IGNORE_INDEX for the
    source's ignore value, ids outside the source, and source classes no target class names.

    Raises:
        SchemeError: a source class is named under two target classes.
    """
    table = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    owner: dict[int, int] = {}
    problems = []
    for target_id, source_ids in enumerate(mapping.sources):
        for source_id in source_ids:
            if source_id in owner and owner[source_id] != target_id:
                problems.append(
                    f"{mapping.source.names[source_id]!r} is mapped to both "
                    f"{mapping.target.names[owner[source_id]]!r} and {mapping.target.names[target_id]!r}; "
                    "a pixel has one class"
                )
                continue
            owner[source_id] = target_id
            table[source_id] = target_id
    if problems:
        raise SchemeError(mapping.origin, problems)
    return table


def dataset_remap(
    dataset: str | Path, dataset_scheme: LabelScheme, run_scheme: LabelScheme, mapping: str | Path | None
) -> np.ndarray | None:
    """The table that reads `dataset`'s masks as the run's scheme; None when they already are.

    Raises:
        ValueError: the schemes differ and no mapping file was given (one sentence); a mapping
            file that does not fit the two schemes (`SchemeError`, one sentence per problem).
    """
    if dataset_scheme.names == run_scheme.names:
        return None
    if not mapping:
        raise ValueError(
            f"{dataset}: its masks are in scheme {dataset_scheme.describe()} but the run trains scheme "
            f"{run_scheme.describe()}; give --mapping MAPPING.json naming, for each {run_scheme.name} "
            f"class, the {dataset_scheme.name} classes it stands for"
        )
    return remap_table(read_mapping(mapping, dataset_scheme, run_scheme))


def prelabel_table(mapping: ClassMapping, background: int) -> np.ndarray:
    """256 uint8 entries reading a model's ids (the mapping's source) as a dataset's (its target),
    for pre-labels: a model class no dataset class names becomes `background` (a pre-label is a
    draft a person corrects, and has no "ignored" pixels); one that several dataset classes name
    becomes the first of them (a Harvey roof pre-labels as RescueNet's building-no-damage: the
    model cannot see damage grades, the analyst sets them)."""
    table = np.full(256, background, dtype=np.uint8)
    claimed: set[int] = set()
    for target_id, source_ids in enumerate(mapping.sources):
        for source_id in source_ids:
            if source_id not in claimed:
                claimed.add(source_id)
                table[source_id] = target_id
    return table


def prelabel_remap(
    model_scheme: LabelScheme, dataset_scheme: LabelScheme, mapping: str | Path | None, background: int
) -> tuple[np.ndarray | None, str]:
    """The table that carries a model's pre-labels into a dataset's scheme, and a sentence saying
    how; (None, "") when the schemes are the same. `mapping`: a mapping file whose "from" is the
    model's scheme and "to" the dataset's, or "roles" (`mapping_by_roles`).

    Raises:
        ValueError: the schemes differ and no mapping was given (one sentence).
        SchemeError: a mapping file that does not fit the two schemes.
    """
    if model_scheme.names == dataset_scheme.names:
        return None, ""
    if not mapping:
        raise ValueError(
            f"the model predicts scheme {model_scheme.describe()} but the dataset is labelled in scheme "
            f"{dataset_scheme.describe()}; pre-label through a mapping (a mapping file, or by role: each "
            f"{model_scheme.name} class to the {dataset_scheme.name} class of its role), or with a model "
            "of the dataset's scheme"
        )
    if str(mapping) == BY_ROLES:
        chosen = mapping_by_roles(model_scheme, dataset_scheme)
    else:
        chosen = read_mapping(mapping, model_scheme, dataset_scheme)
    table = prelabel_table(chosen, background)
    named = sorted({s for ids in chosen.sources for s in ids})
    unnamed = [n for i, n in enumerate(model_scheme.names) if i not in named]
    pairs = ", ".join(f"{model_scheme.names[s]} → {dataset_scheme.names[table[s]]}" for s in named)
    sentence = (
        f"{model_scheme.name} pre-labels carried into {dataset_scheme.name} by {chosen.origin}: {pairs}"
    )
    if unnamed:
        sentence += f"; {', '.join(unnamed)} → {dataset_scheme.names[background]} (no class names them)"
    return table, sentence
