"""Schemes written down: a dataset's `classes.json`, and the scheme a checkpoint or an ONNX model
records in its metadata.

`<dataset>/classes.json` (the same sidecar pattern as `gsd.json`) either names a built-in scheme,

    {"scheme": "rescuenet"}

or declares a team's own classes, ids 0..N-1 with a colour and a role each:

    {"name": "county-2026",
     "classes": [
       {"id": 0, "name": "background", "color": "#000000", "role": "background"},
       {"id": 1, "name": "house", "color": [230, 25, 75], "role": "building", "damage": "No damage"},
       {"id": 2, "name": "house-roof-off", "color": [255, 184, 6], "role": "building", "damage": "Major"},
       {"id": 3, "name": "flood", "color": "#9600ff", "role": "flooded", "flooded": true}]}

A file that cannot be used is refused with one sentence per problem (`SchemeError.problems`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from seg_core.core.atomic import atomic_write_bytes
from seg_core.schemes.scheme import (
    BUILDING,
    BUILTIN,
    DAMAGE_LEVELS,
    DEFAULT_SCHEME,
    HARVEY,
    MAX_CLASSES,
    ROLES,
    LabelScheme,
    SchemeClass,
    builtin,
)

DATASET_SCHEME_FILE = "classes.json"
# Where a checkpoint's meta and an ONNX model's metadata keep their scheme (`LabelScheme.to_dict`).
META_KEY = "scheme"
_CLASS_KEYS = ("id", "name", "color", "role", "flooded", "damage", "blocked", "counted")
_FLAGS = ("flooded", "blocked", "counted")
_HEX = re.compile(r"#([0-9a-fA-F]{6})")


class SchemeError(ValueError):
    """A scheme that cannot be used; `problems` holds one sentence per problem."""

    def __init__(self, where: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


@dataclass(frozen=True)
class DatasetScheme:
    """A dataset's scheme and where it came from.

    Attributes:
        scheme: the classes its masks' ids stand for.
        source: "classes.json" (declared beside the dataset), "detected" (from the ids of a
            FloodNet/RescueNet distribution folder) or "default" (no file: read as harvey).
        note: one sentence for reports, saying which and why.
    """

    scheme: LabelScheme
    source: str
    note: str

    @property
    def declared(self) -> bool:
        return self.source == DATASET_SCHEME_FILE


def _colour(value: object, label: str, problems: list[str]) -> tuple[int, int, int] | None:
    if isinstance(value, str) and _HEX.fullmatch(value.strip()):
        text = value.strip()[1:]
        return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    problems.append(f"{label} has colour {value!r}; give '#rrggbb' or three whole numbers 0..255")
    return None


def _class(entry: object, position: int, problems: list[str]) -> SchemeClass | None:
    """One class entry, or None with its problems appended (every one, not only the first)."""
    if not isinstance(entry, dict):
        problems.append(f"class #{position + 1} is {entry!r}, not an object with id, name, color and role")
        return None
    start = len(problems)
    label = f"class #{position + 1}" + (f" ({entry['name']!r})" if isinstance(entry.get("name"), str) else "")
    unknown = sorted(set(entry) - set(_CLASS_KEYS))
    if unknown:
        problems.append(f"{label} has unknown key(s) {', '.join(unknown)}; keys: {', '.join(_CLASS_KEYS)}")
    class_id = entry.get("id")
    if isinstance(class_id, bool) or not isinstance(class_id, int):
        problems.append(f"{label} has id {class_id!r}; ids are whole numbers 0..N-1")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label} has no name")
    colour = None
    if "color" not in entry:
        problems.append(f"{label} has no colour (key 'color': '#rrggbb' or [r, g, b])")
    else:
        colour = _colour(entry["color"], label, problems)
    role = entry.get("role")
    if role not in ROLES:
        problems.append(f"{label} has unknown role {role!r}; roles: {', '.join(ROLES)}")
    damage = entry.get("damage")
    if damage is not None and damage not in DAMAGE_LEVELS:
        problems.append(f"{label} has unknown damage level {damage!r}; levels: {', '.join(DAMAGE_LEVELS)}")
    elif damage is not None and role in ROLES and role != BUILDING:
        problems.append(f"{label} has a damage level but role {role!r}; only a building grades damage")
    for flag in _FLAGS:
        if not isinstance(entry.get(flag, False), bool):
            problems.append(f"{label} has {flag} {entry[flag]!r}; use true or false")
    if len(problems) > start:
        return None
    flags = {flag: bool(entry.get(flag, False)) for flag in _FLAGS}
    return SchemeClass(class_id, name.strip(), colour, role=role, damage=damage, **flags)


def _declared(values: dict, problems: list[str]) -> tuple[str, tuple[SchemeClass, ...], int]:
    entries = values.get("classes")
    if not isinstance(entries, list) or not entries:
        problems.append('"classes" must be a non-empty list of classes (or name a built-in: {"scheme": ...})')
        return "", (), 255
    if len(entries) > MAX_CLASSES:
        problems.append(
            f"declares {len(entries)} classes; at most {MAX_CLASSES} (mask ids are 8-bit and 255 "
            "marks ignored pixels)"
        )
        return "", (), 255
    found = [c for c in (_class(e, i, problems) for i, e in enumerate(entries)) if c is not None]
    by_id: dict[int, SchemeClass] = {}
    for cls in found:
        if cls.id in by_id:
            problems.append(f"id {cls.id} is used twice ({by_id[cls.id].name!r} and {cls.name!r})")
        by_id.setdefault(cls.id, cls)
    seen: set[str] = set()
    for cls in found:
        if cls.name.lower() in seen:
            problems.append(f"name {cls.name!r} is used twice (names are compared ignoring case)")
        seen.add(cls.name.lower())
    if len(found) == len(entries):
        missing = sorted(set(range(len(entries))) - set(by_id))
        if missing:
            problems.append(
                f"ids must run 0..{len(entries) - 1} without gaps; {', '.join(map(str, missing[:5]))} "
                f"{'is' if len(missing) == 1 else 'are'} missing"
            )
    name = values.get("name", "custom")
    if not isinstance(name, str) or not name.strip():
        problems.append(f'"name" {name!r} must be text')
    ignore = values.get("ignore_index", 255)
    if isinstance(ignore, bool) or not isinstance(ignore, int) or not len(entries) <= ignore <= 255:
        problems.append(
            f'"ignore_index" {ignore!r} must be a whole number outside the ids, {len(entries)}..255'
        )
    classes = tuple(by_id[i] for i in sorted(by_id))
    return str(name).strip(), classes, ignore


def scheme_from_dict(values: object, where: str) -> LabelScheme:
    """A scheme from its written form: `{"scheme": "<built-in>"}` or `LabelScheme.to_dict()`'s.

    Raises:
        SchemeError: naming `where` and every problem, one sentence each.
    """
    if not isinstance(values, dict):
        raise SchemeError(where, ["must hold a JSON object (a built-in's name or a list of classes)"])
    if "scheme" in values:
        extra = sorted(set(values) - {"scheme"})
        if extra:
            raise SchemeError(
                where, [f"names built-in scheme {values['scheme']!r} and also sets {', '.join(extra)}"]
            )
        try:
            return builtin(values["scheme"])
        except ValueError as exc:
            raise SchemeError(where, [str(exc)]) from None
    problems: list[str] = []
    unknown = sorted(set(values) - {"name", "classes", "ignore_index"})
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}; keys: scheme, or name, classes, ignore_index")
    name, classes, ignore = _declared(values, problems)
    if problems:
        raise SchemeError(where, problems)
    scheme = LabelScheme(name, classes, ignore)
    known = BUILTIN.get(scheme.name)
    # A built-in's name with other classes would make two different schemes look the same.
    if known is not None and known != scheme:
        raise SchemeError(
            where, [f"is named {scheme.name!r} like the built-in scheme but lists other classes"]
        )
    return known or scheme


def read_dataset_scheme(root: str | Path) -> LabelScheme | None:
    """The scheme `<root>/classes.json` declares, or None when there is no such file.

    Raises:
        SchemeError: the file is unreadable or malformed (the message names the file).
    """
    path = Path(root) / DATASET_SCHEME_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemeError(str(path), [f"cannot be read as JSON ({exc})"]) from None
    return scheme_from_dict(values, str(path))


def write_dataset_scheme(root: str | Path, scheme: LabelScheme) -> Path:
    """Write `<root>/classes.json`: the built-in's name, or the whole scheme for a team's own."""
    values = {"scheme": scheme.name} if BUILTIN.get(scheme.name) == scheme else scheme.to_dict()
    path = Path(root) / DATASET_SCHEME_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, (json.dumps(values, indent=2) + "\n").encode())


def scheme_of_meta(meta: dict, where: str) -> LabelScheme:
    """The scheme a checkpoint's meta or an ONNX model's metadata records; harvey for files written
    before schemes were recorded (their 25 classes are the Harvey table).

    Raises:
        SchemeError: the recorded scheme is malformed, or disagrees with `num_classes`, or a file
            without a scheme is not a 25-class Harvey model.
    """
    recorded = meta.get(META_KEY)
    if recorded is None:
        if meta.get("num_classes", HARVEY.num_classes) != HARVEY.num_classes:
            raise SchemeError(
                where,
                [
                    f"records {meta.get('num_classes')!r} classes but no label scheme, so what its "
                    f"ids mean is unknown (a model without one must be {DEFAULT_SCHEME}'s "
                    f"{HARVEY.num_classes} classes)"
                ],
            )
        return HARVEY
    scheme = scheme_from_dict(recorded, f"{where}: its label scheme")
    if meta.get("num_classes") != scheme.num_classes:
        raise SchemeError(
            where,
            [
                f"its network has {meta.get('num_classes')!r} outputs but its label scheme "
                f"{scheme.name!r} has {scheme.num_classes} classes"
            ],
        )
    return scheme
