"""The docs as a newcomer meets them, checked without a browser: a guide page per app page, each
naming the widgets it explains and showing its screenshots; legends drawn from today's schemes;
the README short, with its pictures, and every link into the docs pointing at a page that exists.
(The site's own links and anchors: `mkdocs build --strict` in scripts/test.sh.)"""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml
from docs_pages import DOCS, GUIDE, ROOT, guide_pages, missing_widgets, named_widgets, screenshots
from PIL import Image

from seg_core.schemes.scheme import BUILTIN

README_MAX_LINES = 250


def app_pages() -> set[str]:
    """The page files app.py's navigation lists, by name (home, segment, ...)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    return {
        node.args[0].value.removeprefix("app_pages/").removesuffix(".py")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"
    }


def test_every_app_page_has_a_guide_page_and_nothing_else_does():
    assert set(guide_pages()) == app_pages()


@pytest.mark.parametrize("name", sorted(guide_pages()))
def test_a_guide_page_names_its_widgets_and_shows_its_screenshots(name):
    page = guide_pages()[name]
    assert named_widgets(page), f"{page.name} names no widget as **Name**{{.widget}}"
    shots = screenshots(page)
    assert shots, f"{page.name} shows no screenshot"
    for shot in shots:
        assert shot.is_file(), (
            f"{page.name}: {shot.name} is missing (tests/e2e/test_docs_screens.py makes it)"
        )
        assert Image.open(shot).size[0] == 1400


def test_widget_names_match_inside_a_widgets_text_and_nowhere_else():
    seen = {"download\n\nDownload table (CSV)", "Epochs"}
    assert missing_widgets(["Download table (CSV)", "Epochs", "Start training"], seen) == ["Start training"]


@pytest.mark.parametrize("scheme", sorted(BUILTIN))
def test_each_legend_was_drawn_from_its_scheme_as_it_is_today(scheme):
    legend = Image.open(DOCS / "images" / f"legend_{scheme}.png")
    assert json.loads(legend.text["scheme"]) == json.loads(
        json.dumps(BUILTIN[scheme].to_dict(), sort_keys=True)
    ), f"docs/images/legend_{scheme}.png is out of date: run python scripts/docs_images.py --legends"


def test_the_site_navigation_lists_every_page():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", ""))
    listed = set()

    def walk(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            walk(value) if isinstance(value, list) else listed.add(value)

    walk(config["nav"])
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == listed
    assert {str(p.relative_to(DOCS)) for p in GUIDE.glob("*.md")} <= listed


def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_shows_segment_and_the_legend():
    text = readme()
    assert len(text.splitlines()) <= README_MAX_LINES
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert "docs/images/segment.jpg" in images and "docs/images/legend_harvey.png" in images


def test_every_relative_link_in_the_readme_exists():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme())
    local = [link for link in links if "://" not in link and not link.startswith("mailto:")]
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_the_cli_reference_is_every_commands_help(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = hooks.on_page_markdown("# CLI\n\n<!-- generated: cli -->\n", None, None, None)
    from seg_core.cli import build_parser

    monkeypatch.setenv("COLUMNS", hooks.HELP_WIDTH)  # the page's width, whatever this terminal's
    commands = hooks._subcommands(build_parser("stormseg"))
    assert len(commands) > 10
    for name, parser in commands:
        assert f"## `stormseg {name}`" in page
        assert parser.format_help().splitlines()[0] in page  # its usage line, as --help prints it
    assert "### `stormseg label prelabel`" in page and "--checkpoint CHECKPOINT" in page
    assert "<!-- generated" not in page
