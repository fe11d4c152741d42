"""The installed package's command and folders: `stormseg --version`, `stormseg app`, where the
home is when StormSeg is not a checkout. (scripts/check_wheel.sh builds and installs the real
wheel and runs it from a temporary folder.)"""

from __future__ import annotations

import sys
from pathlib import Path

import seg_core
from seg_core import cli
from seg_core.cli import app as app_command
from seg_core.core import paths


def test_version_prints_stormseg_torch_and_the_device(capsys):
    import torch

    assert cli.main(["--version"], prog="stormseg") == 0  # argparse's exit becomes a return code
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"stormseg {seg_core.__version__} (torch {torch.__version__}, device ")


def test_help_names_the_command_it_was_called_as(capsys):
    assert cli.main(["--help"], prog="stormseg") == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: stormseg") and "app" in usage and "demo-data" in usage


def test_app_runs_streamlit_on_the_app_from_its_folder_with_the_callers_home(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        app_command.subprocess, "call", lambda command, cwd, env: calls.append((command, cwd, env)) or 0
    )
    monkeypatch.setenv("STORMSEG_HOME", str(tmp_path))
    assert cli.main(["app", "--", "--server.port", "8600"]) == 0
    [(command, cwd, env)] = calls
    assert command == [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(paths.APP_DIR / "app.py"),
        "--server.port",
        "8600",
    ]
    assert cwd == paths.APP_DIR and (cwd / ".streamlit" / "config.toml").is_file()  # its config applies
    assert env["STORMSEG_HOME"] == str(tmp_path.resolve())


def test_app_without_its_files_is_one_sentence(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(paths, "APP_DIR", tmp_path)
    assert cli.main(["app"]) == 2
    assert "app.py: the app's files are missing from this installation" in capsys.readouterr().err


def test_home_is_the_checkout_here_and_the_current_folder_when_installed(monkeypatch, tmp_path):
    monkeypatch.delenv("STORMSEG_HOME", raising=False)
    assert paths.IS_CHECKOUT and paths.home() == paths.REPO_ROOT  # today's behaviour, unchanged
    monkeypatch.setattr(paths, "IS_CHECKOUT", False)
    monkeypatch.chdir(tmp_path)
    assert paths.home() == tmp_path.resolve() and paths.runs_dir() == tmp_path.resolve() / "runs"
    monkeypatch.setenv("STORMSEG_HOME", str(tmp_path / "elsewhere"))
    assert paths.checkpoints_dir() == tmp_path / "elsewhere" / "checkpoints"


def test_shipped_files_are_found_in_the_checkout():
    assert paths.DEMO_CHECKPOINT == paths.REPO_ROOT / "checkpoints" / "demo" / "best.pt"
    assert (paths.SAMPLES_DIR / "flooded_street.jpg").is_file()
    assert (paths.APP_DIR / "app.py").is_file() and Path(paths.APP_DIR / "app_pages").is_dir()
