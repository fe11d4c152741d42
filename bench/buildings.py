"""Buildings graded per minute, from photos to the situation report, on synthetic flood scenes.

    .venv/bin/python bench/buildings.py [--photos 12] [--size 1600x1200] [--out docs/benchmarks_buildings.json]

The photos are the generator's Harvey-style scenes (7.5 cm/px at 1600x1200), saved as JPEGs with
GPS, a 60 m relative altitude and a camera heading, so every building is placed on the map and the
whole path runs: decode, the demo model with its confidence map (`checkpoints/demo/best.pt`),
instances, grading (Harvey grades from flood status), building files (GeoPackage, shapefile,
file geodatabase, GeoJSON, CSV) and the PDF. The clock starts after the model is loaded (once per
session in the app and per command in the CLI: timed apart). The anchor: CRASAR's operational
assessment graded 415 buildings in about 18 minutes (23 per minute) on a GPU workstation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seg_core.buildings.records import ModelIdentity, predictor_scheme  # noqa: E402
from seg_core.buildings.sources import Assessment, assess_photo  # noqa: E402
from seg_core.demo.synth.render import generate_scene  # noqa: E402
from seg_core.imagery.camera import tag_photo  # noqa: E402
from seg_core.reports.situation import ReportContext  # noqa: E402
from seg_core.services.situation import write_situation  # noqa: E402

ANCHOR_PER_MINUTE = 415 / 18


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(26)
    paths = []
    for index in range(count):
        image, _ = generate_scene(*size, rng)
        lat, lon = 29.76 + 0.0011 * (index // 4), -95.37 + 0.0015 * (index % 4)
        # 8.8 mm lens, 13.2 mm sensor: 60 m above ground gives 120 m across a frame, as the scenes.
        paths.append(
            tag_photo(
                Image.fromarray(image),
                folder / f"scene_{index:03d}.jpg",
                lat,
                lon,
                80.0,
                60.0,
                heading_deg=15.0,
            )
        )
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    from seg_core.gis.flight import FlightSettings
    from seg_core.inference.predictor import Predictor

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photos = write_photos(folder, args.photos, size)
        load_before = os.getloadavg()
        start = time.perf_counter()
        predictor = Predictor.from_checkpoint(ROOT / "checkpoints" / "demo" / "best.pt")
        load_seconds = time.perf_counter() - start
        model = ModelIdentity.from_meta(predictor.meta, "best.pt")
        scheme = predictor_scheme(predictor)
        start = time.perf_counter()
        cpu_start = time.process_time()
        assessment = Assessment()
        flight = FlightSettings(gsd_cm=120 * 100 / size[0])  # the scenes' own GSD: 120 m across
        for path in photos:
            assessment += assess_photo(predictor, path, scheme, model, flight)
        graded = time.perf_counter() - start
        write_situation(assessment, ReportContext("Benchmark", model, scheme), folder / "out")
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        buildings = len(assessment.records)
        result = {
            "photos": args.photos,
            "size": list(size),
            "buildings": buildings,
            "placed": sum(r.latitude is not None for r in assessment.records),
            "model_load_s": round(load_seconds, 2),
            "photos_to_records_s": round(graded, 2),
            "photos_to_report_s": round(seconds, 2),
            "process_cpu_s": round(cpu, 2),
            "buildings_per_minute": round(buildings / seconds * 60, 1),
            "times_anchor": round(buildings / seconds * 60 / ANCHOR_PER_MINUTE, 1),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "threads": os.cpu_count(),
        }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
