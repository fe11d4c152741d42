"""Rendering: a plan drawn in pixels, the flood, textures, shadows and sensor effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from seg_core.demo.synth.planner import plan_scene
from seg_core.demo.synth.scene import (
    BACKGROUND,
    CONSTRUCTION,
    FLOODABLE,
    FLOODED,
    FOREST,
    GRASS,
    INDUSTRIAL,
    PARKING,
    ROAD,
    ROAD_DIP,
    ROOF,
    TREE,
    WATER_BODY,
    ScenePlan,
    _check_size,
)
from seg_core.demo.synth.style import HARVEY, StormStyle
from seg_core.schemes.scheme import HARVEY as HARVEY_SCHEME

# Relative luminance noise per class at three ground scales (0.15 m, 0.8 m, 5 m): grass and canopies
# are mottled, asphalt grainy, water smooth with broad sheen.
TEXTURE = np.full((HARVEY_SCHEME.num_classes, 3), (0.03, 0.01, 0.01), dtype=np.float32)
for _cls, _amp in {
    BACKGROUND: (0.05, 0.04, 0.05),
    ROOF: (0.06, 0.025, 0.03),
    GRASS: (0.09, 0.07, 0.05),
    TREE: (0.13, 0.16, 0.05),
    ROAD: (0.05, 0.025, 0.05),
    FOREST: (0.13, 0.22, 0.08),
    WATER_BODY: (0.012, 0.02, 0.05),
    FLOODED: (0.015, 0.03, 0.06),
    PARKING: (0.05, 0.02, 0.04),
    INDUSTRIAL: (0.08, 0.05, 0.06),
    CONSTRUCTION: (0.07, 0.03, 0.02),
}.items():
    TEXTURE[_cls] = _amp


def _draw(ops, image: Image.Image, mask: Image.Image, shadow: Image.Image, gsd: float) -> None:
    """Draw ops with identical geometry on the photo and the mask; labelled shapes are lit (unshadowed)."""
    photo, labels, shade = ImageDraw.Draw(image), ImageDraw.Draw(mask), ImageDraw.Draw(shadow)
    for op in ops:
        xy = (op.pts / gsd).ravel().tolist()
        if op.kind == "shadow":
            shade.polygon(xy, fill=255)
        elif op.kind == "poly":
            photo.polygon(xy, fill=op.color)
            if op.cls is not None:
                labels.polygon(xy, fill=op.cls)
                shade.polygon(xy, fill=0)
        elif op.cls is not None or op.width >= 0.5 * gsd:  # photo-only details under half a pixel vanish
            width = max(1, round(op.width / gsd))
            photo.line(xy, fill=op.color, width=width, joint="curve")
            if op.cls is not None:
                labels.line(xy, fill=op.cls, width=width, joint="curve")


def _noise(rng: np.random.Generator, width: int, height: int, gsd: float, scale_m: float) -> np.ndarray:
    """Unit-variance smooth noise with blobs about scale_m metres wide (pixel noise if finer than a pixel)."""
    step = scale_m / gsd
    if step < 1.5:
        return rng.standard_normal((height, width), dtype=np.float32)
    grid = rng.standard_normal((int(height / step) + 4, int(width / step) + 4), dtype=np.float32)
    out = np.asarray(
        Image.fromarray(grid).resize(
            (width, height), Image.BICUBIC, box=(1, 1, 1 + width / step, 1 + height / step)
        )
    )
    return out * np.float32(1 / max(float(out[::7, ::7].std()), 1e-6))


def _lerp_colors(a, b, t: np.ndarray) -> np.ndarray:
    a32 = np.asarray(a, np.float32)
    return a32 + (np.asarray(b, np.float32) - a32) * t[..., None]


def _flood(
    plan: ScenePlan,
    img: np.ndarray,
    mask: np.ndarray,
    n_mid: np.ndarray,
    n_low: np.ndarray,
    raised: np.ndarray,
) -> None:
    """Cover low floodable ground with muddy water (in place); shallow edges let the ground show through.

    Roads on `raised` pixels (over the bayou or pond) are bridges and stay dry.
    """
    h, w = mask.shape
    elev = np.asarray(Image.fromarray(plan.elevation).resize((w, h), Image.BILINEAR)) + 0.03 * n_mid
    elev[mask == ROAD] -= ROAD_DIP
    flooded = np.isin(mask, FLOODABLE) & (elev < plan.flood_level)
    flooded &= ~(raised & (mask == ROAD))
    depth = plan.flood_level - elev[flooded]
    alpha = np.clip(0.6 + 6.0 * depth, 0, 1)[:, None]  # ~1 m of shallow edge
    water = _lerp_colors(
        plan.colors["flood_a"], plan.colors["flood_b"], np.clip(0.5 + 0.4 * n_low[flooded], 0, 1)
    )
    img[flooded] = (img[flooded] * (1 - alpha) + water * alpha).astype(np.uint8)
    mask[flooded] = FLOODED


def _luminance(mask: np.ndarray, noise: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per-pixel brightness factor from the class texture table (HxW float32)."""
    lum = np.ones(mask.shape, np.float32)
    for i, field in enumerate(noise):
        amp = TEXTURE[mask, i]
        amp *= field
        lum += amp
    return lum


def _finish(
    plan: ScenePlan, img: np.ndarray, lum: np.ndarray, shadow: np.ndarray, debris: np.ndarray, rng
) -> np.ndarray:
    """Shadows, haze, uneven light, lens blur and sensor noise: flat drawing -> photo (in place where possible)."""
    h, w = lum.shape
    shade = shadow.astype(np.float32) * np.float32(plan.shadow_strength / 255)
    lum *= 1 - shade
    xs, ys = np.linspace(-1, 1, w, dtype=np.float32)[None], np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    gx, gy = rng.uniform(-0.08, 0.08, 2)
    lum *= (1 + gx * xs + gy * ys) * (1 - rng.uniform(0.03, 0.12) * (xs * xs + ys * ys) / 2)
    out = img.astype(np.float32)
    out *= lum[..., None]
    out[..., :2] *= (1 - 0.12 * shade)[..., None]  # skylight makes shadows slightly blue
    del lum, shade
    out *= (rng.normal(1, 0.06) * rng.normal(1, 0.025, 3)).astype(np.float32)  # exposure, white balance
    out[debris] *= 1.35  # floating debris on the flood
    haze = rng.uniform(0, 0.12)
    out *= np.float32(1 - haze)
    out += np.float32(haze * 190)
    photo = Image.fromarray(np.clip(out, 0, 255, out=out).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.6)
    )
    out[:] = np.asarray(photo)
    del photo
    sensor = rng.standard_normal(out.shape, dtype=np.float32)
    sensor *= np.float32(rng.uniform(1.5, 4.0))
    out += sensor
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


def bridge_mask(plan: ScenePlan, width: int, height: int) -> np.ndarray:
    """HxW bool: the outline of the bayou or pond with its banks, where roads are bridges that stay dry."""
    bridges = Image.new("L", (width, height), 0)
    outline = ImageDraw.Draw(bridges)
    gsd = plan.world_size[0] / width
    for op in plan.bridged:  # a fixed fill, not op.cls: a pond's rim is Background (0) and left no mark
        outline.polygon((op.pts / gsd).ravel().tolist(), fill=255)
    return np.asarray(bridges) > 0


def render_scene(
    plan: ScenePlan, width: int, height: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a plan at width x height pixels; rng supplies texture and sensor noise only.

    Args:
        plan: from `plan_scene`; drawing it at another size of the same aspect gives the same layout.
        width, height: pixel size, 64..8000 per side.
        rng: texture, illumination and sensor-noise randomness.

    Returns:
        (image, mask): HxWx3 uint8 RGB photo and HxW uint8 class-id mask (0..24).
    """
    layers = render_layers(plan, width, height, rng)
    return layers.image, layers.labels


@dataclass
class SceneLayers:
    """A rendered scene with what label schemes other than Harvey's need to relabel it.

    Attributes:
        image: HxWx3 uint8 photo.
        labels: HxW Harvey class ids.
        ground: HxW Harvey ids before the flood was drawn (what lies under the water), when asked.
        painted: what the `paint` hook returned (e.g. each building's damage), when given.
    """

    image: np.ndarray
    labels: np.ndarray
    ground: np.ndarray | None = None
    painted: object = None


def render_layers(
    plan: ScenePlan,
    width: int,
    height: int,
    rng: np.random.Generator,
    keep_ground: bool = False,
    paint: Callable[[np.ndarray, np.ndarray, float], object] | None = None,
) -> SceneLayers:
    """`render_scene` with the extra layers: the pre-flood ground (`keep_ground`), and a `paint`
    hook called as paint(flat photo, labels, metres per px) before lighting and sensor effects,
    which may draw on the photo (storm damage) and returns what it drew. Neither touches `rng`,
    so a scene is the same photo whatever is asked for besides it."""
    width, height = _check_size(width, height)
    gsd = plan.world_size[0] / width  # metres per pixel
    noise = tuple(_noise(rng, width, height, gsd, s) for s in (0.15, 0.8, 5.0))
    grass_t = np.clip(0.5 + 0.35 * noise[2] + 0.2 * noise[1], 0, 1)
    lush, dry = plan.colors["grass_lush"], plan.colors["grass_dry"]
    grass = np.stack(
        [(a + (b - a) * grass_t).astype(np.uint8) for a, b in zip(lush, dry, strict=True)], axis=-1
    )
    image = Image.fromarray(grass)
    del grass, grass_t
    mask, shadow = Image.new("L", (width, height), GRASS), Image.new("L", (width, height), 0)
    _draw(plan.ground, image, mask, shadow, gsd)
    _draw(plan.waterside, image, mask, shadow, gsd)
    _draw(plan.roads, image, mask, shadow, gsd)
    img, labels = np.array(image), np.array(mask)
    ground = labels.copy() if keep_ground else None
    _flood(plan, img, labels, noise[1], noise[2], bridge_mask(plan, width, height))
    image, mask = Image.fromarray(img), Image.fromarray(labels)
    _draw(plan.objects, image, mask, shadow, gsd)
    soft = np.asarray(shadow.filter(ImageFilter.GaussianBlur(max(0.5, 0.12 / gsd))))  # penumbra ~0.1 m
    labels = np.array(mask)
    flat = np.asarray(image)
    painted = None
    if paint is not None:
        flat = np.array(flat)
        painted = paint(flat, labels, gsd)
    lum = _luminance(labels, noise)
    debris = (labels == FLOODED) & (noise[0] > 2.8)
    del noise, img
    return SceneLayers(_finish(plan, flat, lum, soft, debris, rng), labels, ground, painted)


def generate_scene(
    width: int, height: int, rng: np.random.Generator, style: StormStyle | str = HARVEY
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic aerial photo of a flooded neighbourhood and its class-id mask.

    The layout is drawn from rng first, so the same rng state gives the same neighbourhood at any
    size of the same aspect ratio (harvey: 4000x3000 is ~3 cm/px, 640x480 ~19 cm/px).

    Args:
        width, height: pixel size, 64..8000 per side.
        rng: source of all randomness.
        style: a StormStyle or a preset's name (see `STYLES`); harvey by default.

    Returns:
        (image, mask): HxWx3 uint8 RGB and HxW uint8 class ids in 0..24.

    Raises:
        ValueError: a side outside 64..8000 px, or a style name that is not a preset.
    """
    width, height = _check_size(width, height)
    return render_scene(plan_scene(rng, width, height, style), width, height, rng)
