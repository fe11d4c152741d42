"""Layering rules from shared/STYLE.md, checked on the source: the engine never imports
streamlit; pages and UI helpers never import torch (they call seg_core for anything numeric)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


ENGINE = sorted((ROOT / "seg_core").rglob("*.py"))
APP = sorted([ROOT / "app.py", *(ROOT / "app_pages").glob("*.py"), *(ROOT / "ui").glob("*.py")])


def test_the_layout_is_where_the_rules_expect_it():
    assert len(ENGINE) > 20 and len(APP) >= 8


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_never_imports_streamlit(path):
    assert "streamlit" not in imported_modules(path)


@pytest.mark.parametrize("path", APP, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_never_import_torch(path):
    assert not imported_modules(path) & {"torch", "torchvision", "segmentation_models_pytorch"}


@pytest.mark.parametrize("path", APP, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_never_import_the_training_loop(path):
    """A form checks its settings with training.config; the loop (torch, data loading) runs only
    in the training process."""
    assert "seg_core.training.loop" not in seg_core_imports(path)


# The engine's packages from bottom to top (docs/explanation/architecture.md): a module may import its own
# package and any package listed before it, never one after it. The contract re-exports
# `seg_core.infer` and `seg_core.metrics` are the only top-level modules.
LAYERS = (
    "core",  # paths, runtime, atomic writes, locks, progress: no StormSeg imports
    "schemes",  # what a mask's ids mean
    "imagery",  # photos and rasters in
    "datasets",  # pairs, validation, cache, loaders
    "demo",  # synthetic scenes
    "labelling",  # label store and mask editing
    "team",  # roles, limits, audit trail (asked only by services: see below)
    "models",  # architectures, weights, checkpoints
    "jobs",  # background OS processes
    "runs",  # the run registry
    "analytics",  # per-photo figures from a mask
    "inference",  # model to mask
    "gis",  # maps out
    "buildings",  # one record per building: footprints, FEMA damage levels, flood status, files
    "reports",  # the situation report PDF
    "evaluation",  # scores
    "training",  # the loop, the queue, fine-tuning
    "services",  # guarded actions shared by the app and the CLI
    "views",  # what pages show
    "cli",  # python -m seg_core
)
CONTRACT_ALIASES = {"infer.py": "seg_core.inference.predictor", "metrics.py": "seg_core.evaluation.metrics"}


def seg_core_imports(path: Path) -> set[str]:
    """Dotted seg_core modules imported by `path` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("seg_core")}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module.startswith("seg_core"):
                found |= (
                    {f"{module}.{alias.name}" for alias in node.names} if node.module is None else {module}
                )
    return found


def layer_of(dotted: str) -> int | None:
    parts = dotted.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_engine_module_lives_in_a_named_package():
    top = sorted(p.name for p in (ROOT / "seg_core").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "infer.py", "metrics.py"]
    packages = sorted(p.name for p in (ROOT / "seg_core").iterdir() if (p / "__init__.py").exists())
    assert sorted(packages) == sorted(LAYERS)


@pytest.mark.parametrize(
    "path",
    [p for p in ENGINE if len(p.relative_to(ROOT / "seg_core").parts) > 1],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_packages_import_only_downward(path):
    own = layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    upward = {m for m in seg_core_imports(path) if (layer_of(m) or -1) > own}
    top_level = {m for m in seg_core_imports(path) if layer_of(m) is None and m not in ("seg_core",)}
    assert not upward, f"{path.name} imports upward: {sorted(upward)}"
    assert not top_level, f"{path.name} imports a top-level module: {sorted(top_level)}"


@pytest.mark.parametrize("name", sorted(CONTRACT_ALIASES))
def test_contract_modules_only_re_export(name):
    path = ROOT / "seg_core" / name
    assert seg_core_imports(path) == {CONTRACT_ALIASES[name]}
    assert not [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]


def test_inference_never_imports_the_run_registry_or_training():
    for path in (ROOT / "seg_core" / "inference").glob("*.py"):
        assert not {m for m in seg_core_imports(path) if m.startswith(("seg_core.runs", "seg_core.training"))}


@pytest.mark.parametrize(
    "path",
    [p for p in ENGINE if p.relative_to(ROOT / "seg_core").parts[0] not in ("team", "services")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_services_know_about_roles(path):
    """Who may act is decided once, at the service boundary (services.caller): the queue, the run
    registry and the launcher below carry actions out for whoever the services let through."""
    assert not {m for m in seg_core_imports(path) if m.startswith("seg_core.team")}
