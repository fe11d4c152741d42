"""Process-wide memory behaviour for batch commands; the standard library only, so the CLI can
apply it before torch is imported."""

from __future__ import annotations

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def reuse_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse instead of handing them back to the kernel.

    By default every allocation above 32 MB is a fresh mmap, and each new page of it faults and is
    zeroed by the kernel. A CPU training step allocates and frees gigabytes of activations, so a
    4 x 512x512 step took 464,000 page faults (1.8 GB zeroed) and batch 8 two million: 1.26 and
    0.92 img/s. Served from the heap instead, the same steps take 0 faults and run at 1.59 and
    1.61 img/s (what PyTorch's CPU tuning guide gets from jemalloc/tcmalloc, with the C library
    already there); a 12 MP prediction's forward pass, 0.73 -> 0.49 s. The cost: the process keeps
    its peak memory until it exits. Only for whole processes doing batch work (`python -m seg_core
    train|predict|evaluate`), never the app server; a no-op off glibc.

    Returns:
        Whether the setting took effect.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
