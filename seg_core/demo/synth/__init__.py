"""Synthetic aerial photos of flooded suburbs in the Hurricane Harvey layout (demo data).

A scene is planned once in metres (streets, lots, houses, trees, a bayou, the flood) from a
random generator, then drawn at whatever pixel size is asked for: a harvey 4000x3000 image covers
about 120 m x 90 m (Harvey drones flew at ~3 cm/px) and a 640x480 image the same ground at lower
resolution. Every labelled shape is drawn with the same PIL polygon on the photo and on the
class-id mask, so masks are pixel-exact; details that keep the label below them (ridge lines,
windscreens, lane markings) are drawn on the photo only, and so are shadows (shadow is not a
class). Colours deliberately overlap between classes (flood water vs bayou vs murky pool, grey
roofs vs asphalt, dark roofs vs shadow) so a model has to use shape and context.

A `StormStyle` (`STYLES`, `style_by_name`) sets what a region looks like: palette, sun, roof
shapes and house sizes, vegetation, water colour and ground scale; harvey is the default and
draws exactly the scenes drawn before styles existed.

Modules, in the order a scene is made: `style` (presets), `scene` (class ids, the plan),
`geometry` (frames and shapes in metres), `planner` + `houses` + `things` (the layout), `render`
(pixels), `dataset` (files on disk).
"""

from seg_core.demo.synth.dataset import STYLES_FILE, DemoDatasetSummary, parse_size, write_demo_dataset
from seg_core.demo.synth.planner import ground_width_m, plan_scene
from seg_core.demo.synth.render import bridge_mask, generate_scene, render_scene
from seg_core.demo.synth.scene import *  # noqa: F403  (class ids and ground constants, imported from the package by callers)
from seg_core.demo.synth.scene import FLOODABLE, MAX_SIDE_PX, MIN_SIDE_PX, ROAD_DIP, SCENE_AREA_M2, ScenePlan
from seg_core.demo.synth.style import STYLES, StormStyle, parse_styles, resolve_style, style_by_name

__all__ = [
    "FLOODABLE",
    "MAX_SIDE_PX",
    "MIN_SIDE_PX",
    "ROAD_DIP",
    "SCENE_AREA_M2",
    "STYLES",
    "STYLES_FILE",
    "DemoDatasetSummary",
    "ScenePlan",
    "StormStyle",
    "bridge_mask",
    "generate_scene",
    "parse_size",
    "ground_width_m",
    "parse_styles",
    "plan_scene",
    "render_scene",
    "resolve_style",
    "style_by_name",
    "write_demo_dataset",
]
