"""Which model a command runs: `--checkpoint` (torch) or `--model` (an exported .onnx on ONNX
Runtime, never importing torch, for the field install of requirements-field.txt). Either takes a
path or a name: `demo` (the shipped model) or a run id or run name (`stormseg models` lists them)."""

from __future__ import annotations

import argparse
from pathlib import Path

CHECKPOINT_HELP = "a best.pt, or a model name: demo (shipped), a run id or a run name (see `models`)"
ONNX_HELP = (
    "an exported model.onnx (see `export`), or the name of a run exported from the Runs page; "
    "runs on ONNX Runtime without torch"
)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    parser.add_argument("--model", help=ONNX_HELP)


def model_file(args: argparse.Namespace) -> Path:
    """The file `--checkpoint` or `--model` names (a name resolved; a path as given).

    Raises:
        ValueError: neither or both given, a file of the wrong kind, or an unknown name.
    """
    from seg_core.services.models import resolve_checkpoint, resolve_onnx

    if (args.checkpoint is None) == (args.model is None):
        raise ValueError(
            "give exactly one of --checkpoint best.pt (torch) or --model model.onnx (ONNX Runtime)"
        )
    if args.model is not None:
        model = resolve_onnx(args.model)
        if model.suffix.lower() != ".onnx":
            raise ValueError(
                f"--model {args.model} must be an exported .onnx file (see `python -m seg_core export`)"
            )
        return model
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        raise ValueError(f"--checkpoint {args.checkpoint} is an ONNX model: pass it as --model")
    return resolve_checkpoint(args.checkpoint)


def open_model(args: argparse.Namespace):
    """The Predictor or OnnxPredictor the arguments name; both have the same predict/predict_full.

    Raises:
        ValueError: as `model_file`, or a file that does not load (the message says which).
    """
    from seg_core.inference.onnx_predictor import OnnxPredictor

    path = model_file(args)
    if args.model is not None:
        if getattr(args, "compile", False):
            raise ValueError("--compile is for torch checkpoints; ONNX Runtime optimises --model itself")
        return OnnxPredictor.from_file(path)
    from seg_core.inference.predictor import Predictor

    return Predictor.from_checkpoint(path, device=args.device, compile=getattr(args, "compile", False))
