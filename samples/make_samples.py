"""Regenerate the sample photos: `python samples/make_samples.py` from the repository root.

Each photo is a synthetic scene from `seg_core.demo.synth.generate_scene` (1600x1200, ~7.5 cm/px over
the same 120 m x 90 m of ground as a Harvey frame), drawn from `np.random.default_rng(seed)` and
saved as JPEG quality 88. The seeds were picked by scanning 0..149 for varied content (and, for the flooded street, no
road bridged over a pond: a dry T of asphalt in a flooded street looks staged).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seg_core.demo.synth import generate_scene  # noqa: E402

SIZE = (1600, 1200)  # big enough to show detail, small enough to segment in seconds on a CPU
JPEG_QUALITY = 88  # ~0.5 MB per photo; artefacts stay below the sensor noise the scenes carry
SAMPLES = {  # file name -> seed
    "flooded_street.jpg": 101,  # ~42% flooded, boats between the houses, most roofs exposed
    "flooded_bayou.jpg": 13,  # a bayou with a boat, its banks and the street beside it flooded
    "dry_suburb.jpg": 69,  # ~6% flooded: pools, a pond, a commercial lot, mostly dry streets
}


def main() -> None:
    out = Path(__file__).resolve().parent
    for name, seed in SAMPLES.items():
        image, _ = generate_scene(*SIZE, np.random.default_rng(seed))
        Image.fromarray(image).save(out / name, format="JPEG", quality=JPEG_QUALITY)
        print(f"{name}: seed {seed}, {(out / name).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
