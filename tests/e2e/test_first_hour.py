"""The analyst's first hour in Chromium at 1400 px, as issue 23 walked it: sample photos, a
real-looking upload, a dataset made from photos, pre-label, fill, brush, save, a short fine-tune,
the fine-tuned model carried from Runs to Segment, Evaluate, a map. Each step checks what broke
trust the first time (a picker that jumped to another photo, figures cut to "Fl… 7…", a model
scored against its own pre-labels, a fine-tuned model without a familiarity reference, ...).

Every wait is on something the page shows (a text, a figure, an enabled button), never on time:
the machine may be loaded, and a step only starts once the previous one has shown its result.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from harness import (
    brush_stroke,
    canvas_box,
    choose,
    edits_applied,
    no_traceback,
    selected,
    settle_after,
    settled,
    wait_until,
)
from PIL import Image

from seg_core.demo.synth import generate_scene
from seg_core.imagery.imageio import load_mask
from seg_core.services import catalog

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
LONG = 600_000  # ms: a fine-tune or a pre-label on a loaded 2-core machine


def clicked_until(page, target, shown, tries: int = 3) -> None:
    """Click `target` once the page has settled, until `shown` is visible. A chart's point clicked
    while a rerun replaces the chart loses its selection, as a person's click would (timed out
    once in a loaded CI run, 2026-12-07: RELIABILITY.md); the person clicks again."""
    for _ in range(tries):
        settled(page)
        target.click(force=True)
        try:
            shown.wait_for(timeout=20_000)
            return
        except sync_api.TimeoutError:
            continue
    raise AssertionError(f"{tries} clicks never showed {shown}")


def _nav(page, name: str) -> None:
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name, exact=True).click()


def _figures_cut_short(page) -> list[str]:
    """The headline figures (label or value) the browser draws with an ellipsis."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
                "[data-testid='stMetricLabel'], [data-testid='stMetricValue']")]
            .filter(el => [el, ...el.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
            .map(el => el.innerText)"""
    )


def _metric(page, label: str) -> str:
    figure = page.locator("[data-testid='stMetric']", has=page.get_by_text(label, exact=True)).first
    figure.wait_for(timeout=LONG)
    return figure.locator("[data-testid='stMetricValue']").inner_text()


def _top(locator) -> float:
    return locator.bounding_box()["y"]


def _real_looking_photo(path) -> None:
    """A drone-sized photo of a style the demo model never saw (forest), as a camera names it."""
    image, _ = generate_scene(1600, 1200, np.random.default_rng(7), style="forest")
    Image.fromarray(image).save(path, quality=90)


def test_the_first_hour(app_server, page, tmp_path):
    base, home = app_server
    page.goto(base)
    intro = page.get_by_text(re.compile("^Per-pixel maps of what is on the ground"))
    intro.wait_for()
    assert "on Label" in intro.inner_text() and "on a Map" in intro.inner_text()

    # --- Segment: the sample photos, their GSD, figures that read in full at 1400 and 1280 px ---
    _nav(page, "Segment")
    page.get_by_role("button", name="Use the sample photos").click()
    _metric(page, "Flooded")
    assert page.get_by_label("Ground sampling distance (cm/px)", exact=True).input_value() == "7.50"
    assert page.get_by_text(re.compile(r"\d[\d,]* m²")).first.is_visible()  # areas, from that GSD
    wait_until(page, lambda: not _figures_cut_short(page), "the figures to read in full at 1400 px")
    page.set_viewport_size({"width": 1280, "height": 1000})
    wait_until(page, lambda: not _figures_cut_short(page), "the figures to read in full at 1280 px")
    page.screenshot(path=str(tmp_path / "segment_1280.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

    # A real-looking upload: the familiarity verdict, and any warning above the pictures.
    photo = tmp_path / "DJI_0042.JPG"
    _real_looking_photo(photo)
    page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(photo))
    page.get_by_text(re.compile(r"you uploaded: DJI_0042\.JPG")).wait_for(timeout=LONG)
    one_photo = page.get_by_text("One photo at a time")  # the samples' batch tabs, until the upload shows
    wait_until(page, lambda: not one_photo.count(), "the upload's own results", timeout=LONG / 1000)
    familiarity = _metric(page, "Familiarity")
    assert familiarity in ("Familiar", "Unusual", "Not seen")
    if familiarity != "Familiar":
        note = page.locator("[data-testid='stAlert']").first
        assert note.inner_text()[:1].isupper()
        assert _top(note) < _top(page.locator("[data-testid='stImage']").first)
        assert page.get_by_role("link", name=re.compile("Label a few of these photos")).is_visible()
    no_traceback(page)

    # Another page and back: the upload is still there.
    _nav(page, "Home")
    page.get_by_text("Get started").wait_for()
    _nav(page, "Segment")
    page.get_by_text(re.compile(r"you uploaded: DJI_0042\.JPG")).wait_for(timeout=LONG)
    _metric(page, "Familiarity")

    # --- Label: a dataset from photos; Enter does not submit, a refusal keeps the inputs ---
    _nav(page, "Label")
    page.get_by_text("Label photos").first.wait_for()
    sidebar = page.locator("[data-testid='stSidebar']")
    name_box = sidebar.get_by_label("Your name (saved with each mask)", exact=True)
    wait_until(page, lambda: name_box.input_value() == "owner", "the analyst name to read owner")
    sidebar.get_by_text("Create a dataset from photos").click()
    name = sidebar.get_by_label("Dataset name", exact=True)
    name.fill("bad name")
    settle_after(page, name.press, "Enter")  # its rerun ends before the photos are given
    create = sidebar.get_by_role("button", name="Create dataset")
    sidebar.get_by_text("Name the dataset and choose its photos").wait_for()
    assert create.is_disabled() and not (home / "data" / "bad name").exists()
    samples = {p.stem: p for p in catalog.sample_photos()}
    settle_after(
        page,
        lambda: sidebar.locator("input[type='file']").set_input_files(
            [str(samples["dry_suburb"]), str(samples["flooded_street"])]
        ),
    )
    wait_until(page, create.is_enabled, "Create dataset to be enabled")
    create.click()
    page.get_by_text("dataset name 'bad name' must be").wait_for()
    assert name.input_value() == "bad name"  # kept, to correct
    assert sidebar.get_by_text("flooded_street.jpg").is_visible()  # and so are the photos
    name.fill("ian-fort-myers")
    settle_after(page, name.press, "Enter")
    create.click()
    created = sidebar.get_by_text("Created ian-fort-myers")
    try:
        created.wait_for()
    # failed once in a loaded CI run (2026-12-06; RELIABILITY.md): say which step
    except sync_api.TimeoutError:
        folder = home / "data" / "ian-fort-myers"
        raise AssertionError(
            f"no 'Created ian-fort-myers'; the folder {'exists' if folder.exists() else 'was not made'}; "
            f"the name box reads {name.input_value()!r}; the sidebar reads {sidebar.inner_text()[:1500]!r}"
        ) from None
    wait_until(page, lambda: "ian-fort-myers" in selected(page, "Dataset"), "the new dataset to be open")

    # --- Pre-label with the second photo open: the picker stays on it as the list re-sorts ---
    choose(page, "Photo", re.compile(r"^flooded_street · unlabelled"))
    page.get_by_text(re.compile(r"^flooded_street: 1600×1200 px")).wait_for()
    page.get_by_role("button", name="Pre-label photos nobody has labelled").click()
    page.get_by_text("0 unlabelled · 2 pre-labelled").first.wait_for(timeout=LONG)
    page.get_by_text("started from the model's pre-label").first.wait_for(timeout=LONG)
    wait_until(page, lambda: "flooded_street · pre-labelled" in selected(page, "Photo"), "the same photo")
    assert page.get_by_text(re.compile(r"^flooded_street: 1600×1200 px")).is_visible()

    # Fill, brush, save: the edits land on the photo shown, and it stays shown after the save.
    edits_applied(page, 0)
    box = canvas_box(page)
    page.mouse.click(box["x"] + 100, box["y"] + 100)  # Fill with Property Roof
    edits_applied(page, 1)
    brush_stroke(page, 0.75)
    edits_applied(page, 2)
    page.get_by_role("button", name="Save mask").click()
    page.get_by_text("Saved flooded_street.png (1600x1200 px) as owner.").wait_for()
    mask = load_mask(home / "data" / "ian-fort-myers" / "train_masks" / "flooded_street.png")
    assert mask.shape == (1200, 1600) and (mask[900, 560:1040] == 1).all()
    saved = re.compile(r"flooded_street · corrected · by owner · \d+% a person's")
    wait_until(page, lambda: saved.search(selected(page, "Photo")), "the saved photo, still open")
    page.get_by_role("button", name=re.compile(r"^Flood\b")).first.click()  # a class click after the save
    page.get_by_text(re.compile(r"^flooded_street: 1600×1200 px.*started from the saved mask")).wait_for()

    # --- Fine-tune: the cautions first, then a one-epoch run ---
    sidebar.get_by_text("Only 1 photo of ian-fort-myers has a saved mask").wait_for()
    assert sidebar.get_by_text(re.compile(r"is mostly a model's pre-label that nobody changed")).is_visible()
    finetune = sidebar.get_by_role("button", name="Fine-tune on my labels")
    assert finetune.is_disabled()
    sidebar.get_by_text("Fine-tune anyway").click()
    sidebar.get_by_text("Trains on accepted masks: 0 accepted, 1 waiting for review").wait_for()
    sidebar.get_by_text("Also masks nobody has reviewed yet").click()  # nobody reviews alone
    epochs = sidebar.get_by_label("Fine-tune epochs", exact=True)
    epochs.fill("1")
    settle_after(page, epochs.press, "Enter")
    wait_until(page, finetune.is_enabled, "Fine-tune on my labels to be enabled")
    finetune.click()
    sidebar.get_by_role("link", name="Follow it on the Train page").click()
    page.get_by_text(re.compile(r"Completed", re.I)).first.wait_for(timeout=LONG)
    page.get_by_text("No validation scores: this run has no validation split").first.wait_for()
    assert not page.get_by_text("appear after the first epoch").count()
    no_traceback(page)

    # --- Runs: use the fine-tuned model on Segment; the upload and a familiarity check are there ---
    _nav(page, "Runs")
    table = page.locator("[data-testid='stDataFrame']").first
    table.wait_for()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the newest run's tick box
    page.get_by_text("Use this model:").wait_for()
    page.get_by_role("link", name="Segment photos").click()
    page.get_by_text(re.compile(r"you uploaded: DJI_0042\.JPG")).wait_for(timeout=LONG)
    assert "finetune-ian-fort-myers" in selected(page, "Model")
    assert _metric(page, "Familiarity") != "No reference"  # the fine-tune stored its reference
    no_traceback(page)

    # --- Evaluate: the fine-tuned model on its own training photos, the demo on its own guesses ---
    _nav(page, "Evaluate")
    assert "finetune-ian-fort-myers" in selected(page, "Model")
    choose(page, "Labelled dataset", re.compile(r"^ian-fort-myers"))
    page.get_by_role("button", name="Evaluate", exact=True).click()
    _metric(page, "Photos scored")
    page.get_by_text("the photos scored are ones this model was trained on", exact=False).wait_for()
    choose(page, "Model", "Demo model (synthetic floods + real ground)")
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("every mask to score (1) is largely this model's own pre-label").wait_for(timeout=LONG)
    page.get_by_text("Include its own pre-labels").click()
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text(re.compile(r"of the truth pixels scored are this model's own unreviewed")).wait_for(
        timeout=LONG
    )
    no_traceback(page)

    # --- Data: the photo without a mask awaits its label; it is no fault ---
    _nav(page, "Data")
    choose(page, "Dataset", re.compile(r"^ian-fort-myers"))
    page.get_by_text("1 photo awaits a label").wait_for()
    assert not page.get_by_text("image without mask").count()

    # --- Map: a demo map in one click, a clicked mosaic with its legend and a table ---
    _nav(page, "Map")
    page.get_by_role("button", name="Make a demo map").click()
    points = page.locator(".js-plotly-plot .scatterlayer .point")
    points.first.wait_for(timeout=LONG)
    clicked_until(page, points.first, page.get_by_text("Legend · share"))  # the mosaic's square comes first
    # The details table is a data grid drawn on a canvas; its cells are in the DOM for readers.
    page.locator("[data-testid='stDataFrame'] [role='gridcell']", has_text="Flooded area").first.wait_for(
        state="attached"
    )
    no_traceback(page)
    page.screenshot(path=str(tmp_path / "map.png"))
