"""Draw the pictures the README and the docs site show that no browser test makes:

- docs/images/legend_<scheme>.png: every class of each built-in label scheme, its id, colour and
  role, drawn from the scheme itself (the scheme's JSON travels in the PNG's `scheme` text chunk,
  so tests/test_docs.py can tell a legend that no longer matches its scheme);
- docs/images/segment.jpg: a sample photo beside the shipped demo model's overlay of it.

    python scripts/docs_images.py            # rewrite them all (about 10 s on 2 cores)
    python scripts/docs_images.py --legends  # only the legends (no model run)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGES = ROOT / "docs" / "images"
SCHEME_CHUNK = "scheme"  # the PNG text chunk holding the scheme the legend was drawn from
SEGMENT_PHOTO = "flooded_street.jpg"
SEGMENT_WIDTH = 1400  # the README's picture: photo and overlay side by side


def draw_legend(scheme, path: Path) -> Path:
    """The scheme's classes as swatches in columns of at most 9, with ids and roles."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.patches import Rectangle

    rows = 9
    columns = -(-scheme.num_classes // rows)
    figure = plt.figure(figsize=(3.9 * columns, 0.34 * min(rows, scheme.num_classes) + 0.2), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, columns)
    axes.set_ylim(min(rows, scheme.num_classes), 0)
    axes.axis("off")
    for cls in scheme.classes:
        x, y = cls.id // rows, cls.id % rows
        colour = tuple(c / 255 for c in cls.color)
        axes.add_patch(Rectangle((x + 0.03, y + 0.15), 0.12, 0.7, facecolor=colour, edgecolor="0.4", lw=0.6))
        role_words = cls.role.replace("_", " ")
        role = "" if cls.role == "other" or role_words in cls.name.lower() else f"  ({role_words})"
        axes.text(x + 0.19, y + 0.52, f"{cls.id:>2}  {cls.name}{role}", va="center", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, facecolor="white")
    plt.close(figure)
    # Pillow rewrites it with the scheme attached: the legend says what it was drawn from.
    info = PngImagePlugin.PngInfo()
    info.add_text(SCHEME_CHUNK, json.dumps(scheme.to_dict(), sort_keys=True))
    Image.open(path).convert("RGB").save(path, pnginfo=info, optimize=True)
    return path


def draw_segment(path: Path) -> Path:
    """Sample photo | the demo model's overlay, one picture, with a gap between them."""
    from seg_core.analytics.report import overlay
    from seg_core.core import paths
    from seg_core.imagery.imageio import load_rgb
    from seg_core.inference.predictor import Predictor

    photo = load_rgb(paths.SAMPLES_DIR / SEGMENT_PHOTO).pixels
    predictor = Predictor.from_checkpoint(paths.DEMO_CHECKPOINT)
    mask = predictor.predict(photo)
    shown = overlay(photo, mask, opacity=0.55, boundaries=True, scheme=predictor.scheme)
    gap = 16
    canvas = np.full((photo.shape[0], photo.shape[1] * 2 + gap, 3), 255, np.uint8)
    canvas[:, : photo.shape[1]] = photo
    canvas[:, photo.shape[1] + gap :] = shown
    picture = Image.fromarray(canvas)
    picture = picture.resize(
        (SEGMENT_WIDTH, round(SEGMENT_WIDTH * picture.height / picture.width)), Image.LANCZOS
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, quality=85, optimize=True)
    return path


def main(argv: list[str]) -> int:
    from seg_core.schemes.scheme import BUILTIN

    for name, scheme in BUILTIN.items():
        print(draw_legend(scheme, IMAGES / f"legend_{name}.png").relative_to(ROOT))
    if "--legends" not in argv:
        print(draw_segment(IMAGES / "segment.jpg").relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
