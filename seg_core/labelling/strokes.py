"""Which class a canvas drawing was made with, whatever the scheme's colours.

The drawing canvas reports each object with its colour only, and an object drawn just before the
analyst picked another class reaches Python after the pick; so every class draws in a colour of
its own and the colour names the class. Schemes may give two classes one colour (a team's own
classes.json often does), so the stroke colours are made unique by construction: a class whose
colour an earlier class already draws in gets the nearest free blue value (one step apart is not
visible on the canvas), and decoding goes through the same table.
"""

from __future__ import annotations

from functools import lru_cache

from seg_core.schemes.scheme import BACKGROUND, LabelScheme


@lru_cache(maxsize=16)
def stroke_colours(scheme: LabelScheme) -> tuple[str, ...]:
    """'#rrggbb' per class id, all different; a class keeps its own colour when no earlier class
    took it (so a scheme of unique colours draws in exactly its colours)."""
    taken: set[str] = set()
    colours = []
    for cls in scheme.classes:
        red, green, blue = cls.color
        for step in range(256):  # at most 255 classes: one of 256 blue values is free
            candidate = f"#{red:02x}{green:02x}{(blue + step) % 256:02x}"
            if candidate not in taken:
                break
        taken.add(candidate)
        colours.append(candidate)
    return tuple(colours)


@lru_cache(maxsize=16)
def _class_by_colour(scheme: LabelScheme) -> dict[str, int]:
    """`stroke_colours` read backwards, built once per scheme (every canvas object looks it up)."""
    return {colour: class_id for class_id, colour in enumerate(stroke_colours(scheme))}


def eraser_class(scheme: LabelScheme) -> int:
    """What the eraser paints: the scheme's first background class, else id 0."""
    ids = scheme.ids(BACKGROUND)
    return ids[0] if ids else 0


def object_class(obj: dict, default: int, scheme: LabelScheme) -> int:
    """The class a canvas object was drawn with: its colour ('#rrggbb' plus the canvas's alpha
    digits; strokes carry it in `stroke`, filled shapes in `fill`) read through `stroke_colours`,
    else `default`."""
    kind = str(obj.get("type", "")).lower()
    colour = obj.get("stroke") if kind == "path" else obj.get("fill")
    if isinstance(colour, str) and colour.startswith("#") and len(colour) >= 7:
        return _class_by_colour(scheme).get(colour[:7].lower(), default)
    return default
