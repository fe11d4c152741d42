"""Batch processes keep freed memory for reuse: a big tensor comes from the heap, not a fresh mmap
(whose pages the kernel must fault in and zero again at every step), and stays there when freed.
Checked on glibc's own bookkeeping (mallinfo2), which is deterministic; the page faults this
saves depend on the machine, its load and huge pages, and are measured in bench/allocator.py."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, json, sys
import torch
from seg_core.core.memory import reuse_freed_memory

class MallInfo2(ctypes.Structure):  # glibc >= 2.33
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else False
BLOCK = 64 * 2**20  # above glibc's largest mmap threshold (32 MB): always mmapped by default
rows = []
for _ in range(3):  # a training step's activations: allocated, then freed
    before = libc.mallinfo2()
    block = torch.empty(BLOCK // 4)  # float32
    held = libc.mallinfo2()
    del block
    freed = libc.mallinfo2()
    rows.append({"mmapped_while_held": held.hblkhd - before.hblkhd,
                 "mmapped_after_free": freed.hblkhd - before.hblkhd,
                 "heap_free_after_free": freed.fordblks})
print(json.dumps({"applied": applied, "block": BLOCK, "steps": rows}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc")
def test_freed_memory_stays_in_the_heap_for_the_next_step():
    default, reused = _probe("default"), _probe("reuse")
    block = default["block"]
    assert not default["applied"] and reused["applied"]
    # Default: every step's block is a fresh mmap, handed back to the kernel when freed.
    assert all(step["mmapped_while_held"] >= block for step in default["steps"])
    assert all(step["mmapped_after_free"] < block for step in default["steps"])
    # Reuse: never mmapped; freed, it stays in the heap for the next step.
    assert all(step["mmapped_while_held"] < block for step in reused["steps"])
    assert all(step["heap_free_after_free"] >= block for step in reused["steps"])


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


def test_an_exported_model_keeps_glibcs_default(monkeypatch):
    # ONNX Runtime releases its arena after each run; a heap that never shrinks would only hold
    # each photo's fragments (docs/benchmarks-analysis.md section 11), so `--model` skips reuse.
    from seg_core import cli
    from seg_core.core import memory

    calls = []
    monkeypatch.setattr(memory, "reuse_freed_memory", lambda: calls.append(1) or True)
    for command in ("predict", "evaluate"):
        target = ["--out", "x", "nothing.jpg"] if command == "predict" else ["--data", "nowhere"]
        cli.main([command, "--model", "missing.onnx", *target], own_process=True)
    assert calls == []
