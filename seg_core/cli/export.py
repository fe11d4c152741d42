"""`export`: a checkpoint as a verified ONNX file for the torch-free field install."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seg_core.cli.backends import CHECKPOINT_HELP


def _export(args: argparse.Namespace) -> int:
    from seg_core.inference.export import ExportSettings, export_onnx
    from seg_core.services.models import resolve_checkpoint

    photos = Path(args.verify_on) if args.verify_on else None
    if photos is not None and not photos.is_dir():
        raise ValueError(f"--verify-on {photos} is not a folder of photos")
    report = export_onnx(
        resolve_checkpoint(args.checkpoint), args.out, ExportSettings(opset=args.opset), photos
    )
    int8 = _quantize(Path(report.path)) if args.int8 else None
    if args.json:
        print(json.dumps({**report.as_dict(), "int8": int8.as_dict() if int8 else None}))
        return 0
    print(
        f"{report.path} written ({report.size_bytes / 1e6:.1f} MB, {report.seconds:.0f} s); verified on "
        f"{report.photos} photo(s) against torch: largest logit difference {report.max_logit_difference:.1e} "
        f"(allowed {report.logit_tolerance:.0e}), argmax agreement {report.argmax_agreement:.4%}"
    )
    if int8 is not None:
        change = (
            f"Kaggle Dice {int8.score_float:.4f} -> {int8.score_int8:.4f} on held-out synthetic scenes, "
            + (f"{int8.pixel_agreement:.1%} of pixels agree, {int8.size_bytes / 1e6:.1f} MB")
        )
        if int8.kept:
            print(f"{int8.path} written (int8): {change}")
        else:
            print(f"int8 not kept: {change}; the loss exceeds {int8.max_score_loss}", file=sys.stderr)
    print(f"  use it without torch: python -m seg_core predict --model {report.path} --out DIR PHOTOS...")
    return 0


def _quantize(model: Path):
    from seg_core.evaluation.metrics import kaggle_dice
    from seg_core.inference.quantize import quantize_int8

    return quantize_int8(model, model.with_name(model.stem + ".int8.onnx"), score=kaggle_dice)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint to ONNX (dynamic size, metadata, verified against torch)"
    )
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument(
        "--opset", type=int, default=17, help="ONNX opset (default 17, runs on onnxruntime >= 1.14)"
    )
    p.add_argument("--verify-on", help="folder of photos to verify on (default: the shipped samples/)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="also write MODEL.int8.onnx (static int8 quantisation), kept only if Kaggle Dice on held-out "
        "synthetic scenes drops by at most 0.01",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_export)
