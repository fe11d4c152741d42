"""How close the default model's forward pass gets to this machine's peak.

Peak: a large fp32 matmul on the same threads (the best dense throughput the BLAS reaches).
Achieved: FLOPs of one forward pass (counted by torch.utils.flop_counter) / its median time.

    python bench/hardware.py [--size 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = _median_time(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / seconds / 1e9


def forward_flops(model, x) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


VARIANTS = ("channels_first", "channels_last", "folded", "compiled")
VARIANT_LABELS = {
    "channels_first": "eager, NCHW",
    "channels_last": "eager, channels_last",
    "folded": "channels_last + BatchNorm folded (Predictor default)",
    "compiled": "folded + torch.compile (freezing)",
}


def model_efficiency(size: int = 512, repeats: int = 7, variant: str = "channels_last") -> dict:
    """One forward pass's share of the matmul peak, for one way of running the model.

    FLOPs are those of the unfolded model for every variant (folding removes the BatchNorms'
    arithmetic; counting it anyway keeps the variants comparable on the same work)."""
    import torch

    from seg_core.core.memory import reuse_freed_memory
    from seg_core.models import ModelSpec, create_model
    from seg_core.models.fusion import compile_for_inference, fold_batchnorm

    reuse_freed_memory()  # every variant as `python -m seg_core predict` runs it
    torch.manual_seed(0)
    model = create_model(ModelSpec(), load_weights=False).eval()
    x = torch.randn(1, 3, size, size)
    flops = forward_flops(model, x)
    compile_s = 0.0
    if variant != "channels_first":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if variant in ("folded", "compiled"):
        model = fold_batchnorm(model)
    if variant == "compiled":
        model = compile_for_inference(model)
        start = time.perf_counter()
        with torch.inference_mode():
            model(x)
        compile_s = time.perf_counter() - start

    def run():
        with torch.inference_mode():
            model(x)

    seconds = _median_time(run, repeats)
    peak = matmul_peak_gflops()
    achieved = flops / seconds / 1e9
    return {
        "size": size,
        "variant": variant,
        "label": VARIANT_LABELS[variant],
        "gflop_per_forward": flops / 1e9,
        "forward_ms": seconds * 1000,
        "achieved_gflops": achieved,
        "matmul_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "compile_s": compile_s,
        "threads": torch.get_num_threads(),
    }


def measure_all(size: int = 512, repeats: int = 7) -> dict:
    """Every variant in its own process (compiling changes global state), in a fixed order."""
    from procstat import run_worker

    return {variant: run_worker(__file__, variant, size, repeats) for variant in VARIANTS}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, variant, size, repeats = sys.argv
        print(json.dumps(model_efficiency(int(size), int(repeats), variant)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(measure_all(args.size, args.repeats), indent=1))


if __name__ == "__main__":
    main()
