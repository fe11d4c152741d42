"""`app` (the Streamlit app, wherever StormSeg is installed), `--version`, and the `stormseg`
console script."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


class VersionAction(argparse.Action):
    """`--version`: StormSeg's version with torch's and the device's (torch is imported only when
    asked, so other commands do not pay for it)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from seg_core.core.about import version_text

        print(version_text())
        parser.exit()


def _app(args: argparse.Namespace) -> int:
    from seg_core.core import paths

    script = paths.APP_DIR / "app.py"
    if not script.is_file():
        raise ValueError(f"{script}: the app's files are missing from this installation; reinstall stormseg")
    # Streamlit reads .streamlit/config.toml from its working folder: started from the app's own
    # folder, its settings (upload limit, XSRF, no file watcher) hold wherever it is installed.
    # The home is resolved here, from the caller's folder, and handed down.
    env = {**os.environ, "STORMSEG_HOME": str(paths.home())}
    print(f"StormSeg app: files under {env['STORMSEG_HOME']}", flush=True)
    command = [sys.executable, "-m", "streamlit", "run", str(script), *args.streamlit_args]
    return subprocess.call(command, cwd=paths.APP_DIR, env=env)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="start the Streamlit app (the same as `streamlit run app.py` in a checkout)",
        description="Start the app. Options after `--` go to `streamlit run`, e.g. "
        "`stormseg app -- --server.port 8502`.",
    )
    p.add_argument(
        "streamlit_args", nargs="*", metavar="STREAMLIT_OPTION", help="after --: for streamlit run"
    )
    p.set_defaults(handler=_app)


def console_main() -> None:
    """The `stormseg` command (pyproject.toml's [project.scripts])."""
    from seg_core.cli import main

    raise SystemExit(main(own_process=True, prog="stormseg"))
