"""MkDocs hooks (mkdocs.yml `hooks:`): pages generated from the code at build time, so they cannot
go stale.

A page asks for a generated part with a marker line:
- `<!-- generated: cli -->`: every `stormseg` command's `--help`, from the argparse parser itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HELP_WIDTH = "100"  # argparse wraps at $COLUMNS: a fixed width gives the same page on every machine


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:  # argparse has no public accessor for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices.items())
    return []


def _command_sections(parser: argparse.ArgumentParser, path: str, depth: int) -> list[str]:
    lines = [f"{'#' * depth} `{path}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser):
        lines += _command_sections(sub, f"{path} {name}", min(depth + 1, 4))
    return lines


def cli_reference() -> str:
    """Markdown: `stormseg --help`, then each command's (and sub-command's) help in order."""
    from seg_core.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        parser = build_parser("stormseg")
        lines = ["```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in _subcommands(parser):
            lines += _command_sections(sub, f"stormseg {name}", 2)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(lines)


GENERATED = {"cli": cli_reference}


def on_page_markdown(markdown: str, page, config, files) -> str:
    if str(ROOT) not in sys.path:  # MkDocs restores sys.path after loading a hook: add it per call
        sys.path.insert(0, str(ROOT))
    for name, render in GENERATED.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
