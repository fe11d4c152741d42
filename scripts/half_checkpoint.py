"""Write a checkpoint's weights in half precision (half the file), meta kept, for a shipped start.

    .venv/bin/python scripts/half_checkpoint.py SOURCE.pt DESTINATION.pt

The real-ground starter (`checkpoints/starter/real-ground.pt`, scripts/train_demo_model.sh stage 3)
is only ever a start: a fine-tune copies its weights into a float32 model (`load_state_dict`
converts), so float16 storage costs nothing the fine-tune can keep, and the repository and the
wheel carry 9.6 MB instead of 19. Integer tensors (BatchNorm's batch counters) are kept as they
are. The meta records the float32 weights' SHA-256 (`meta["float32_weights_sha256"]`); the file's
own checksum is of the stored half-precision weights, so `load_checkpoint` still verifies it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def halve(source: Path, destination: Path) -> str:
    """Write `source` to `destination` with float32 tensors as float16; returns the new checksum."""
    import torch

    from seg_core.models.checkpoint import load_checkpoint, save_checkpoint

    payload = load_checkpoint(source)
    state = {
        name: tensor.half() if tensor.dtype == torch.float32 else tensor
        for name, tensor in payload["state_dict"].items()
    }
    meta = {**payload["meta"], "float32_weights_sha256": payload["meta"].get("weights_sha256")}
    save_checkpoint({"state_dict": state, "meta": meta}, destination)
    return load_checkpoint(destination)["meta"]["weights_sha256"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    from seg_core.models.checkpoint import CheckpointError

    try:
        digest = halve(Path(args[0]), Path(args[1]))
    except (CheckpointError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args[1]}: half-precision weights {digest[:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
