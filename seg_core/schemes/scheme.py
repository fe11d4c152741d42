"""A label scheme as data: which classes a mask's ids stand for, and what each class means to the
figures (its role), so that a flooded share, a damage count or a legend is computed from roles and
never from a literal id.

    scheme = builtin("rescuenet")
    scheme.ids(role=BUILDING)               # every building class, whatever its damage level
    scheme.ids(flooded=True)                 # every class that marks flood water
    scheme.damage_of(4)                      # "Major"

The classes a scheme lists are the mask ids 0..N-1 in order; `ignore_index` (255 by default) marks
pixels no loss or metric counts. Built in: `harvey` (the default), `floodnet`, `rescuenet`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seg_core.schemes import classes as harvey_classes

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
DEFAULT_IGNORE_INDEX = 255
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

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def palette(self) -> np.ndarray:
        """(N, 3) uint8 indexed by class id."""
        return np.array([c.color for c in self.classes], dtype=np.uint8)

    def ids(
        self, role: str | None = None, *, flooded: bool | None = None, blocked: bool | None = None
    ) -> tuple[int, ...]:
        """Ids of the classes matching every given condition (role, flooded, blocked)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        return tuple(
            c.id
            for c in self.classes
            if (role is None or c.role == role)
            and (flooded is None or c.flooded == flooded)
            and (blocked is None or c.blocked == blocked)
        )

    def has_role(self, role: str) -> bool:
        return bool(self.ids(role))

    def damage_of(self, class_id: int) -> str | None:
        return self.classes[class_id].damage

    @property
    def grades_damage(self) -> bool:
        return any(c.damage is not None for c in self.classes)

    def class_id(self, name: str) -> int:
        """The id of a class by its exact name (case-insensitive)."""
        for c in self.classes:
            if c.name.lower() == name.lower():
                return c.id
        raise ValueError(
            f"unknown class {name!r} in scheme {self.name!r}; valid names: {', '.join(self.names)}"
        )

    def colorize(self, mask: np.ndarray) -> np.ndarray:
        """HxW ids to HxWx3 uint8 colours; ids outside the scheme are drawn black."""
        mask = np.asarray(mask)
        safe = np.where(mask < self.num_classes, mask, 0).astype(np.intp)
        return self.palette[safe]

    def to_dict(self) -> dict:
        """Plain values for a checkpoint's meta, ONNX metadata or a classes.json."""
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


def _harvey() -> LabelScheme:
    roles = {
        "Background": BACKGROUND,
        "Property Roof": BUILDING,
        "Secondary Structure": SECONDARY_STRUCTURE,
        "Swimming Pool": POOL,
        "Vehicle": VEHICLE,
        "Grass": VEGETATION,
        "Trees/Shrubs": VEGETATION,
        "Road/Highway": ROAD,
        "Dense Vegetation/Forest": VEGETATION,
        "Water Body": WATER,
        "Flooded": FLOODED,
        "Boat": BOAT,
    }
    counted = set(harvey_classes.OBJECT_CLASS_IDS)
    return LabelScheme(
        "harvey",
        tuple(
            SchemeClass(
                c.id,
                c.name,
                c.color,
                role=roles.get(c.name, OTHER),
                flooded=c.name == "Flooded",
                counted=c.id in counted,
            )
            for c in harvey_classes.CLASSES
        ),
        harvey_classes.IGNORE_INDEX,
    )


def _floodnet() -> LabelScheme:
    # FloodNet (Rahnemoonfar et al. 2021, Hurricane Harvey sUAV): ids as its label PNGs store them.
    spec = [
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
    ]
    return LabelScheme(
        "floodnet", tuple(SchemeClass(i, n, c, role=r, **kw) for i, (n, c, r, kw) in enumerate(spec))
    )


def _rescuenet() -> LabelScheme:
    # RescueNet (Rahnemoonfar et al. 2023, Hurricane Michael sUAV), current 11-class release.
    spec = [
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
    ]
    return LabelScheme(
        "rescuenet", tuple(SchemeClass(i, n, c, role=r, **kw) for i, (n, c, r, kw) in enumerate(spec))
    )


HARVEY = _harvey()
BUILTIN: dict[str, LabelScheme] = {s.name: s for s in (HARVEY, _floodnet(), _rescuenet())}
DEFAULT_SCHEME = "harvey"  # datasets without a classes.json and checkpoints without a scheme


def builtin(name: str) -> LabelScheme:
    """A built-in scheme by name."""
    try:
        return BUILTIN[name.lower()]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; built in: {', '.join(BUILTIN)}") from None
