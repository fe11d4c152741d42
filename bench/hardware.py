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


def model_efficiency(size: int = 512, repeats: int = 7, channels_last: bool = True) -> dict:
    import torch

    from seg_core.models import ModelSpec, create_model

    torch.manual_seed(0)
    model = create_model(ModelSpec(), load_weights=False).eval()
    x = torch.randn(1, 3, size, size)
    flops = forward_flops(model, x)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            model(x)

    seconds = _median_time(run, repeats)
    peak = matmul_peak_gflops()
    achieved = flops / seconds / 1e9
    return {
        "size": size,
        "gflop_per_forward": flops / 1e9,
        "forward_ms": seconds * 1000,
        "achieved_gflops": achieved,
        "matmul_peak_gflops": peak,
        "fraction_of_peak": achieved / peak,
        "channels_last": channels_last,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(
        json.dumps(
            {
                layout: model_efficiency(args.size, args.repeats, layout == "channels_last")
                for layout in ("channels_first", "channels_last")
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
