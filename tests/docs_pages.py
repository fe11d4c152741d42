"""What the user guide promises about the app, read from its pages: the widgets each guide page
names and the screenshots it shows. Shared by tests/test_docs.py (no browser) and the browser
test that makes the screenshots (tests/e2e/test_docs_screens.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDE = DOCS / "guide"
SCREENS = DOCS / "images" / "screens"

# A widget's name as the page shows it, written **Start training**{.widget} in a guide page.
WIDGET = re.compile(r"\*\*([^*\n]+)\*\*\{\.widget\}")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# A re-made screenshot replaces the committed one only when it shows something else: JPEG noise
# and anti-aliasing move pixels by a few levels; a changed widget or figure moves many by far more.
CHANGED_SHARE = 0.005  # of pixels...
CHANGED_LEVEL = 48  # ...that differ by more than this (0-255, any channel)


def guide_pages() -> dict[str, Path]:
    """{app page name: its guide page}, e.g. {"segment": docs/guide/segment.md}."""
    return {p.stem: p for p in sorted(GUIDE.glob("*.md")) if p.stem != "index"}


def named_widgets(page: Path) -> list[str]:
    return WIDGET.findall(page.read_text())


def screenshots(page: Path) -> list[Path]:
    """The screenshots a guide page shows (images under images/screens/)."""
    return [(page.parent / link).resolve() for link in IMAGE.findall(page.read_text()) if "/screens/" in link]


def normalise(text: str) -> str:
    return " ".join(text.split())


def missing_widgets(named: list[str], seen: set[str]) -> list[str]:
    """Names a guide page uses that no widget on the page carries. A widget's text may hold more
    than its name (an icon's ligature, a count, a help mark), so a name matches inside it."""
    shown = [normalise(text) for text in seen]
    return [name for name in named if not any(normalise(name) in text for text in shown)]


def shows_something_else(new: Path, old: Path) -> bool:
    """Whether the screenshot `new` differs from `old` in what it shows (see CHANGED_SHARE)."""
    if not old.is_file():
        return True
    a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in (new, old))
    if a.shape != b.shape:
        return True
    changed = (np.abs(a - b).max(axis=2) > CHANGED_LEVEL).mean()
    return bool(changed > CHANGED_SHARE)
