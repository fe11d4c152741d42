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
