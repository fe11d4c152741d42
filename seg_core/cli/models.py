"""`models`: what `--checkpoint`, `--model` and `--parent` accept by name, and where each file is.

python -m seg_core models [--json]
"""

from __future__ import annotations

import argparse
import json

from seg_core.cli.common import print_table


def _models(args: argparse.Namespace) -> int:
    from seg_core.services.models import named_models

    models = named_models()
    if args.json:
        print(json.dumps({"models": [m.as_dict() for m in models]}))
        return 0
    if not models:
        print("no model to name here: train one (`train`), or give --checkpoint the path to a best.pt")
        return 0
    rows = [
        {
            "id": m.id,
            "name": m.name,
            "val_dice": m.val_dice,
            "status": m.status,
            "file": str(m.checkpoint or m.onnx) + (" (+ .onnx)" if m.checkpoint and m.onnx else ""),
        }
        for m in models
    ]
    print_table(rows, ("id", "name", "val_dice", "status", "file"))
    print("name a model by its id, or by its name where no other run shares it: --checkpoint demo")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="the models you can name in --checkpoint/--model/--parent: demo (shipped) and every run",
    )
    p.add_argument("--json", action="store_true", help='one JSON object: {"models": [...]}')
    p.set_defaults(handler=_models)
