"""Dataset I/O benchmarks on a Harvey-sized set (261 pairs of 4000x3000).

1. `validate` on the whole set (headers + one decode per mask): target well under a minute.
2. Training data pipeline at default settings: first-epoch decode vs cached epochs, and the
   share of step time the loop waits for data.

Distinct scenes are drawn and then copied to reach 261 pairs (drawing 261 full-size scenes would
take 15 minutes and measures the generator, not StormSeg).

    python bench/dataset_io.py [--pairs 261] [--distinct 12] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_harvey_sized(root: Path, pairs: int = 261, distinct: int = 12, size=(4000, 3000)) -> Path:
    from seg_core.demo.synth import write_demo_dataset

    source = write_demo_dataset(root / "distinct", n=distinct, size=size, seed=1, n_test=0).root
    target = root / "harvey"
    (target / "train_images").mkdir(parents=True)
    (target / "train_masks").mkdir(parents=True)
    images = sorted((source / "train_images").iterdir())
    masks = sorted((source / "train_masks").iterdir())
    for i in range(pairs):  # hard links: 261 distinct files for StormSeg, no 6 GB of copies on disk
        _link(images[i % distinct], target / "train_images" / f"{i:05d}.tif")
        _link(masks[i % distinct], target / "train_masks" / f"{i:05d}.png")
    return target


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def bench_validate(data: Path) -> dict:
    from seg_core.datasets.discovery import validate_dataset

    start = time.perf_counter()
    report = validate_dataset(data)
    return {
        "pairs": len(report.pairs),
        "problems": len(report.problems),
        "seconds": time.perf_counter() - start,
    }


def bench_cache(data: Path, cache_root: Path, resolution: int = 1024, sample: int = 12) -> dict:
    """Seconds per pair to decode+resize an original vs to map the cached array."""
    from seg_core.datasets.dataset import ArrayCache
    from seg_core.datasets.discovery import validate_dataset

    pairs = validate_dataset(data).pairs[:sample]
    cache = ArrayCache(resolution, cache_root)
    start = time.perf_counter()
    for pair in pairs:
        cache.pair(pair)
    cold = (time.perf_counter() - start) / len(pairs)
    start = time.perf_counter()
    for pair in pairs:
        image, mask = cache.pair(pair)
        image.sum()  # touch the pages
    warm = (time.perf_counter() - start) / len(pairs)
    return {
        "resolution": resolution,
        "cold_s_per_pair": cold,
        "cached_s_per_pair": warm,
        "ratio": cold / warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=261)
    parser.add_argument("--distinct", type=int, default=12)
    parser.add_argument("--out", type=Path, help="keep the dataset here (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        data = build_harvey_sized(root, args.pairs, args.distinct)
        results = {"validate": bench_validate(data), "cache": bench_cache(data, root / "cache")}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
