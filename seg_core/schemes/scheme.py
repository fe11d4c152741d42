"""A label scheme as data: which classes a mask's ids stand for, and what each class means to the
figures (its role), so that a flooded share, a damage count or a legend is computed from roles and
never from a literal id.

    scheme = builtin("rescuenet")
    scheme.ids(BUILDING)                     # every building class, whatever its damage level
    scheme.ids(flooded=True)                 # every class that marks flood water
    scheme.damage_of(4)                      # "Major"

The classes a scheme lists are the mask ids 0..N-1 in order; `ignore_index` marks pixels no loss
or metric counts. Built in: `harvey` (the default), `floodnet`, `rescuenet`. A dataset declares
its own in a `classes.json` (`seg_core.schemes.files`); a checkpoint and an ONNX model carry
theirs (`to_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Roles: what a class is for the figures. A class has exactly one.
BACKGROUND = "background"
BUILDING = "building"  # a main structure: roofs, houses (damage levels and flooding are attributes)
SECONDARY_STRUCTURE = "secondary_structure"  # sheds, garages, carports
ROAD = "road"  # roads and highways (blocked and flooded are attributes)
FLOODED = "flooded"  # flood water over ground that is neither a building nor a road
WATER = "water"  # permanent water: rivers, lakes, bayous
VEHICLE = "vehicle"
BOAT = "boat"
POOL = "pool"
VEGETATION = "vegetation"  # grass, trees, forest
OTHER = "other"  # anything no figure needs by role (chimneys, antennas, ...)
ROLES = (
    BACKGROUND,
    BUILDING,
    SECONDARY_STRUCTURE,
    ROAD,
    FLOODED,
    WATER,
    VEHICLE,
    BOAT,
    POOL,
    VEGETATION,
    OTHER,
)

# FEMA's preliminary damage assessment levels for a structure, least to most damaged.
# ("Inaccessible" is a field grade for a structure nobody could see; imagery never assigns it.)
DAMAGE_LEVELS = ("No damage", "Affected", "Minor", "Major", "Destroyed")
# The mask value of pixels no loss or metric counts inside StormSeg: what padding and affine
# borders invent, the usual "void" of 8-bit masks. A scheme that declares another ignore value
# has it read as this one when its masks are loaded.
IGNORE_INDEX = 255
DEFAULT_IGNORE_INDEX = IGNORE_INDEX
MAX_CLASSES = 255  # ids are 8-bit mask values and 255 is the ignore index


@dataclass(frozen=True)
class SchemeClass:
    """One class of a scheme.

    Attributes:
        id: the mask value (0..N-1, in the scheme's order).
        name: as the dataset publishes it.
        color: display RGB.
        role: one of ROLES.
        flooded: the class marks flood water (Harvey's Flooded, FloodNet's building-flooded and
            road-flooded).
        damage: for building classes that grade damage, one of DAMAGE_LEVELS.
        blocked: for road classes, the road is blocked (debris, trees).
        counted: discrete objects, counted as connected components in the statistics.
    """

    id: int
    name: str
    color: tuple[int, int, int]
    role: str = OTHER
    flooded: bool = False
    damage: str | None = None
    blocked: bool = False
    counted: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"class {self.name!r}: unknown role {self.role!r}; roles: {', '.join(ROLES)}")
        if self.damage is not None and self.damage not in DAMAGE_LEVELS:
            raise ValueError(
                f"class {self.name!r}: unknown damage level {self.damage!r}; levels: {', '.join(DAMAGE_LEVELS)}"
            )
        if self.damage is not None and self.role != BUILDING:
            raise ValueError(f"class {self.name!r}: only a building class has a damage level")

    @property
    def hex(self) -> str:
        r, g, b = self.color
        return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True)
class LabelScheme:
    """Ordered classes (ids 0..N-1), the ignore index, and the roles figures read."""

    name: str
    classes: tuple[SchemeClass, ...]
    ignore_index: int = DEFAULT_IGNORE_INDEX

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError(f"scheme {self.name!r} has no classes")
        if len(self.classes) > MAX_CLASSES:
            raise ValueError(f"scheme {self.name!r} has {len(self.classes)} classes; at most {MAX_CLASSES}")
        for position, cls in enumerate(self.classes):
            if cls.id != position:
                raise ValueError(
                    f"scheme {self.name!r}: class {cls.name!r} has id {cls.id}, expected {position} "
                    "(ids run 0..N-1 in order)"
                )
        if not len(self.classes) <= self.ignore_index <= 255:
            raise ValueError(
                f"scheme {self.name!r}: ignore index {self.ignore_index} must lie outside the class ids, "
                f"in {len(self.classes)}..255"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @cached_property
    def palette(self) -> np.ndarray:
        """(N, 3) uint8 indexed by class id (read-only)."""
        palette = np.array([c.color for c in self.classes], dtype=np.uint8)
        palette.setflags(write=False)
        return palette

    def describe(self) -> str:
        """'rescuenet (11 classes, grades damage)' for reports and errors."""
        return f"{self.name} ({self.num_classes} classes{', grades damage' if self.grades_damage else ''})"

    # --- roles ------------------------------------------------------------------------------------

    def ids(
        self,
        role: str | None = None,
        *,
        flooded: bool | None = None,
        blocked: bool | None = None,
        counted: bool | None = None,
        damage: str | None = None,
    ) -> tuple[int, ...]:
        """Ids of the classes matching every given condition (role, flooded, blocked, counted,
        damage level)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if damage is not None and damage not in DAMAGE_LEVELS:
            raise ValueError(f"unknown damage level {damage!r}; levels: {', '.join(DAMAGE_LEVELS)}")
        return tuple(
            c.id
            for c in self.classes
            if (role is None or c.role == role)
            and (flooded is None or c.flooded == flooded)
            and (blocked is None or c.blocked == blocked)
            and (counted is None or c.counted == counted)
            and (damage is None or c.damage == damage)
        )

    def has_role(self, role: str) -> bool:
        return bool(self.ids(role))

    def damage_of(self, class_id: int) -> str | None:
        return self.classes[class_id].damage

    @property
    def grades_damage(self) -> bool:
        return any(c.damage is not None for c in self.classes)

    @property
    def damage_levels(self) -> tuple[str, ...]:
        """The FEMA levels this scheme's classes grade, least to most damaged."""
        graded = {c.damage for c in self.classes if c.damage is not None}
        return tuple(level for level in DAMAGE_LEVELS if level in graded)

    def class_id(self, name: str) -> int:
        """The id of a class by its exact name (case-insensitive)."""
        for c in self.classes:
            if c.name.lower() == name.lower():
                return c.id
        raise ValueError(
            f"unknown class {name!r} in scheme {self.name!r}; valid names: {', '.join(self.names)}"
        )

    # --- colours ----------------------------------------------------------------------------------

    def hex_color(self, class_id: int) -> str:
        """'#rrggbb' for a class id."""
        return self.classes[class_id].hex

    def colorize(self, mask: np.ndarray) -> np.ndarray:
        """HxW ids to HxWx3 uint8 colours; ids outside the scheme are drawn black (so a corrupt
        mask can still be looked at)."""
        mask = np.asarray(mask)
        safe = np.where(mask < self.num_classes, mask, 0).astype(np.intp)
        return self.palette[safe]

    def pil_palette(self) -> list[int]:
        """A flat 768-entry palette for `PIL.Image.putpalette` (unused slots black)."""
        flat = self.palette.reshape(-1).tolist()
        return flat + [0] * (768 - len(flat))

    def legend_entries(self, mask: np.ndarray | None = None, include_absent: bool = False) -> list[dict]:
        """Legend rows: id, name, hex colour and, when a mask is given, its pixel share.

        Returns:
            ``{"id", "name", "color", "share"}`` dicts ordered by share (descending) when a mask
            is given, else by id. ``share`` is None without a mask.
        """
        if mask is None:
            return [{"id": c.id, "name": c.name, "color": c.hex, "share": None} for c in self.classes]
        flat = np.asarray(mask).reshape(-1)
        counts = np.bincount(flat, minlength=self.num_classes)[: self.num_classes]
        total = max(int(flat.size), 1)
        rows = [
            {"id": c.id, "name": c.name, "color": c.hex, "share": float(counts[c.id]) / total}
            for c in self.classes
            if include_absent or counts[c.id] > 0
        ]
        return sorted(rows, key=lambda r: -r["share"])

    def to_dict(self) -> dict:
        """Plain values for a checkpoint's meta, ONNX metadata or a classes.json
        (`seg_core.schemes.files.scheme_from_dict` reads them back)."""
        return {
            "name": self.name,
            "ignore_index": self.ignore_index,
            "classes": [
                {
                    "id": c.id,
                    "name": c.name,
                    "color": list(c.color),
                    "role": c.role,
                    **({"flooded": True} if c.flooded else {}),
                    **({"damage": c.damage} if c.damage else {}),
                    **({"blocked": True} if c.blocked else {}),
                    **({"counted": True} if c.counted else {}),
                }
                for c in self.classes
            ],
        }


# --- built-in schemes ---------------------------------------------------------------------------

# The 25 Hurricane Harvey classes. Their palette was chosen so that the classes analysts compare
# most often are far apart in RGB: Flooded (violet) vs Water Body (navy) vs Swimming Pool (cyan);
# Property Roof (red) vs Road/Highway (grey); Grass (light green) vs Trees/Shrubs (green). Boats
# are white so they pop on flood water. `tests/test_classes.py` keeps every pair 60 RGB units apart.
# (name, colour, role, attributes)
_HARVEY = (
    ("Background", (0, 0, 0), BACKGROUND, {}),
    ("Property Roof", (230, 25, 75), BUILDING, {"counted": True}),
    ("Secondary Structure", (245, 130, 48), SECONDARY_STRUCTURE, {"counted": True}),
    ("Swimming Pool", (0, 230, 230), POOL, {"counted": True}),
    ("Vehicle", (255, 225, 25), VEHICLE, {"counted": True}),
    ("Grass", (170, 240, 110), VEGETATION, {}),
    ("Trees/Shrubs", (30, 150, 50), VEGETATION, {}),
    ("Solar Panels", (60, 80, 160), OTHER, {"counted": True}),
    ("Chimney", (128, 0, 0), OTHER, {}),
    ("Street Light", (255, 255, 150), OTHER, {}),
    ("Window", (170, 110, 40), OTHER, {}),
    ("Satellite Antenna", (255, 150, 255), OTHER, {}),
    ("Garbage Bins", (90, 130, 20), OTHER, {"counted": True}),
    ("Trampoline", (240, 60, 200), OTHER, {"counted": True}),
    ("Road/Highway", (128, 128, 128), ROAD, {}),
    ("Under Construction/In Progress Status", (200, 160, 120), OTHER, {}),
    ("Power Lines & Cables", (0, 255, 128), OTHER, {}),
    ("Water Tank/Oil Tank", (0, 128, 128), OTHER, {"counted": True}),
    ("Parking Area - Commercial", (190, 190, 230), OTHER, {}),
    ("Sports Complex/Arena", (180, 255, 200), OTHER, {}),
    ("Industrial Site", (100, 70, 50), OTHER, {}),
    ("Dense Vegetation/Forest", (0, 80, 30), VEGETATION, {}),
    ("Water Body", (0, 0, 150), WATER, {}),
    ("Flooded", (150, 0, 255), FLOODED, {"flooded": True}),
    ("Boat", (255, 255, 255), BOAT, {"counted": True}),
)

# FloodNet (Rahnemoonfar et al. 2021, Hurricane Harvey sUAV), ids as its label PNGs store them
# (github.com/BinaLab/FloodNet-Supervised_v1.0, README: the ten classes in this order). FloodNet
# publishes grey id masks and no palette file; these are the colours of BinaLab's own palette for
# its Harvey data (RescueNet repository, DeepLabv3+_RescueNet/utils/palette.py, Harvey_palette_all,
# entries 0-7 and grass) and RescueNet's pool colour, the colours the FloodNet figures show.
_FLOODNET = (
    ("background", (0, 0, 0), BACKGROUND, {}),
    ("building-flooded", (255, 0, 0), BUILDING, {"flooded": True, "counted": True}),
    ("building-non-flooded", (180, 120, 120), BUILDING, {"counted": True}),
    ("road-flooded", (160, 150, 20), ROAD, {"flooded": True}),
    ("road-non-flooded", (140, 140, 140), ROAD, {}),
    ("water", (61, 230, 250), WATER, {}),
    ("tree", (0, 82, 255), VEGETATION, {}),
    ("vehicle", (255, 0, 245), VEHICLE, {"counted": True}),
    ("pool", (255, 235, 0), POOL, {"counted": True}),
    ("grass", (4, 250, 7), VEGETATION, {}),
)

# RescueNet (Rahnemoonfar et al. 2023, Hurricane Michael sUAV), current 11-class release: ids and
# colours of its loader's `color_encoding` (github.com/BinaLab/RescueNet-A-High-Resolution-Post-
# Disaster-UAV-Dataset-for-Semantic-Segmentation, Segmentation-Experiments/data/rescuenet.py),
# which is how its label PNGs store them (the README lists road-clear/blocked before vehicle, the
# loader and masks put vehicle at 6). "medium damage" there is FEMA's Minor.
_RESCUENET = (
    ("background", (0, 0, 0), BACKGROUND, {}),
    ("water", (61, 230, 250), WATER, {}),
    ("building-no-damage", (180, 120, 120), BUILDING, {"damage": "No damage", "counted": True}),
    ("building-minor-damage", (235, 255, 7), BUILDING, {"damage": "Minor", "counted": True}),
    ("building-major-damage", (255, 184, 6), BUILDING, {"damage": "Major", "counted": True}),
    ("building-total-destruction", (255, 0, 0), BUILDING, {"damage": "Destroyed", "counted": True}),
    ("vehicle", (255, 0, 245), VEHICLE, {"counted": True}),
    ("road-clear", (140, 140, 140), ROAD, {}),
    ("road-blocked", (160, 150, 20), ROAD, {"blocked": True}),
    ("tree", (4, 250, 7), VEGETATION, {}),
    ("pool", (255, 235, 0), POOL, {"counted": True}),
)


def _table(name: str, spec: tuple) -> LabelScheme:
    return LabelScheme(
        name, tuple(SchemeClass(i, n, c, role=r, **kw) for i, (n, c, r, kw) in enumerate(spec))
    )


HARVEY = _table("harvey", _HARVEY)
FLOODNET = _table("floodnet", _FLOODNET)
RESCUENET = _table("rescuenet", _RESCUENET)
BUILTIN: dict[str, LabelScheme] = {s.name: s for s in (HARVEY, FLOODNET, RESCUENET)}
DEFAULT_SCHEME = "harvey"  # datasets without a classes.json and checkpoints without a scheme


def builtin(name: str) -> LabelScheme:
    """A built-in scheme by name (case-insensitive)."""
    try:
        return BUILTIN[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; built in: {', '.join(BUILTIN)}") from None
