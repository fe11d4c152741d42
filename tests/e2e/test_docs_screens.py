"""The user guide's screenshots, made by driving the real app in headless Chromium against the demo
data, so every release's pictures show today's app; and each guide page's named widgets
(**Name**{.widget}) checked against the widgets the page has now.

A screenshot is written into docs/images/screens/ only when it shows something else than the
committed one (tests/docs_pages.py: JPEG noise is not a change), so a run leaves git clean unless
the app changed. The docs site's strict build (scripts/test.sh) runs after this and fails on a
page that links a screenshot that is not there.
"""

from __future__ import annotations

import re
import shutil
import time

import pytest
from docs_pages import SCREENS, guide_pages, missing_widgets, named_widgets, screenshots, shows_something_else
from harness import chromium_available, no_traceback, running_app, settle_after

from seg_core.core import paths

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VIEWPORT = {"width": 1400, "height": 1100}
# Every element a guide page may name (textContent: a collapsed expander's or a hidden tab's too): labels of inputs, buttons (download buttons, links drawn
# as buttons, segmented controls), tabs, expanders, radio and checkbox options, page links, metrics.
WIDGET_TEXTS = """() => Array.from(document.querySelectorAll(
  "[data-testid='stWidgetLabel'], button, [role='tab'], summary, [data-testid='stMetricLabel'], "
  + "[data-testid='stPageLink-NavLink'], [data-testid='stRadio'] label, [data-testid='stCheckbox'] label"
)).map(e => e.textContent.trim()).filter(Boolean)"""
SETTLED_POLLS = 4  # of 250 ms each without the running indicator
LABEL_DATASET = "ian-2026"  # photos without masks, pre-labelled by the demo model


@pytest.fixture(scope="module")
def docs_app(tmp_path_factory):
    """The app on a home a newcomer reaches in the first hour: the demo dataset, one small trained
    run, and a new storm's photos pre-labelled by the shipped model."""
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from seg_core.cli import main
    from seg_core.demo.synth import write_demo_dataset

    home = tmp_path_factory.mktemp("docs_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STORMSEG_HOME", str(home))
        write_demo_dataset(home / "data" / "demo", n=8, size=(320, 240), seed=3)
        train = (
            f"train --data {home / 'data' / 'demo'} --arch unet --unet-base-width 8 --resolution 160 "
            "--crop 96 --batch-size 2 --epochs 3 --warmup-epochs 0 --name first-unet"
        )
        assert main(train.split()) == 0
        storm = home / "data" / LABEL_DATASET / "train_images"
        storm.mkdir(parents=True)
        for photo in sorted(paths.SAMPLES_DIR.glob("*.jpg"))[:2]:
            shutil.copy(photo, storm / photo.name)
        assert main(["label", "prelabel", str(storm.parent), "--checkpoint", "demo"]) == 0
    with running_app(home) as base:
        yield base, home


@pytest.fixture(scope="module")
def docs_browser():
    pytest.importorskip("playwright.sync_api")
    from harness import chromium

    with chromium() as instance:
        yield instance


class Visit:
    """One guide page's visit: the widgets seen along the way and the screenshots taken."""

    def __init__(self, browser, base: str, tmp_path):
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(120_000)
        self.base, self.tmp, self.seen, self.shots = base, tmp_path, set(), []

    def open(self, path: str, ready: str | re.Pattern, area: str = "stMain") -> None:
        """Go to the page and wait until `ready` shows in its `area` and its script has run."""
        self.page.goto(f"{self.base}/{path}")
        self.page.wait_for_selector("[data-testid='stSidebarNav']")
        self.main(ready, area).wait_for()
        self.look()

    def main(self, text: str | re.Pattern, area: str = "stMain"):
        return self.page.locator(f"[data-testid='{area}']").get_by_text(text).first

    def look(self) -> None:
        """Once the page has settled, note the widgets."""
        self.settle()
        self.seen |= set(self.page.evaluate(WIDGET_TEXTS))

    def settle(self, timeout_s: float = 240.0) -> None:
        """Until Streamlit's running indicator has stayed away for a second: a rerun (after a click,
        a selection, a fragment) shows it only once it has started, so one look could come early."""
        indicator = self.page.locator("[data-testid='stStatusWidget']")
        deadline, quiet = time.monotonic() + timeout_s, 0
        while quiet < SETTLED_POLLS:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.page.url} kept running for {timeout_s:.0f} s")
            quiet = 0 if indicator.count() and indicator.first.is_visible() else quiet + 1
            self.page.wait_for_timeout(250)

    def choose(self, label: str, option: str) -> None:
        self.page.locator("[data-testid='stSelectbox']", has_text=label).first.click()
        self.page.get_by_role("option", name=re.compile(re.escape(option))).first.click()

    def screenshot(self, name: str, scroll_to=None) -> None:
        """`scroll_to`: a locator brought into view once the page has settled (a late rerun may
        redraw the page at its top: map-overlay.jpg once showed the page's head so)."""
        self.look()
        if scroll_to is not None:
            scroll_to.scroll_into_view_if_needed()
        no_traceback(self.page)
        self.page.mouse.move(0, VIEWPORT["height"] - 1)  # no tooltip in the picture
        made = self.tmp / f"{name}.jpg"
        self.page.screenshot(path=str(made), type="jpeg", quality=80)
        target = SCREENS / f"{name}.jpg"
        if shows_something_else(made, target):
            SCREENS.mkdir(parents=True, exist_ok=True)
            shutil.copy(made, target)
        self.shots.append(target)


def visit_home(v: Visit) -> None:
    v.open("", "Get started")
    v.screenshot("home")


def visit_segment(v: Visit) -> None:
    v.open("segment", "Use the sample photos")
    v.screenshot("segment-start")
    v.page.get_by_role("button", name=re.compile("Use the sample photos")).click()
    v.main("Legend").wait_for(timeout=240_000)
    v.page.locator(
        "[data-testid='stMarkdownContainer']", has_text=re.compile(r"Property Roof.*%")
    ).first.wait_for()
    v.screenshot("segment")
    v.look()  # the one-photo tab's widgets, before the batch tab hides them
    v.page.get_by_role("tab", name="Batch summary").click()
    v.page.get_by_role("button", name=re.compile("Download everything")).wait_for()
    v.screenshot("segment-figures")


def visit_map(v: Visit) -> None:
    from seg_core.demo.geodemo import write_demo_orthomosaic

    ortho = write_demo_orthomosaic(v.tmp / "pine-creek.tif", cols=2, rows=1, tile_px=512)
    v.open("map", "Make a map")
    v.page.locator("input[type='file']").first.set_input_files(str(ortho))
    v.page.get_by_role("button", name="Make the map").click()
    marker = v.page.locator(".js-plotly-plot .scatterlayer .point").first
    marker.wait_for(timeout=240_000)
    v.screenshot("map")
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()  # plotly's drag layer takes the click and finds the point itself
    v.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    v.main("downsampled overlay").wait_for(timeout=120_000)
    v.screenshot("map-overlay", scroll_to=v.main("downsampled overlay"))


def visit_data(v: Visit) -> None:
    v.open("data", "Dataset")
    v.choose("Dataset", "demo")
    v.main("Usable pairs").wait_for()
    v.screenshot("data")


def visit_train(v: Visit) -> None:
    v.open("train", "Start training")
    v.screenshot("train")


def visit_runs(v: Visit) -> None:
    v.open("runs", "Tick rows")
    row = v.page.locator("[role='row']", has=v.page.locator("[role='gridcell']", has_text="first-unet"))
    row.first.wait_for(state="attached")
    # The table is a canvas: tick the first row's selection box, left of its first cell.
    table = v.page.locator("[data-testid='stDataFrame']").first.bounding_box()
    v.page.mouse.click(table["x"] + 18, table["y"] + 35 + 17)
    v.page.get_by_text("Actions", exact=True).wait_for()
    v.screenshot("runs")


def visit_evaluate(v: Visit) -> None:
    v.open("evaluate", "Labelled dataset")
    v.choose("Labelled dataset", "demo")
    v.page.get_by_role("button", name="Evaluate", exact=True).click()
    v.main("Kaggle Dice").wait_for(timeout=240_000)
    v.screenshot("evaluate")


def visit_label(v: Visit) -> None:
    v.open("label", "Pre-label photos nobody has labelled", area="stSidebar")
    name = v.page.get_by_label("Your name (saved with each mask)")
    name.fill("ana")
    settle_after(v.page, name.press, "Enter")
    v.choose("Dataset", LABEL_DATASET)
    v.main("started from the model's pre-label").wait_for(timeout=240_000)
    v.page.locator("canvas.upper-canvas").first.wait_for()
    v.screenshot("label")


def visit_audit(v: Visit) -> None:
    v.open("audit", re.compile("Who did what"))
    v.screenshot("audit")


VISITS = {
    name.removeprefix("visit_"): visit for name, visit in globals().items() if name.startswith("visit_")
}


def test_every_guide_page_has_a_visit():
    assert set(guide_pages()) == set(VISITS)


@pytest.mark.parametrize("name", sorted(VISITS))
def test_guide_page_screenshots_and_widget_names(name, docs_app, docs_browser, tmp_path):
    base, _ = docs_app
    visit = Visit(docs_browser, base, tmp_path)
    try:
        VISITS[name](visit)
    finally:
        visit.context.close()
    guide = guide_pages()[name]
    missing = missing_widgets(named_widgets(guide), visit.seen)
    assert not missing, f"{guide.name} names widgets the {name} page no longer has: {missing}"
    shown = {p.name for p in visit.shots}
    linked = {p.name for p in screenshots(guide)}
    assert linked <= shown, f"{guide.name} shows screenshots this visit does not make: {linked - shown}"
