"""Orthomosaic benchmark: peak memory and throughput of `segment_mosaic` against raster size, and
against one 12 MP photo through the photo path and reading the raster whole with numpy.

    .venv/bin/python bench/geo.py [--sizes 16 64 256 1024] [--kinds mosaic mosaic-pointwise]
        [--model demo|default-untrained]

`mosaic-pointwise` runs the same windowed path with a 1x1 convolution instead of the network:
what reading, resampling, writing and the COG cost by themselves, at sizes where the full model
takes hours on 2 CPU cores.

Every figure is measured in a fresh process (peak RSS = VmHWM of that process only). The mosaics
are the demo orthomosaic (synthetic scenes at 120 m per 1024 px tile = 11.7 cm/px, repeated for
the large sizes) with the default checkpoint (`checkpoints/demo/best.pt`): the same working GSD as
the photo path (a 4000 px, 120 m photo is also shrunk to the checkpoint's resolution).
Throughput is mosaic megapixels per second of wall time, class COG included, polygons not.

`--model default-untrained` times the default model instead (FPN / EfficientNet-Lite0 at 1024 px,
`ModelSpec()` with random weights, no download): its speed and memory do not depend on the
weights, and at 1024 px its Harvey-default working GSD (11.7 cm/px) equals the demo mosaic's, so
every source pixel is a working pixel (the demo checkpoint at 640 px sees 1.6x fewer).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procstat import peak_rss_mb, run_worker  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "demo" / "best.pt"
DEFAULT_RESOLUTION = 1024  # TrainConfig's default working resolution


def write_default_untrained(path: Path) -> Path:
    """A checkpoint of the default model with random weights (seeded), for timing and memory."""
    import torch

    from seg_core.models import ModelSpec, create_model
    from seg_core.models.checkpoint import checkpoint_meta, save_checkpoint
    from seg_core.schemes.scheme import HARVEY

    torch.manual_seed(0)
    spec = ModelSpec(weights="none")
    model = create_model(spec, load_weights=False)
    meta = checkpoint_meta(spec, DEFAULT_RESOLUTION, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], HARVEY)
    return save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, path)


def worker(kind: str, path: str, checkpoint: str = str(CHECKPOINT)) -> dict:
    from seg_core.core.memory import reuse_freed_memory

    reuse_freed_memory()  # what `python -m seg_core map/predict` does in its own process
    start = time.perf_counter()
    if kind in ("mosaic", "mosaic-pointwise"):
        from seg_core.gis.mosaic import segment_mosaic
        from seg_core.inference.predictor import Predictor

        predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
        if kind == "mosaic-pointwise":  # the same path with a 1x1 convolution: raster costs alone
            import torch

            predictor = Predictor(torch.nn.Conv2d(3, 25, 1), predictor.meta, torch.device("cpu"))
        start = time.perf_counter()
        result = segment_mosaic(predictor, path, Path(path).with_suffix(".classes.tif"))
        extra = {"windows": result.windows_total, "scale": result.scale}
    elif kind == "photo":
        from seg_core.inference.predictor import Predictor

        predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
        start = time.perf_counter()
        predictor.predict(path)
        extra = {}
    else:  # "whole": read the raster in one piece with rasterio into numpy
        import rasterio

        with rasterio.open(path) as dataset:
            values = dataset.read()
        extra = {"bytes": int(values.nbytes)}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds beside wall time: on a shared machine the wall clock mostly measures the neighbours.
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak_rss_mb(),
        **extra,
    }


def run(
    sizes: list[int], out: Path, whole_limit_mp: int, kinds: list[str], photo: bool, model: str = "demo"
) -> dict:
    import numpy as np
    from PIL import Image

    from seg_core.demo.geodemo import write_demo_orthomosaic
    from seg_core.demo.synth import generate_scene

    results: dict = {"checkpoint": str(CHECKPOINT), "model": model, "mosaics": []}
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = CHECKPOINT
        if model == "default-untrained":
            checkpoint = write_default_untrained(Path(tmp) / "default_untrained.pt")
            results["checkpoint"] = "FPN / EfficientNet-Lite0 at 1024 px, untrained (random weights)"
        if photo:
            jpeg = Path(tmp) / "photo.jpg"
            Image.fromarray(generate_scene(4000, 3000, np.random.default_rng(0))[0]).save(jpeg, quality=92)
            results["photo_12mp"] = run_worker(__file__, "photo", jpeg, checkpoint)
            print("photo", results["photo_12mp"], flush=True)
        for megapixels in sizes:
            side = math.ceil(math.sqrt(megapixels * 1e6) / 1024)
            path = write_demo_orthomosaic(Path(tmp) / f"m{megapixels}.tif", cols=side, rows=side)
            mp = (side * 1024) ** 2 / 1e6
            row = {"megapixels": round(mp, 1), "file_mb": round(path.stat().st_size / 1e6, 1)}
            for kind in kinds:
                row[kind] = run_worker(__file__, kind, path, checkpoint)
                row[kind]["mp_per_s"] = round(mp / row[kind]["seconds"], 2)
            if megapixels <= whole_limit_mp:
                row["read_whole"] = run_worker(__file__, "whole", path)
            results["mosaics"].append(row)
            print(row, flush=True)
            path.unlink()
            out.write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(*sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024], help="megapixels")
    parser.add_argument("--whole-limit", type=int, default=256, help="read whole only up to this many MP")
    parser.add_argument("--kinds", nargs="+", default=["mosaic"], choices=["mosaic", "mosaic-pointwise"])
    parser.add_argument("--no-photo", action="store_true", help="skip the 12 MP photo reference")
    parser.add_argument(
        "--model",
        choices=["demo", "default-untrained"],
        default="demo",
        help="the demo checkpoint, or the default model at 1024 px with random weights",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks_geo.json"))
    args = parser.parse_args()
    run(args.sizes, args.out, args.whole_limit, args.kinds, not args.no_photo, args.model)


if __name__ == "__main__":
    main()
