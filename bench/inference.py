"""Inference benchmark: one 4000x3000 photo, decode -> full-size mask.

StormSeg's Predictor against the naive way of the student notebooks (PIL open + resize on every
call, fp32 NCHW, batch 1, no inference_mode, full-resolution float logits, argmax at full size),
same model, same weights, same working resolution, measured in the same run. Each method runs in
its own subprocess so its peak RSS is its own.

    python bench/inference.py [--repeats 5] [--resolution 1024] [--megapixels 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from procstat import current_rss_mb, peak_rss_mb, run_worker  # noqa: E402

METHODS = ("forward", "stormseg", "naive")


def make_photo(path: Path, megapixels: float = 12.0) -> Path:
    """A synthetic Harvey-like photo saved as a quality-92 JPEG (4000x3000 for 12 MP)."""
    import numpy as np
    from PIL import Image

    from seg_core.demo.synth import generate_scene

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    image, _ = generate_scene(width, height, np.random.default_rng(0))
    Image.fromarray(image).save(path, quality=92)
    return path


def make_checkpoint(path: Path, resolution: int) -> Path:
    """The default model (FPN / EfficientNet-Lite0 ImageNet weights) as a checkpoint."""
    import torch

    from seg_core.models import ModelSpec, create_model, normalization
    from seg_core.models.checkpoint import save_checkpoint
    from seg_core.schemes.classes import CLASS_NAMES

    torch.manual_seed(0)
    spec = ModelSpec()
    mean, std = normalization(spec)
    meta = {
        "arch": spec.arch,
        "encoder": spec.encoder,
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": resolution,
        "mean": list(mean),
        "std": list(std),
    }
    return save_checkpoint({"state_dict": create_model(spec).state_dict(), "meta": meta}, path)


def naive_predict(model, path: Path, resolution: int, mean, std):
    """The notebooks' way, kept deliberately faithful."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    image = Image.open(path).convert("RGB")
    width, height = image.size
    scale = resolution / max(width, height)
    small = image.resize((round(width * scale), round(height * scale)), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(small)).permute(2, 0, 1).float() / 255.0
    x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    with torch.no_grad():
        logits = model(x.unsqueeze(0))
        full = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return full.argmax(1)[0].numpy().astype(np.uint8)


def worker(method: str, checkpoint: Path, photo: Path, repeats: int) -> dict:
    """Runs in a subprocess: times `repeats` predictions after one warm-up."""
    import torch

    from seg_core.core.memory import reuse_freed_memory
    from seg_core.inference.predictor import Predictor

    if method != "naive":
        reuse_freed_memory()  # as `python -m seg_core predict` does; the notebooks do not
    predictor = Predictor.from_checkpoint(checkpoint)
    meta = predictor.meta
    loaded_rss_mb = current_rss_mb()
    if method == "naive":
        model = predictor.model.to(memory_format=torch.contiguous_format)
        run = lambda: naive_predict(model, photo, meta["resolution"], meta["mean"], meta["std"])  # noqa: E731
    elif method == "stormseg":
        run = lambda: predictor.predict(photo)  # noqa: E731
    else:  # the forward pass alone, on an already-prepared tensor: the floor for end to end
        height, width = (
            (768, 1024) if meta["resolution"] == 1024 else (meta["resolution"] * 3 // 4, meta["resolution"])
        )
        x = torch.randn(1, 3, height, width).contiguous(memory_format=torch.channels_last)

        def run():
            with torch.inference_mode():
                return predictor.model(x)

    mask = run()  # warm-up (oneDNN primitive creation, allocator)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mask = run()
        times.append(time.perf_counter() - start)
    shape = list(mask.shape)
    return {
        "method": method,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "shape": shape,
        "peak_rss_mb": peak_rss_mb(),
        "loaded_rss_mb": loaded_rss_mb,
    }


def measure(method: str, checkpoint: Path, photo: Path, repeats: int) -> dict:
    return run_worker(__file__, method, checkpoint, photo, repeats)


def run_benchmark(repeats: int = 5, resolution: int = 1024, megapixels: float = 12.0) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        photo = make_photo(Path(tmp) / "photo.jpg", megapixels)
        checkpoint = make_checkpoint(Path(tmp) / "model.pt", resolution)
        results = {m: measure(m, checkpoint, photo, repeats) for m in METHODS}
    fast, naive, forward = results["stormseg"], results["naive"], results["forward"]
    return {
        "megapixels": megapixels,
        "resolution": resolution,
        "repeats": repeats,
        "results": results,
        "speedup_vs_naive": naive["median_s"] / fast["median_s"],
        "memory_vs_naive": fast["peak_rss_mb"] / naive["peak_rss_mb"],
        # Working memory: the peak above what importing torch and loading the model already
        # holds (the same ~0.75 GB floor for every method with this CUDA build of torch).
        "working_memory_vs_naive": (fast["peak_rss_mb"] - fast["loaded_rss_mb"])
        / (naive["peak_rss_mb"] - naive["loaded_rss_mb"]),
        "vs_forward_alone": fast["median_s"] / forward["median_s"],
        "torch_threads": int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, method, checkpoint, photo, repeats = sys.argv
        print(json.dumps(worker(method, Path(checkpoint), Path(photo), int(repeats))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--megapixels", type=float, default=12.0)
    args = parser.parse_args()
    print(json.dumps(run_benchmark(args.repeats, args.resolution, args.megapixels), indent=1))


if __name__ == "__main__":
    main()
