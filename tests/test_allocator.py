"""Batch processes keep freed memory for reuse: a big tensor allocated again costs no page faults."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys
import torch
from seg_core.core.runtime import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else False
torch.manual_seed(0)
conv = torch.nn.Conv2d
net = torch.nn.Sequential(conv(3, 64, 3, padding=1), torch.nn.ReLU(), conv(64, 64, 3, padding=1), conv(64, 8, 1))
x = torch.randn(1, 3, 512, 512)  # 64 MB activations: above glibc's 32 MB mmap threshold
faults = []
for _ in range(4):  # training steps: the same big tensors allocated and freed again each time
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    net(x).sum().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_reused_memory_is_not_faulted_in_again():
    default, reused = _probe("default"), _probe("reuse")
    assert not default["applied"] and reused["applied"]
    every_step = min(default["faults"][1:])
    assert every_step > 100_000  # by default each step faults ~1 GB of fresh pages in again
    assert sum(reused["faults"][1:]) < 0.1 * every_step  # after the first step, the heap serves them


def test_the_command_line_applies_it_only_to_batch_commands(monkeypatch):
    from seg_core import cli
    from seg_core.core import memory

    calls = []
    monkeypatch.setattr(memory, "reuse_freed_memory", lambda: calls.append(1) or True)
    cli.main(["runs", "list"], own_process=True)
    assert calls == []
    cli.main(["predict", "--checkpoint", "missing.pt", "--out", "x", "nothing.jpg"])  # in-process caller
    assert calls == []
    cli.main(["predict", "--checkpoint", "missing.pt", "--out", "x", "nothing.jpg"], own_process=True)
    assert calls == [1]
