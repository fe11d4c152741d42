"""What review adds to a run's start and to the Label page (docs/benchmarks-analysis.md section 21).

    python bench/review.py [--photos 40] [--size 4000x3000]

On N photos with 12-megapixel masks (random class blocks, palette PNGs written as the label
store writes them): every photo's review state (what the Label page's table and queue read on
each rerun), choosing a label set (a SHA-256 of every mask), freezing it the first time (copies)
and choosing and freezing it again with the same labels (the copies' checksums are verified).
Synthetic masks, not real labels: the costs depend on the files' sizes, not their content.
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

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--size", default="4000x3000")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from seg_core.datasets.discovery import Pair
    from seg_core.labelling import labelset, review
    from seg_core.labelling.labelstore import LabelStore, write_mask_png

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        root = work / "storm"
        (root / "train_images").mkdir(parents=True)
        rng = np.random.default_rng(0)
        pairs = []
        for i in range(args.photos):
            stem = f"p{i:03d}"
            Image.new("RGB", (64, 48)).save(root / "train_images" / f"{stem}.jpg")  # only the header counts
            blocks = rng.integers(0, 25, (height // 20, width // 20), dtype=np.uint8)  # 20 px regions
            write_mask_png(root / "train_masks" / f"{stem}.png", np.kron(blocks, np.ones((20, 20), np.uint8)))
            pairs.append(
                Pair(
                    stem,
                    root / "train_images" / f"{stem}.jpg",
                    root / "train_masks" / f"{stem}.png",
                    (width, height),
                )
            )
        store = LabelStore(root)
        for pair in pairs:  # a person's save: as the store records it, then accepted
            store.record_path(pair.stem).parent.mkdir(parents=True, exist_ok=True)
            store.record_path(pair.stem).write_text(
                json.dumps({"by": "ana", "at": time.time(), "version": store.version(pair.stem)})
            )
            review.review(store, pair.stem, "accept", "rita")
        states_s, states = timed(lambda: review.photo_states(store))
        choose_s, chosen = timed(lambda: labelset.choose(root, pairs, False))
        first_s, frozen = timed(lambda: labelset.freeze(chosen))
        again_s, _ = timed(lambda: labelset.freeze(labelset.choose(root, pairs, False)))
        mask_mb = sum(p.mask.stat().st_size for p in pairs) / 1e6
        print(
            json.dumps(
                {
                    "photos": args.photos,
                    "mask_size": args.size,
                    "masks_mb": round(mask_mb, 1),
                    "states_s": round(states_s, 3),
                    "states_ms_per_photo": round(states_s / args.photos * 1000, 2),
                    "choose_s": round(choose_s, 3),
                    "freeze_first_s": round(first_s, 3),
                    "choose_and_freeze_again_s": round(again_s, 3),
                    "accepted": sum(s.state == "accepted" for s in states),
                    "set": frozen.id,
                    "load_average": os.getloadavg(),
                },
                indent=1,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
