"""Checkpoints: atomic writes and safe loads.

Contract (docs/reference/formats.md, "Checkpoints"): a dict of tensors and plain Python values only, loadable with
`torch.load(weights_only=True)`: `state_dict`, `meta` = {arch, encoder, num_classes,
class_names, scheme, resolution, mean, std, config, metrics, versions, ...}. `last.pt` also
carries the optimiser, scheduler, scaler and RNG state needed to resume. `meta["scheme"]` is the
label scheme the outputs stand for (`LabelScheme.to_dict`); a checkpoint without one is harvey.

Writes go through `seg_core.core.atomic` (temp file in the same folder, fsync, `os.replace`,
fsync of the folder), so a crash or SIGKILL at any instant leaves either the old or the new
checkpoint under the final name, never a partial one. `meta["weights_sha256"]`, written with the
weights, lets a load tell a file altered or damaged after the save (torch's zip reader does not
check its CRCs: 52 of 60 fuzzed checkpoints used to load with silently changed weights).
"""

from __future__ import annotations

import errno
import hashlib
import math
import pickle
import platform
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from seg_core.core.atomic import TEMP_SUFFIX, atomic_write, clean_stale_temps
from seg_core.models.spec import ModelSpec
from seg_core.schemes.files import META_KEY, SchemeError, scheme_of_meta
from seg_core.schemes.scheme import LabelScheme

REQUIRED_META = ("arch", "encoder", "num_classes", "class_names", "resolution", "mean", "std")
__all__ = [
    "TEMP_SUFFIX",
    "CheckpointError",
    "checkpoint_meta",
    "clean_stale_temps",
    "load_checkpoint",
    "model_spec_of",
    "save_checkpoint",
    "scheme_of",
    "versions",
    "weights_digest",
]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def versions() -> dict[str, str]:
    import segmentation_models_pytorch as smp

    from seg_core import __version__

    # str(): torch.__version__ is a TorchVersion object, which weights_only loading refuses.
    return {
        "stormseg": str(__version__),
        "torch": str(torch.__version__),
        "smp": str(smp.__version__),
        "python": platform.python_version(),
    }


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checkpoint_meta(
    spec: ModelSpec,
    resolution: int,
    mean: Sequence[float],
    std: Sequence[float],
    scheme: LabelScheme,
    **extra: Any,
) -> dict[str, Any]:
    """A checkpoint's `meta`: the model spec (`spec.to_meta()`), the label scheme and its class
    names, the working resolution and normalisation a Predictor needs, the library versions, then
    `extra` (config, metrics, epoch, run id, ...)."""
    if spec.num_classes != scheme.num_classes:
        raise ValueError(
            f"the network has {spec.num_classes} outputs but scheme {scheme.name!r} has {scheme.num_classes} classes"
        )
    return {
        **spec.to_meta(),
        "class_names": list(scheme.names),
        META_KEY: scheme.to_dict(),
        "resolution": int(resolution),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "versions": versions(),
        **extra,
    }


def model_spec_of(payload: dict[str, Any], path: str | Path) -> ModelSpec:
    """The network a loaded checkpoint holds (`ModelSpec.from_meta`).

    Raises:
        CheckpointError: the metadata does not describe a network StormSeg can build.
    """
    try:
        return ModelSpec.from_meta(payload["meta"], payload["state_dict"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: checkpoint metadata is not usable: {exc}") from None


def scheme_of(meta: dict[str, Any], path: str | Path) -> LabelScheme:
    """The label scheme a checkpoint's outputs stand for; harvey when it records none.

    Raises:
        CheckpointError: the recorded scheme is malformed or does not match the network.
    """
    try:
        return scheme_of_meta(meta, str(path))
    except SchemeError as exc:
        raise CheckpointError(str(exc)) from None


# Free space below which a failed torch.save is read as a full disk (a checkpoint is megabytes;
# a disk that failed one mid-write has at most a part of a block left).
FULL_DISK_BYTES = 1 << 20


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write `payload` atomically to `path` (temp -> fsync -> os.replace -> fsync(dir)), with a
    checksum of its weights in `meta` when it has both.

    Raises:
        OSError: the disk is full or not writable; the previous file at `path` is untouched.
    """
    if isinstance(payload.get("state_dict"), dict) and isinstance(payload.get("meta"), dict):
        meta = {**payload["meta"], "weights_sha256": weights_digest(payload["state_dict"])}
        payload = {**payload, "meta": meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(handle) -> None:
        try:
            torch.save(payload, handle)
        except RuntimeError as exc:
            # On a real full disk torch's zip writer may see a short write and raise its own
            # RuntimeError ("unexpected pos ...") instead of the OSError: name the full disk.
            if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:
                raise OSError(errno.ENOSPC, f"No space left on device (torch.save: {exc})") from exc
            raise

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (no pickle code ever runs) and check its shape.

    Raises:
        CheckpointError: missing, empty, damaged, not a StormSeg checkpoint, or unsafe content.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since torch 1.6
        raise CheckpointError(f"{path}: the checkpoint is damaged or not a PyTorch file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: the file contains objects other than tensors and plain values "
            f"(it may be unsafe, or not a StormSeg checkpoint) [{str(exc).splitlines()[0][:160]}]"
        ) from None
    except Exception as exc:  # no code runs here (weights_only), but a mangled file can raise anything:
        # fuzzing found IndexError and KeyError from the weights-only unpickler besides RuntimeError.
        raise CheckpointError(
            f"{path}: the checkpoint is damaged or not a PyTorch file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "meta" not in payload:
        raise CheckpointError(f"{path}: not a StormSeg checkpoint (no state_dict/meta)")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: the checkpoint is damaged (its state_dict is not named tensors)")
    if not isinstance(payload["meta"], dict):
        raise CheckpointError(f"{path}: not a StormSeg checkpoint (its meta is not a dictionary)")
    missing = [key for key in REQUIRED_META if key not in payload["meta"]]
    if missing:
        raise CheckpointError(f"{path}: checkpoint metadata lacks {', '.join(missing)}")
    wrong = _unusable_meta(payload["meta"])
    if wrong:
        raise CheckpointError(f"{path}: checkpoint metadata is not usable: {'; '.join(wrong)}")
    scheme_of(payload["meta"], path)  # what its outputs stand for must be known before any use
    expected = payload["meta"].get("weights_sha256")  # absent in files written before it existed
    if expected is not None and expected != weights_digest(state):
        raise CheckpointError(
            f"{path}: the weights do not match the checksum saved with them: the file was altered or "
            "damaged after it was written"
        )
    return payload


def _is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _unusable_meta(meta: dict) -> list[str]:
    """Values that would crash inference or silently give nonsense (a hand-edited or hostile file):
    a resolution of 0 shrinks every photo to one pixel, a zero std divides by zero."""
    wrong = []
    if not _is_int(meta["num_classes"], 1):
        wrong.append(f"num_classes {meta['num_classes']!r} is not a positive whole number")
    if not _is_int(meta["resolution"], 32):
        wrong.append(f"resolution {meta['resolution']!r} is not a whole number of at least 32 px")
    for key in ("mean", "std"):
        value = meta[key]
        numbers = isinstance(value, list | tuple) and len(value) == 3
        numbers = numbers and all(isinstance(v, int | float) and math.isfinite(v) for v in value)
        if not numbers or (key == "std" and min(value) <= 0):
            wrong.append(
                f"{key} {value!r} is not three finite numbers" + (" above 0" if key == "std" else "")
            )
    for key in ("arch", "encoder"):
        if not isinstance(meta[key], str):
            wrong.append(f"{key} {meta[key]!r} is not a name")
    gsd = meta.get("working_gsd_cm")  # optional (gsd.CHECKPOINT_GSD_KEY): mosaics are resampled to it
    if gsd is not None and (
        isinstance(gsd, bool) or not isinstance(gsd, int | float) or not math.isfinite(gsd) or gsd <= 0
    ):
        wrong.append(f"working_gsd_cm {gsd!r} is not a positive number of cm per pixel")
    return wrong
