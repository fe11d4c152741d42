"""The Hugging Face Hub, where smp and timm download ImageNet weights from: is it switched off,
reachable, or are an encoder's weights cached already? Standard library and huggingface_hub's
constants only (no torch), so `train` can refuse unobtainable weights in milliseconds."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

HUB_CHECK_TIMEOUT_S = 2.0  # a reachable hub answers a TCP connect well within this


def hub_switched_off() -> bool:
    """HF_HUB_OFFLINE is set (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_reachable(timeout_s: float = HUB_CHECK_TIMEOUT_S) -> bool:
    """TCP-connect to the Hugging Face endpoint; run in a thread so slow DNS is bounded too."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    address = (url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80))
    reached: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection(address, timeout=timeout_s):
                reached.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(reached)


def smp_weights_cached(encoder: str) -> bool:
    """Whether smp's own ImageNet weights for `encoder` (repo smp-hub/<encoder>.imagenet, any
    revision) are in the Hub cache; smp's exact revision is checked when the model is built."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--smp-hub--{encoder}.imagenet"
    return any(repo.glob("snapshots/*/model.safetensors"))
