"""Page faults per training step with glibc's default allocator settings and with
`seg_core.core.memory.reuse_freed_memory` (docs/BENCHMARKS.md, "Training throughput fell with batch size").

    python bench/allocator.py [--steps 6] [--side 512]

Kernel page-fault counts vary with the machine, its load and transparent huge pages, so they are
measured here and not asserted in the test suite (tests/test_allocator.py checks the allocator's
own bookkeeping instead, which is deterministic).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, resource, sys
import torch
from seg_core.core.memory import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else False
steps, side = int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
conv = torch.nn.Conv2d
net = torch.nn.Sequential(conv(3, 64, 3, padding=1), torch.nn.ReLU(), conv(64, 64, 3, padding=1), conv(64, 8, 1))
x = torch.randn(1, 3, side, side)  # 64 MB activations at 512 px: above glibc's 32 MB mmap threshold
faults = []
for _ in range(steps):  # training steps: the same big tensors allocated and freed again each time
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net(x).sum().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def probe(mode: str, steps: int, side: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(steps), str(side)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--side", type=int, default=512)
    args = parser.parse_args()
    result = {mode: probe(mode, args.steps, args.side) for mode in ("default", "reuse")}
    for mode, r in result.items():
        later = r["faults"][1:]
        print(
            f"{mode:8s} applied={r['applied']!s:5s} first step {r['faults'][0]:>9,} faults, "
            f"later steps mean {sum(later) / len(later):>11,.0f}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
