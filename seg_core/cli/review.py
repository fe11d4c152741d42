"""`label states | accept | reject | sets | diff | export | agreement | gold`: the review's
non-visual parts from the command line, as the machine's owner (audited as 'owner').

python -m seg_core label states DATASET [--state S] [--json]
python -m seg_core label accept DATASET (STEM... | --all) [--comment TEXT] [--json]
python -m seg_core label reject DATASET STEM --comment TEXT
python -m seg_core label sets DATASET [--json]
python -m seg_core label diff OLD [NEW] [--data DATASET] [--json]   OLD/NEW: run id, ls-id or labelset.json
python -m seg_core label export DATASET --out DIR [--set REF] [--include-unreviewed]
python -m seg_core label agreement DATASET [--json]
python -m seg_core label gold DATASET [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from seg_core.cli.common import dataset_folder, print_table


def _states(args: argparse.Namespace) -> int:
    from seg_core.labelling.review import STATES
    from seg_core.services.review import state_rows

    if args.state and args.state not in STATES:
        raise ValueError(f"--state {args.state!r} is not one of: {', '.join(STATES)}")
    rows = [r for r in state_rows(dataset_folder(args.dataset)) if not args.state or r["state"] == args.state]
    if args.json:
        print(json.dumps({"photos": rows}))
    else:
        print_table(rows, ("photo", "state", "detail", "saved", "reviewed", "comment"))
    return 0


def _accept(args: argparse.Namespace) -> int:
    from seg_core.services.review import accept_all

    if bool(args.stems) == args.all:
        raise ValueError("name the photos to accept, or --all for every submitted mask (not both)")
    accepted, refused = accept_all(dataset_folder(args.dataset), stems=None if args.all else args.stems)
    for sentence in refused:
        print(f"refused: {sentence}", file=sys.stderr)
    if args.json:
        print(json.dumps({"accepted": accepted, "refused": refused}))
    else:
        print(f"accepted {len(accepted)} mask(s)" + (f": {', '.join(accepted)}" if accepted else ""))
    return 2 if refused else 0


def _reject(args: argparse.Namespace) -> int:
    from seg_core.services.review import reject

    state = reject(dataset_folder(args.dataset), args.stem, args.comment)
    print(f"{args.stem}: {state.describe()}")
    return 0


def _sets(args: argparse.Namespace) -> int:
    from seg_core.services.labelsets import saved

    rows = [
        {
            "id": s.id,
            "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created_at)),
            "masks": len(s.photos),
            "left_out": len(s.left_out),
            "include_unreviewed": s.include_unreviewed,
        }
        for s in saved(dataset_folder(args.dataset))
    ]
    if args.json:
        print(json.dumps({"sets": rows}))
    else:
        print_table(rows, ("id", "created", "masks", "left_out", "include_unreviewed"))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from seg_core.services import labelsets

    old = labelsets.find(args.old, args.data)
    if args.new:
        new = labelsets.find(args.new, args.data)
    else:  # the labels as they are now, with the old set's rule
        new = labelsets.current(args.data or old.dataset, old.include_unreviewed)
    change = labelsets.compare(old, new)
    if args.json:
        print(json.dumps(change))
        return 0
    print(f"{change['from']} -> {change['to']}: {change['unchanged']} unchanged")
    for key in ("added", "removed", "mask_changed"):
        print(f"{key.replace('_', ' ')}: {', '.join(change[key]) or '-'}")
    states = [f"{c['stem']} ({c['from']} -> {c['to']})" for c in change["state_changed"]]
    print(f"state changed: {', '.join(states) or '-'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from seg_core.services import labelsets

    dataset = dataset_folder(args.dataset)
    if args.set:
        label_set = labelsets.find(args.set, dataset)
    else:
        label_set = labelsets.freeze_current(dataset, args.include_unreviewed)
    out = labelsets.export(label_set, args.out)
    print(f"{label_set.summary()}\nexported to {out}")
    return 0


def _agreement(args: argparse.Namespace) -> int:
    from seg_core.services import agreement

    dataset = dataset_folder(args.dataset)
    rows = []
    for request in agreement.open_requests(dataset):
        row = {**request, "labels": ", ".join(request["labels"]), "miou": None}
        if request["ready"]:
            a, b = request["labels"][:2]
            row["miou"] = agreement.compare_labels(dataset, request["stem"], a, b).miou
        rows.append(row)
    if args.json:
        print(json.dumps({"requests": rows}))
    else:
        print_table(rows, ("stem", "requested_by", "labels", "needed", "ready", "miou"))
    return 0


def _gold(args: argparse.Namespace) -> int:
    from seg_core.services import agreement

    scores = agreement.gold_scores(dataset_folder(args.dataset))
    summary = agreement.gold_summary(scores)
    if args.json:
        print(json.dumps({"analysts": summary, "scores": scores}))
    else:
        print_table(summary, ("who", "gold_photos", "mean_miou", "latest_miou"))
    return 0


def register_actions(actions: argparse._SubParsersAction) -> None:
    """Add the review's actions to `label`'s subcommands."""
    a = actions.add_parser("states", help="every photo's review state: unlabelled ... accepted, rejected")
    a.add_argument("dataset")
    a.add_argument("--state", help="only photos in this state")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_states)
    a = actions.add_parser("accept", help="accept submitted masks as the owner (each audited)")
    a.add_argument("dataset")
    a.add_argument("stems", nargs="*", metavar="STEM")
    a.add_argument("--all", action="store_true", help="every submitted mask")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_accept)
    a = actions.add_parser("reject", help="reject a mask with a comment saying what to fix")
    a.add_argument("dataset")
    a.add_argument("stem")
    a.add_argument("--comment", required=True)
    a.set_defaults(handler=_reject)
    a = actions.add_parser("sets", help="the label sets frozen for training runs on this dataset")
    a.add_argument("dataset")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_sets)
    a = actions.add_parser("diff", help="what changed between two label sets (NEW: the labels now)")
    a.add_argument("old", help="a run id, a label set id (ls-..., with --data) or a labelset.json")
    a.add_argument("new", nargs="?")
    a.add_argument("--data", help="the dataset of ls-... ids")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_diff)
    a = actions.add_parser("export", help="a label set as a dataset of its own (photos, masks, manifest)")
    a.add_argument("dataset")
    a.add_argument("--out", required=True, help="a new folder")
    a.add_argument("--set", help="a run id, ls-id or labelset.json (default: the labels now)")
    a.add_argument("--include-unreviewed", action="store_true", help="also submitted masks (rejected never)")
    a.set_defaults(handler=_export)
    a = actions.add_parser("agreement", help="photos labelled independently, with the labels' mean IoU")
    a.add_argument("dataset")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_agreement)
    a = actions.add_parser("gold", help="each analyst's agreement with the gold photos")
    a.add_argument("dataset")
    a.add_argument("--json", action="store_true")
    a.set_defaults(handler=_gold)
