"""The app in a real browser: segment an uploaded photo; train with live curves; see the run in Runs."""

from __future__ import annotations

import re
import time

import pytest
from harness import no_traceback, settle_after

from seg_core.core import paths
from seg_core.services import catalog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _goto(page, base: str, path: str = "") -> None:
    page.goto(f"{base}/{path}")
    page.wait_for_selector("[data-testid='stSidebarNav']")


def test_upload_a_photo_and_see_overlay_and_legend(app_server, page, tmp_path):
    base, _ = app_server
    assert paths.DEMO_CHECKPOINT.is_file(), "the shipped demo model is missing"
    _goto(page, base, "segment")
    page.get_by_text("Segment", exact=True).first.wait_for()
    photo = catalog.sample_photos()[0]
    page.locator("input[type='file']").first.set_input_files(str(photo))
    # Photo and overlay side by side, then the legend with each class's share. The class picker
    # above them names the classes first (elements stream in), so wait for the images themselves.
    images = page.locator("[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img")
    images.nth(1).wait_for(timeout=120_000)
    page.get_by_text("Legend").first.wait_for()
    legend = page.locator("[data-testid='stMarkdownContainer']", has_text=re.compile(r"Property Roof.*%"))
    legend.first.wait_for()
    assert "Flooded" in page.content()
    no_traceback(page)
    page.screenshot(path=str(tmp_path / "segment.png"), full_page=True)


def _fill_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    settle_after(page, box.press, "Enter")


def _plot_points(page) -> int:
    return page.locator(".js-plotly-plot .scatterlayer .point").count()


def test_train_from_the_browser_watch_live_curves_and_see_it_in_runs(app_server, page, tmp_path):
    base, _ = app_server
    _goto(page, base, "train")
    page.get_by_text("Start training").wait_for()
    _fill_number(page, "Epochs", 8)
    _fill_number(page, "Resolution (px)", 320)
    _fill_number(page, "Crop (px)", 128)
    page.get_by_role("textbox", name="Run name").fill("browser run")
    settle_after(page, page.get_by_role("textbox", name="Run name").press, "Enter")
    page.get_by_role("button", name=re.compile("Start training")).click()
    page.get_by_text(re.compile(r"Started run")).first.wait_for(timeout=60_000)
    # The live view redraws itself: the curves gain points while nobody reloads the page.
    deadline = time.monotonic() + 240
    first = None
    while time.monotonic() < deadline:
        points = _plot_points(page)
        if first is None and points > 0:
            first = points
        if first is not None and points > first:
            break
        page.wait_for_timeout(1000)
    else:
        raise AssertionError(f"the live curves never gained points (first seen: {first})")
    page.screenshot(path=str(tmp_path / "train_live.png"), full_page=True)
    page.get_by_text(re.compile(r"Completed", re.I)).first.wait_for(timeout=300_000)
    no_traceback(page)
    page.get_by_role("link", name=re.compile("Runs")).first.click()
    # The runs table is a canvas grid; its cells also exist as an (off-screen) accessible table.
    row = page.locator("[role='row']", has=page.locator("[role='gridcell']", has_text="browser run"))
    row.first.wait_for(state="attached", timeout=60_000)
    assert "completed" in row.first.text_content()
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
    no_traceback(page)
