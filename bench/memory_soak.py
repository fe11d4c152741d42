"""Memory over many predictions: consecutive photos through the Segment page's path, RSS after each.

An analyst works through a stack of drone photos one upload at a time. Each photo goes through
what the page runs: `analysis.run_batch` with the session's result cache (which then holds only
the current photo) and one Predictor shared by every call (as `st.cache_resource` keeps it), then
the overlay, key figures and class table the page draws. The resident set size is read after
each photo; after a few warm-up photos (allocator pools, oneDNN kernels) it should stay flat.

    python bench/memory_soak.py [--count 50] [--size 4000x3000] [--warmup 3] [--json]

Photos are synthetic flood scenes (seg_core.demo.synth) saved as quality-92 JPEGs, each scene in four
orientations, every upload under its own name so none is served from the cache.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from procstat import current_rss_mb  # noqa: E402


def make_uploads(size: tuple[int, int], scenes: int) -> list[bytes]:
    """`scenes` synthetic photos, each in four orientations, as JPEG bytes (what an upload holds)."""
    import numpy as np
    from PIL import Image

    from seg_core.demo.synth import generate_scene

    uploads = []
    for seed in range(scenes):
        image, _ = generate_scene(*size, np.random.default_rng(seed))
        for view in (image, image[:, ::-1], image[::-1], image[::-1, ::-1]):
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(view)).save(buffer, format="JPEG", quality=92)
            uploads.append(buffer.getvalue())
    return uploads


def soak(checkpoint: Path, count: int, size: tuple[int, int], warmup: int, scenes: int) -> dict:
    from seg_core.inference.predictor import Predictor
    from seg_core.services import analysis
    from seg_core.services.analysis import PhotoAnalysis, PhotoInput
    from seg_core.views import figures

    uploads = make_uploads(size, scenes)
    predictor = Predictor.from_checkpoint(checkpoint)  # loaded once, like st.cache_resource
    session_cache: dict = {}  # st.session_state["segment_results"]
    model_key = f"{checkpoint}:{checkpoint.stat().st_mtime_ns}"
    before = current_rss_mb()
    rss, seconds, result_mb = [], [], 0.0
    for i in range(count):
        photo = PhotoInput(f"drone_{i:03d}.jpg", uploads[i % len(uploads)])
        tick = time.perf_counter()
        [result] = analysis.run_batch([photo], session_cache, lambda: predictor, model_key)
        assert isinstance(result, PhotoAnalysis), result
        ids = analysis.class_ids([row["name"] for row in result.legend], result.scheme)
        analysis.render_overlay(result, 0.5, ids, False)
        figures.key_figures(result.stats, result.scheme)
        figures.class_table(result.stats, result.scheme)
        seconds.append(time.perf_counter() - tick)
        result_mb = (result.photo.nbytes + result.display_mask.nbytes + len(result.mask_png)) / 2**20
        del result
        rss.append(current_rss_mb())
    settled = rss[warmup - 1] if warmup > 0 else before
    after_warmup = rss[warmup:] or rss[-1:]
    return {
        "photos": count,
        "size": f"{size[0]}x{size[1]}",
        "checkpoint": str(checkpoint),
        "warmup": warmup,
        "rss_before_mb": round(before, 1),
        "rss_first_mb": round(rss[0], 1),
        "rss_last_mb": round(rss[-1], 1),
        "rss_max_mb": round(max(rss), 1),
        "growth_after_warmup_mb": round(rss[-1] - settled, 1),
        "max_growth_after_warmup_mb": round(max(after_warmup) - settled, 1),
        "result_mb": round(result_mb, 2),  # what one cached result holds: a leak grows by this per photo
        "seconds_median": round(sorted(seconds)[len(seconds) // 2], 2),
        "rss_mb": [round(r, 1) for r in rss],
    }


def parse_size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="photos, one after another (default 50)")
    parser.add_argument("--size", default="4000x3000", help="WxH of each photo (default 4000x3000, 12 MP)")
    parser.add_argument("--warmup", type=int, default=3, help="photos before growth is counted")
    parser.add_argument("--scenes", type=int, default=2, help="distinct scenes (x4 orientations)")
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "demo" / "best.pt")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.count:
        parser.error(f"--warmup {args.warmup} must be at least 0 and below --count {args.count}")
    result = soak(args.checkpoint, args.count, parse_size(args.size), args.warmup, args.scenes)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['photos']} photos of {result['size']} through analysis.run_batch ({args.checkpoint})")
    for key in ("rss_before_mb", "rss_first_mb", "rss_last_mb", "rss_max_mb"):
        print(f"  {key:<28} {result[key]:8.1f}")
    print(
        f"  growth after {args.warmup} warm-up photos: {result['growth_after_warmup_mb']:+.1f} MB "
        f"(max {result['max_growth_after_warmup_mb']:+.1f} MB); one result holds {result['result_mb']:.1f} MB"
    )
    print(f"  median {result['seconds_median']:.2f} s per photo")
    print("  RSS MB per photo: " + " ".join(f"{r:.0f}" for r in result["rss_mb"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
