"""`export`: a checkpoint as a verified ONNX file for the torch-free field install."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _export(args: argparse.Namespace) -> int:
    from seg_core.inference.export import ExportSettings, export_onnx

    photos = Path(args.verify_on) if args.verify_on else None
    if photos is not None and not photos.is_dir():
        raise ValueError(f"--verify-on {photos} is not a folder of photos")
    report = export_onnx(args.checkpoint, args.out, ExportSettings(opset=args.opset), photos)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    print(
        f"{report.path} written ({report.size_bytes / 1e6:.1f} MB, {report.seconds:.0f} s); verified on "
        f"{report.photos} photo(s) against torch: largest logit difference {report.max_logit_difference:.1e} "
        f"(allowed {report.logit_tolerance:.0e}), argmax agreement {report.argmax_agreement:.4%}"
    )
    print(f"  use it without torch: python -m seg_core predict --model {report.path} --out DIR PHOTOS...")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint to ONNX (dynamic size, metadata, verified against torch)"
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument(
        "--opset", type=int, default=17, help="ONNX opset (default 17, runs on onnxruntime >= 1.14)"
    )
    p.add_argument("--verify-on", help="folder of photos to verify on (default: the shipped samples/)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_export)
