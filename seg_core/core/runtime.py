"""What a training or inference process needs from its machine: the device, autocast, seeds,
and a stop flag for signals.

Separate from the training loop so inference and the app can use the device helpers without
importing it; the run registry lives in `seg_core.runs`, so inference never imports it.
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from seg_core.core.signals import StopRequested

# StopRequested lives in the torch-free core.signals; re-exported for the training loop and CLIs.
__all__ = [
    "StopRequested",
    "amp_dtype",
    "autocast",
    "describe_device",
    "has_bf16_tensor_cores",
    "seed_everything",
    "select_device",
]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' picks cuda > mps > cpu; an explicit device that is absent is a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but no CUDA GPU is visible; use --device auto or cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(
            "device 'mps' was requested but Apple MPS is not available; use --device auto or cpu"
        )
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)


def amp_dtype(device: torch.device, mode: str) -> torch.dtype | None:
    """Autocast dtype: only on CUDA (CPU autocast is slower than fp32 for these convnets)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if has_bf16_tensor_cores(device) else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


def has_bf16_tensor_cores(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively (compute capability 8.0+, Ampere and newer; ROCm).

    Not `torch.cuda.is_bf16_supported()`: by default it also counts emulation (true on a T4,
    where bf16 runs slower than fp16 + GradScaler), and it asks the current device, which is
    not necessarily the one this process trains on.
    """
    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device)[0] >= 8


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)
