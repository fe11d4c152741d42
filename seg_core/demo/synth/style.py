"""Storm styles: what one region's imagery looks like (palette, sun, roofs, vegetation, water, scale).

A style changes the constants the planner draws from, never the order of its random draws, so
`harvey` (the defaults) gives exactly the scenes the generator gave before styles existed: the
shipped demo model's validation photos and every seeded test stay valid. Other presets are
different places, not recolours: other roof shapes and house sizes, sun from another side and
lower, more or fewer trees, another water colour and another ground sampling distance.

Directions are in the image's frame: degrees clockwise from the +x axis (east, image right),
with y pointing down (south), so 90 means the sun stands in the south and shadows fall north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RGB = tuple[int, int, int]

# Harvey's colour tables (Houston suburbs, August 2017): the generator's colours before styles.
HARVEY_ROOFS: tuple[RGB, ...] = (
    (72, 72, 76),
    (98, 96, 94),
    (126, 124, 120),
    (150, 148, 142),
    (112, 92, 74),
    (146, 128, 104),
    (136, 84, 64),
    (92, 102, 112),
    (180, 178, 170),
)
HARVEY_TREES: tuple[RGB, ...] = ((46, 68, 34), (62, 84, 40), (80, 98, 48), (56, 76, 52), (92, 104, 60))
HARVEY_FLOOD: tuple[RGB, ...] = ((128, 112, 82), (112, 106, 90), (104, 108, 80), (120, 104, 76))
HARVEY_WATER: tuple[RGB, ...] = ((60, 70, 52), (80, 76, 58), (52, 62, 60))  # darker than the flood, mostly


def _share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"StormStyle {name}={value!r} must be a share in 0..1")


def _span(name: str, lo_hi: tuple[float, float], low: float, high: float) -> None:
    lo, hi = lo_hi
    if not low <= lo <= hi <= high:
        raise ValueError(
            f"StormStyle {name}={lo_hi!r} must be (low, high) with {low} <= low <= high <= {high}"
        )


@dataclass(frozen=True)
class StormStyle:
    """One region's look; the defaults are Harvey's (Houston suburbs under muddy bayou water)."""

    name: str = "harvey"  # the registry key; written next to every photo of a dataset
    # --- palette
    grass_lush: RGB = (88, 118, 56)  # watered lawn; the ground colour where it is greenest
    grass_dry: RGB = (132, 132, 82)  # sun-burnt lawn; ground is mottled between the two
    roof_colors: tuple[RGB, ...] = HARVEY_ROOFS  # asphalt shingle greys and browns, a few tile reds
    tree_greens: tuple[RGB, ...] = HARVEY_TREES  # live oak and pine greens
    road_light: RGB = (152, 150, 144)  # concrete streets
    road_dark: RGB = (96, 96, 98)  # asphalt streets
    light_road_share: float = 0.25  # Houston streets are mostly asphalt
    concrete: RGB = (168, 164, 154)  # sidewalks, driveways, pool decks
    bare_ground: RGB = (122, 108, 80)  # bayou banks and pond rims: wet clay
    woods: RGB = (40, 62, 34)  # floor colour of dense woods under the crowns
    # --- water
    flood_colors: tuple[RGB, ...] = HARVEY_FLOOD  # muddy brown-olive flood water
    water_colors: tuple[RGB, ...] = HARVEY_WATER  # bayous and ponds: dark olive
    bayou_share: float = 0.35  # scenes with a bayou meandering through (Houston is cut by bayous)
    pond_share: float = 0.2  # scenes with a retention pond instead
    # --- sun
    sun_azimuth_deg: tuple[float, float] = (0.0, 360.0)  # Harvey's photos span all day and all headings
    shadow_length: tuple[float, float] = (0.3, 0.9)  # shadow metres per metre of height: high August sun
    shadow_strength: tuple[float, float] = (0.25, 0.6)  # 0 = overcast, 0.6 = hard sun: broken storm clouds
    # --- roofs and houses
    flat_roof_share: float = 0.0  # Houston homes have pitched roofs
    hip_roof_share: float = 0.7  # of all house roofs; the rest are gables
    house_scale: float = 1.0  # multiplies lot width and depth and the house footprint (15-22 m lots)
    # --- vegetation
    yard_trees_max: int = 3  # trees per yard are drawn from 0..this
    canopy_scale: float = 1.0  # multiplies crown radii (2-5 m yard trees)
    street_tree_share: float = 0.35  # scenes whose streets are lined with verge trees
    woods_share: float = 0.25  # scenes with a patch of dense woods between lots
    # --- scale
    ground_width_m: float = 120.0  # metres across a 4:3 frame: Harvey's 4000 px at ~3 cm/px
    notes: str = field(default="", compare=False)  # one line for the README and --help

    def __post_init__(self) -> None:
        for name in (
            "light_road_share",
            "bayou_share",
            "pond_share",
            "flat_roof_share",
            "hip_roof_share",
            "street_tree_share",
            "woods_share",
        ):
            _share(name, getattr(self, name))
        if self.bayou_share + self.pond_share > 1 or self.flat_roof_share + self.hip_roof_share > 1:
            raise ValueError(
                f"StormStyle {self.name}: bayou+pond and flat+hip roof shares must each sum to <= 1"
            )
        _span("sun_azimuth_deg", self.sun_azimuth_deg, 0.0, 360.0)
        _span("shadow_length", self.shadow_length, 0.0, 5.0)
        _span("shadow_strength", self.shadow_strength, 0.0, 1.0)
        if not 0.75 <= self.house_scale <= 2.0:  # below 0.75 a lot has no room for house and backyard
            raise ValueError(f"StormStyle house_scale={self.house_scale!r} must be in 0.75..2.0")
        if not 0.5 <= self.canopy_scale <= 2.0:
            raise ValueError(f"StormStyle canopy_scale={self.canopy_scale!r} must be in 0.5..2.0")
        if not 0 <= self.yard_trees_max <= 12:
            raise ValueError(f"StormStyle yard_trees_max={self.yard_trees_max!r} must be in 0..12")
        if not 40.0 <= self.ground_width_m <= 400.0:
            raise ValueError(f"StormStyle ground_width_m={self.ground_width_m!r} must be in 40..400 metres")
        for name in ("roof_colors", "tree_greens", "flood_colors", "water_colors"):
            if not getattr(self, name):
                raise ValueError(f"StormStyle {name} must hold at least one colour")

    @property
    def scene_area_m2(self) -> float:
        """Ground area of every scene of this style, whatever its pixel size or aspect ratio."""
        return self.ground_width_m * self.ground_width_m * 0.75

    @property
    def sun_azimuth_rad(self) -> tuple[float, float]:
        return math.radians(self.sun_azimuth_deg[0]), math.radians(self.sun_azimuth_deg[1])


HARVEY = StormStyle(
    notes="Houston suburbs: green lawns, grey shingle hip and gable roofs, muddy olive flood, sun from anywhere"
)

COASTAL = StormStyle(
    name="coastal",
    grass_lush=(186, 176, 140),  # pale dune sand with sparse grass
    grass_dry=(222, 210, 176),
    roof_colors=(
        (228, 226, 218),
        (206, 204, 196),
        (186, 98, 70),
        (204, 128, 92),
        (160, 178, 186),
        (238, 232, 214),
    ),
    tree_greens=((70, 104, 58), (88, 120, 64), (104, 124, 72)),  # palms and sea grapes: lighter greens
    road_light=(196, 190, 172),  # sand-blown concrete
    road_dark=(120, 118, 114),
    light_road_share=0.7,
    concrete=(214, 210, 198),
    bare_ground=(200, 186, 150),
    woods=(70, 96, 60),
    flood_colors=((64, 132, 150), (74, 144, 156), (56, 118, 140), (86, 150, 160)),  # storm surge: sea water
    water_colors=((36, 96, 130), (30, 84, 120), (44, 108, 138)),  # canals: deep blue
    bayou_share=0.75,  # finger canals behind the houses
    pond_share=0.1,
    sun_azimuth_deg=(20.0, 70.0),  # morning sun in the south-east: shadows fall north-west
    shadow_length=(1.3, 2.0),  # low sun
    shadow_strength=(0.45, 0.65),  # clear sky after the storm passed
    flat_roof_share=0.1,
    hip_roof_share=0.85,  # wind-resistant hip roofs
    house_scale=0.75,  # small beach houses on narrow lots
    yard_trees_max=1,
    canopy_scale=0.6,  # small palms
    street_tree_share=0.15,
    woods_share=0.0,
    ground_width_m=100.0,  # flown lower: finer detail per pixel
    notes="beach town: pale sand, blue storm-surge water and canals, small pale hip roofs, low morning sun",
)

PRAIRIE = StormStyle(
    name="prairie",
    grass_lush=(150, 132, 78),  # dry yellow-brown pasture
    grass_dry=(188, 162, 104),
    roof_colors=((196, 200, 204), (170, 176, 182), (210, 210, 206), (150, 64, 52), (118, 130, 140)),  # metal
    tree_greens=((78, 90, 50), (96, 100, 58)),  # mesquite: olive
    road_light=(176, 154, 122),  # caliche gravel roads
    road_dark=(110, 104, 98),
    light_road_share=0.8,
    concrete=(190, 180, 160),
    bare_ground=(156, 102, 70),  # red clay
    woods=(74, 80, 46),
    flood_colors=((150, 92, 62), (138, 84, 58), (160, 104, 70), (128, 82, 60)),  # red-brown clay flood
    water_colors=((112, 72, 52), (98, 66, 50)),  # stock tanks: muddy red
    bayou_share=0.15,
    pond_share=0.4,  # stock ponds
    sun_azimuth_deg=(150.0, 200.0),  # late afternoon sun in the west: shadows fall east
    shadow_length=(1.8, 2.8),  # long evening shadows
    shadow_strength=(0.5, 0.7),
    flat_roof_share=0.6,  # metal barns and ranch houses with low flat roofs
    hip_roof_share=0.1,
    house_scale=1.35,  # large ranch houses on wide lots
    yard_trees_max=1,
    canopy_scale=0.8,
    street_tree_share=0.0,
    woods_share=0.05,
    ground_width_m=140.0,
    notes="plains town: dry yellow-brown ground, sparse trees, large flat metal roofs, long evening shadows, red-brown flood",
)

FOREST = StormStyle(
    name="forest",
    grass_lush=(52, 82, 40),  # shaded understorey
    grass_dry=(74, 92, 50),
    roof_colors=(
        (44, 44, 48),
        (58, 56, 54),
        (50, 66, 54),
        (70, 52, 44),
        (36, 40, 50),
    ),  # dark shingle, green metal
    tree_greens=((24, 44, 24), (32, 52, 28), (28, 48, 36), (40, 58, 30)),  # dense dark pine and hardwood
    road_light=(120, 116, 108),
    road_dark=(70, 70, 72),
    light_road_share=0.1,
    concrete=(140, 138, 130),
    bare_ground=(84, 70, 52),  # dark leaf litter
    woods=(22, 38, 20),
    flood_colors=((76, 64, 44), (66, 58, 42), (84, 70, 48), (70, 62, 46)),  # tea-dark blackwater
    water_colors=((30, 34, 26), (38, 36, 28)),  # black tannin creeks
    bayou_share=0.45,
    pond_share=0.1,
    sun_azimuth_deg=(240.0, 300.0),  # midday sun in the north (flight heading south): shadows fall south
    shadow_length=(0.15, 0.45),  # high sun
    shadow_strength=(0.3, 0.5),
    flat_roof_share=0.0,
    hip_roof_share=0.2,  # steep gables
    house_scale=1.0,
    yard_trees_max=9,
    canopy_scale=1.5,  # tall pines and oaks
    street_tree_share=0.95,
    woods_share=0.9,
    ground_width_m=180.0,  # flown higher over the canopy: coarser ground sampling
    notes="pine-woods town: dense dark canopy, dark roofs, black creek water, high sun, flown higher (coarser GSD)",
)

STYLES: dict[str, StormStyle] = {s.name: s for s in (HARVEY, COASTAL, PRAIRIE, FOREST)}


def style_by_name(name: str) -> StormStyle:
    """The preset called `name`.

    Raises:
        ValueError: no such preset; the message lists the allowed names.
    """
    try:
        return STYLES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"storm style {name!r} is not known; choose one of {', '.join(STYLES)}") from None


def resolve_style(style: StormStyle | str) -> StormStyle:
    """A StormStyle as given, or the preset of that name."""
    return style if isinstance(style, StormStyle) else style_by_name(style)


def parse_styles(text: str) -> tuple[StormStyle, ...]:
    """'harvey,coastal' -> the presets, in order (photos of a dataset cycle through them).

    Raises:
        ValueError: empty, or a name that is not a preset.
    """
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names:
        raise ValueError(f"--style {text!r} names no style; choose one or more of {', '.join(STYLES)}")
    return tuple(style_by_name(n) for n in names)
