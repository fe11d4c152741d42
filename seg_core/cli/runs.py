"""`runs list|show|compare|stop|resume|delete`."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from seg_core.cli.common import COMPARE_COLUMNS, print_table
from seg_core.runs.study_table import summary_table


def _runs(args: argparse.Namespace) -> int:
    from seg_core.runs.registry import RunRegistry, validate_run_id
    from seg_core.services import runs
    from seg_core.services.caller import Caller

    registry = RunRegistry()
    owner = Caller(registry=registry)  # the CLI is the machine's owner: unrestricted, audited
    if args.action == "list":
        rows = [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "arch": r.config.get("arch"),
                "epochs": f"{r.epochs_done or 0}/{r.config.get('epochs')}",
                "best_val_dice": r.best_metric,
                "duration_s": round(r.duration_s) if r.duration_s else None,
            }
            for r in registry.list()
        ]
        if args.json:
            print(json.dumps({"runs": rows}))
        elif rows:
            print_table(rows, ("id", "name", "status", "arch", "epochs", "best_val_dice", "duration_s"))
        else:
            print("no runs yet: start one with `python -m seg_core train --data DIR`")
        return 0
    ids = [validate_run_id(i) for i in args.ids]
    if not ids:
        raise ValueError(f"`runs {args.action}` needs at least one run id (see `runs list`)")
    registry.reconcile()  # a killed trainer shows as interrupted here too, not as running
    if args.action == "compare":
        rows = summary_table(registry, ids)
        print(json.dumps({"runs": rows})) if args.json else print_table(rows, COMPARE_COLUMNS)
        return 0
    if args.action == "show" and args.json:  # one object: the run, or {"runs": [...]} for several
        shown = [_details(registry.get(run_id)) for run_id in ids]
        print(json.dumps(shown[0] if len(shown) == 1 else {"runs": shown}))
        return 0
    for run_id in ids:
        if args.action == "show":
            for key, value in _details(registry.get(run_id)).items():
                print(f"{key:>15}: {_local_time(value) if key.endswith('_at') else value}")
            for line in registry.logs(run_id, limit=15):
                print(f"  [{line.level}] {line.message}")
        elif args.action == "stop":
            print(f"{run_id}: {'stop requested' if runs.stop(run_id, owner) else 'not running'}")
        elif args.action == "resume":
            print(runs.resume(run_id, owner).message)
        elif args.action == "delete":
            runs.delete(run_id, owner)
            print(f"{run_id}: deleted with its checkpoints")
    return 0


def _details(run) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(run).items()}


def _local_time(timestamp: float | None) -> str:
    """A registry time (Unix seconds) as a local date and time with its UTC offset."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(sep=" ", timespec="seconds")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list, show, compare, stop, resume or delete runs")
    p.add_argument("action", choices=("list", "show", "compare", "stop", "resume", "delete"))
    p.add_argument("ids", nargs="*", help="run ids")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_runs)
