"""The Harvey scheme under its old module names, for the app pages until they read the scheme of
the model or dataset at hand. The engine never imports this module (tests/test_scheme.py checks):
it reads `seg_core.schemes.scheme.LabelScheme` values, whose `HARVEY` holds the table.
"""

from __future__ import annotations

from seg_core.schemes.scheme import HARVEY, IGNORE_INDEX, SchemeClass

SegClass = SchemeClass
CLASSES: tuple[SchemeClass, ...] = HARVEY.classes
NUM_CLASSES = HARVEY.num_classes
CLASS_NAMES: tuple[str, ...] = HARVEY.names
PALETTE = HARVEY.palette
OBJECT_CLASS_IDS: tuple[int, ...] = HARVEY.ids(counted=True)
class_id = HARVEY.class_id
colorize = HARVEY.colorize
pil_palette = HARVEY.pil_palette
legend_entries = HARVEY.legend_entries
hex_color = HARVEY.hex_color

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "OBJECT_CLASS_IDS",
    "PALETTE",
    "SegClass",
    "class_id",
    "colorize",
    "hex_color",
    "legend_entries",
    "pil_palette",
]
