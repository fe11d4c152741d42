"""Which classes of one scheme stand for a class of another: how a model trained on one scheme
starts a new head for another (`seg_core.training.heads`).

A mapping file names, for classes of the target scheme, the source classes whose head weights
start it (their mean); a target class it leaves out starts fresh:

    {"from": "harvey", "to": "rescuenet",
     "classes": {"building-no-damage": ["Property Roof"],
                 "tree": ["Trees/Shrubs", "Dense Vegetation/Forest"],
                 "road-clear": "Road/Highway"}}

Without a file, `mapping_by_roles` pairs classes by name, else by role and flags (a RescueNet
damaged building starts from Harvey's Property Roof, FloodNet's road-flooded from Road/Highway).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from seg_core.schemes.files import SchemeError
from seg_core.schemes.scheme import LabelScheme, SchemeClass

BY_ROLES = "roles"


@dataclass(frozen=True)
class ClassMapping:
    """Per target class, the source classes that start it.

    Attributes:
        source, target: the two schemes (a parent model's and a new dataset's).
        sources: indexed by target id: the source ids whose head rows are averaged (empty: fresh).
        origin: "roles" or the mapping file's path.
    """

    source: LabelScheme
    target: LabelScheme
    sources: tuple[tuple[int, ...], ...]
    origin: str

    def describe(self) -> str:
        """'9 of 11 rescuenet classes start from harvey classes (roles)' for logs."""
        started = sum(1 for s in self.sources if s)
        return (
            f"{started} of {self.target.num_classes} {self.target.name} classes start from "
            f"{self.source.name} classes ({self.origin})"
        )

    def to_dict(self) -> dict:
        """Target name -> source names, for the run's lineage record."""
        return {
            self.target.names[t]: [self.source.names[s] for s in ids]
            for t, ids in enumerate(self.sources)
            if ids
        }


def _same_kind(a: SchemeClass, b: SchemeClass) -> bool:
    return a.role == b.role and a.flooded == b.flooded and a.blocked == b.blocked


def mapping_by_roles(source: LabelScheme, target: LabelScheme) -> ClassMapping:
    """Each target class starts from the source classes of the same name, else of the same role
    and flags (flooded, blocked), else of the same role; none when the source lacks the role."""
    sources = []
    for cls in target.classes:
        rules = (
            lambda s, c=cls: s.name.lower() == c.name.lower(),
            lambda s, c=cls: _same_kind(s, c),
            lambda s, c=cls: s.role == c.role,
        )
        found: tuple[int, ...] = ()
        for rule in rules:
            found = tuple(s.id for s in source.classes if rule(s))
            if found:
                break
        sources.append(found)
    return ClassMapping(source, target, tuple(sources), BY_ROLES)


def read_mapping(path: str | Path, source: LabelScheme, target: LabelScheme) -> ClassMapping:
    """A mapping file (see the module docstring) checked against the two schemes.

    Raises:
        SchemeError: unreadable, or naming classes or schemes that are not these (one sentence each).
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemeError(str(path), [f"cannot be read as a class mapping ({exc})"]) from None
    if not isinstance(values, dict) or not isinstance(values.get("classes"), dict):
        raise SchemeError(
            str(path), ['must be a JSON object whose "classes" maps target classes to source classes']
        )
    problems = []
    for key, scheme in (("from", source), ("to", target)):
        named = values.get(key)
        if named is not None and str(named).lower() != scheme.name.lower():
            problems.append(
                f'"{key}" is {named!r} but the {"parent" if key == "from" else "dataset"} scheme is {scheme.name!r}'
            )
    sources: list[tuple[int, ...]] = [()] * target.num_classes
    for target_name, names in values["classes"].items():
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append(f"{target_name!r} must map to a source class name or a list of them")
            continue
        try:
            target_id = target.class_id(target_name)
        except ValueError:
            problems.append(f"{target_name!r} is not a class of the target scheme {target.name!r}")
            continue
        ids = []
        for name in names:
            try:
                ids.append(source.class_id(name))
            except ValueError:
                problems.append(f"{name!r} is not a class of the source scheme {source.name!r}")
        sources[target_id] = tuple(ids)
    if problems:
        raise SchemeError(str(path), problems)
    return ClassMapping(source, target, tuple(sources), str(path))
