"""The version of StormSeg (one place: `seg_core.__version__`, which pyproject.toml reads) and
what it runs on, for `stormseg --version` and bug reports."""

from __future__ import annotations

import seg_core


def version_text() -> str:
    """E.g. "stormseg 0.1.0 (torch 2.14.1, device cpu: no CUDA GPU found)"."""
    import torch

    if torch.cuda.is_available():
        device = f"cuda: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        device = "mps: Apple GPU"
    else:
        device = "cpu: no CUDA GPU found"
    return f"stormseg {seg_core.__version__} (torch {torch.__version__}, device {device})"
