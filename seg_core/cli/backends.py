"""Which model a command runs: `--checkpoint best.pt` (torch) or `--model model.onnx` (ONNX Runtime,
never importing torch, for the field install of requirements-field.txt)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="a torch checkpoint (best.pt)")
    parser.add_argument(
        "--model",
        help="an exported model.onnx (python -m seg_core export), run on ONNX Runtime without torch",
    )


def open_model(args: argparse.Namespace):
    """The Predictor or OnnxPredictor the arguments name; both have the same predict/predict_full.

    Raises:
        ValueError: neither or both given, or a file of the wrong kind (the message says which).
    """
    from seg_core.inference.onnx_predictor import OnnxPredictor

    if (args.checkpoint is None) == (args.model is None):
        raise ValueError(
            "give exactly one of --checkpoint best.pt (torch) or --model model.onnx (ONNX Runtime)"
        )
    if args.model is not None:
        if Path(args.model).suffix.lower() != ".onnx":
            raise ValueError(
                f"--model {args.model} must be an exported .onnx file (see `python -m seg_core export`)"
            )
        if getattr(args, "compile", False):
            raise ValueError("--compile is for torch checkpoints; ONNX Runtime optimises --model itself")
        return OnnxPredictor.from_file(args.model)
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        raise ValueError(f"--checkpoint {args.checkpoint} is an ONNX model: pass it as --model")
    from seg_core.inference.predictor import Predictor

    return Predictor.from_checkpoint(
        args.checkpoint, device=args.device, compile=getattr(args, "compile", False)
    )
