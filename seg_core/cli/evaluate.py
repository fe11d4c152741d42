"""`evaluate`: a model's scores on a labelled dataset, from a checkpoint (`--checkpoint best.pt`)
or an exported model (`--model model.onnx`, ONNX Runtime, never importing torch): same metrics,
same outputs."""

from __future__ import annotations

import argparse
import json
import sys

from seg_core.cli.backends import add_model_arguments, model_file, open_model
from seg_core.cli.common import check_device, print_table
from seg_core.core.progress import ConsoleProgress


def _evaluate(args: argparse.Namespace) -> int:
    from seg_core.evaluation.evaluate import evaluate_checkpoint

    check_device(args.device)
    predictor = open_model(args)
    model = str(model_file(args))
    result = evaluate_checkpoint(
        predictor,
        args.data,
        split=args.split,
        tta=args.tta,
        checkpoint=model,
        progress=None if args.json else ConsoleProgress("evaluate"),
        include_own_prelabels=args.include_own_prelabels,
    )
    for sentence in result.truth_notes():
        print(f"warning: {sentence}", file=sys.stderr)
    if result.excluded:  # as train warns: the score describes the usable pairs only
        print(
            f"warning: {len(result.excluded)} faulty item(s) of {args.data} were left out of the score, "
            f"e.g. {result.excluded[0]}; `python -m seg_core validate {args.data}` lists them all",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(
        f"{model} on {args.data} ({result.split} split, {len(result.images)} images, {result.seconds:.1f} s; "
        f"label scheme {result.scheme.describe()})"
    )
    print(
        f"  Kaggle Dice {result.kaggle_dice:.4f}   mIoU {result.scores.miou:.4f}   "
        f"pixel accuracy {result.scores.pixel_accuracy:.4f}"
    )
    rows = [r for r in result.scores.per_class(result.scheme.names) if r["support"] or r["iou"] is not None]
    print_table(rows, ("id", "name", "iou", "dice", "precision", "recall", "support"))
    print("  worst images: " + ", ".join(f"{s.stem} ({s.kaggle_dice:.3f})" for s in result.images[:5]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a model on a labelled dataset (Kaggle Dice, mIoU, per class)")
    add_model_arguments(p)
    p.add_argument("--data", required=True)
    p.add_argument(
        "--split",
        default="auto",
        choices=("auto", "val", "all"),
        help="auto: the checkpoint's validation split on its own dataset, else all pairs",
    )
    p.add_argument("--tta", action="store_true", help="average the 8 flips/rotations")
    p.add_argument(
        "--include-own-prelabels",
        action="store_true",
        help="also score masks that are mostly this model's own unreviewed pre-label (left out by default: "
        "scored on them a model agrees with itself)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_evaluate)
