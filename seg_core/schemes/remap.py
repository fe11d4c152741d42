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
from seg_core.schemes.mapping import ClassMapping, read_mapping
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
