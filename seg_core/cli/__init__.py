"""`python -m seg_core ...`: every engine feature from the command line (a contract: docs/reference/cli.md).

Each command lives in its own module here with a `register(sub)` that adds its parser;
`COMMANDS` lists them in the order `--help` shows.

Errors: one clear line on stderr; exit 2 for bad input (ValueError), 1 for internal failures.
`--json` output is a single JSON object on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import NoReturn

from seg_core.cli import (
    app,
    buildings,
    data,
    evaluate,
    export,
    geo,
    label,
    models,
    partial,
    predict,
    runs,
    train,
)

COMMANDS = (data, train, evaluate, predict, geo, buildings, export, models, runs, label, partial, app)


class _Parser(argparse.ArgumentParser):
    """argparse's own errors follow the contract too: one line on stderr, exit 2 (argparse would
    print the whole usage first: 27 lines for `train`)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser(prog: str = "python -m seg_core") -> argparse.ArgumentParser:
    # Subparsers are made with the parent's class, so every command gets the one-line errors.
    parser = _Parser(prog=prog, description="StormSeg engine")
    parser.add_argument(
        "--version", action=app.VersionAction, help="print the version, torch's and the device"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


# Library warnings that say nothing a user can act on: Pillow reads past a damaged EXIF block
# (the photo is still decoded; an orientation it could not read is simply not applied), and
# torch's note about read-only arrays is ours to avoid, not the user's to read.
_QUIET_WARNINGS = (
    (r"(Possibly )?[Cc]orrupt EXIF", UserWarning),
    (r"The given NumPy array is not writable", UserWarning),
)


def _quiet_library_warnings() -> None:
    for message, category in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    # Any other warning: one line, not Python's file path plus source line.
    warnings.showwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}", file=sys.stderr)


def main(
    argv: Sequence[str] | None = None, own_process: bool = False, prog: str = "python -m seg_core"
) -> int:
    """Run one command; `own_process` when this process exists for it (`python -m seg_core`,
    `stormseg`); `prog` names the command in help and usage lines. A process started by
    `jobs.launcher` with an exit record writes it last, so its launcher learns how it ended."""
    code, error = _run(argv, own_process, prog)
    if own_process:
        from seg_core.jobs.launcher import record_exit

        record_exit(code, error)
    return code


def _run(argv: Sequence[str] | None, own_process: bool, prog: str) -> tuple[int, str | None]:
    """The exit code, and the one-line error printed on stderr (None when there was none)."""
    _quiet_library_warnings()
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed): a code, as below
        return int(exc.code or 0), None
    # Not for an exported model (`--model x.onnx`): ONNX Runtime keeps and releases its own arena
    # per run, and a heap that never shrinks only holds each photo's fragments (a 12 MP photo at
    # 1024 px: 698 -> 480 MB peak, docs/benchmarks-analysis.md section 11).
    if (
        own_process
        and args.command in ("train", "predict", "evaluate", "finetune")
        and getattr(args, "model", None) is None
    ):
        from seg_core.core.memory import reuse_freed_memory

        # Batch work allocating the same big tensors step after step: keep freed memory for
        # reuse instead of page-faulting it back in (training step 1.26 -> 1.59 img/s, a 12 MP
        # prediction 0.73 -> 0.49 s). Not in the app server or in-process callers.
        reuse_freed_memory()
    try:
        return args.handler(args), None
    except ValueError as exc:  # bad input: the message already names the file or setting
        return _failed(2, f"error: {exc}")
    except KeyboardInterrupt:
        return _failed(130, "interrupted")
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        failed = _failed(1, f"internal error: {type(exc).__name__}: {exc}")
        if os.environ.get("STORMSEG_DEBUG"):
            traceback.print_exc()
        return failed


def _failed(code: int, error: str) -> tuple[int, str]:
    print(error, file=sys.stderr)
    return code, error
