"""Every enabled control of every page, used once on a fresh page and home: the page never ends
in an exception or in "… failed unexpectedly" (friendly_errors' sentence for a bug). Buttons are
clicked, toggles and checkboxes flipped, select boxes set to another option; every value control is
left at its ends (a number at its least and most, a text empty or odd, ...); Segment's and Map's
controls are used again once their main button has shown results. Found the reviewer's "Fix it on
the Label view", which failed at every click and which no test had clicked.

Left out: the buttons that start work in the background (training, the study, a batch, a
fine-tune), which their own pages' tests click with the work stubbed; controls that show their
values through a format function (AppTest knows only the texts shown, and cannot choose those)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from page_data import storm, submit
from streamlit.testing.v1 import AppTest

from seg_core.core import paths

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGES = sorted(p.name for p in (APP.parent / "app_pages").glob("*.py"))
BACKGROUND_WORK = {
    "Start training",
    "Queue the whole study (4 runs)",
    "Start in the background",
    "Fine-tune on my labels",
}
REVIEW_MODES = ["Label photos", "Review queue", "Agreement and gold"]


def seeded_home() -> None:
    """A dataset of three photos (two masks submitted by another analyst, one by the owner), and
    nothing else in the home (data, runs, maps): what an earlier click wrote there is gone. The
    decoded-photo cache stays (it only saves time)."""
    home = paths.home()
    assert home != paths.REPO_ROOT, "runs under the stormseg_home fixture only"
    for child in home.iterdir():
        if child.name != ".cache":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    root = storm(3)
    for i, who in enumerate(["ana", "owner", "ana"]):
        submit(root, f"p{i}", who, class_id=i + 1)


def opened(page: str, mode: str | None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120).switch_page(f"app_pages/{page}").run()
    if mode is not None:
        [control] = [e for e in at.get("segmented_control") if e.key.startswith("review_mode__")]
        control.set_value(mode).run()
    return at


def trouble(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [
        e.value for e in at.error if "failed unexpectedly" in e.value
    ]


def screens() -> list[tuple[str, str | None]]:
    return [(page, None) for page in PAGES if page != "label.py"] + [("label.py", m) for m in REVIEW_MODES]


def enabled(at: AppTest) -> list:
    """The enabled buttons, then the enabled toggles, checkboxes and select boxes, in page order."""
    switches = [*at.toggle, *at.checkbox, *at.selectbox]
    return [b for b in at.button if not b.disabled and b.label not in BACKGROUND_WORK] + [
        s for s in switches if not s.disabled and (s.type in ("toggle", "checkbox") or _choosable(s))
    ]


def _choosable(box) -> bool:
    """A select box with another option, whose options AppTest can choose: it knows only the
    texts shown, so a box that shows its values through a format function is left out."""
    return len(box.options) > 1 and _round_trips(box)


def use(element) -> None:
    """Click a button; flip a toggle or a checkbox; choose another option in a select box."""
    if element.type == "button":
        element.click()
    elif element.type in ("toggle", "checkbox"):
        element.set_value(not element.value)
    else:  # a select box: another option than the one shown
        element.select_index(len(element.options) - 1 if element.index != len(element.options) - 1 else 0)


# A button each screen must offer with this home, so a page that drew none would not pass unseen.
MUST_OFFER = {
    ("label.py", "Label photos"): "Save mask",
    ("label.py", "Review queue"): "Fix it on the Label view",
    ("segment.py", None): "Use the sample photos",
    ("data.py", None): "Check again",
    ("evaluate.py", None): "Evaluate",
    ("map.py", None): "Make a demo map",
    ("home.py", None): "Generate demo dataset",
}


def use_each(open_screen, listing, where: str) -> list[str]:
    """Open the screen (`open_screen()`) and use each control `listing(at)` names, one at a time,
    each on a fresh home and screen so that one use's effects never hide another's: the screen
    must open and every use end without a bug sentence. `listing(at)`: (name, what using it does)
    in page order. Returns the names."""
    seeded_home()
    at = open_screen()
    assert not trouble(at), f"{where} as it opens: {trouble(at)}"
    names = [name for name, _ in listing(at)]
    for position, name in enumerate(names):
        seeded_home()
        at = open_screen()
        found, act = listing(at)[position]
        assert found == name
        act()
        at.run(timeout=600)
        assert not trouble(at), f"{where}: {name} ended in {trouble(at)}"
    return names


def switches(at: AppTest) -> list[tuple[str, object]]:
    """The enabled buttons, toggles, checkboxes and select boxes, each with its `use`."""
    return [(e.label, lambda e=e: use(e)) for e in enabled(at)]


@pytest.mark.parametrize(("page", "mode"), screens())
def test_every_control_of_a_screen_ends_without_a_bug_sentence(stormseg_home, page, mode):
    labels = use_each(lambda: opened(page, mode), switches, f"{page} {mode or ''}")
    if (page, mode) in MUST_OFFER:
        assert MUST_OFFER[page, mode] in labels


TEXTS = ["", "Field test / ü 1"]  # nothing, and what a name box should not choke on


def settings(at: AppTest) -> list[tuple[str, object, object]]:
    """The enabled value controls, each with the values a hurried analyst could leave in it: a
    number or slider at its least and its most (a box without a bound: -1, or a thousand times its
    value), a text empty or odd, a multiselect empty or full, a radio or segmented control at
    another option. (label and value, the element, the value)"""
    out = []
    for box in at.number_input:
        low = box.min if box.min is not None else -1
        high = box.max if box.max is not None else (abs(box.value) or 1) * 1000
        out += [(box, low), (box, high)]
    for slider in at.slider:
        out += [(slider, slider.min), (slider, slider.max)]
    out += [(box, text) for box in [*at.text_input, *at.text_area] for text in TEXTS]
    for box in at.multiselect:
        if _round_trips(box):
            full = box.options[: box.max_selections] if box.max_selections else box.options
            out += [(box, []), (box, list(full))]
    others = [*at.radio, *(e for e in at.get("segmented_control") if not e.key.startswith("review_mode__"))]
    for control in others:
        if len(control.options) > 1 and _round_trips(control):
            shown = control.format_func(control.value) if control.value is not None else None
            out.append((control, next(o for o in control.options if o != shown)))
    return [(f"{e.label} = {v!r}", e, v) for e, v in out if not e.disabled]


def _round_trips(control) -> bool:
    """Its options are shown as they are (no format function AppTest could not invert)."""
    try:
        return all(control.format_func(o) == o for o in control.options)
    except (KeyError, ValueError, TypeError, AttributeError):  # a format function of other values
        return False


# The screens with no value control this home can reach (the others must show some).
NO_SETTINGS = {("audit.py", None), ("evaluate.py", None), ("home.py", None), ("runs.py", None)}


def set_to_ends(at: AppTest) -> list[tuple[str, object]]:
    """`settings`, each with setting its value as what using it does."""
    return [(name, lambda e=e, v=v: e.set_value(v)) for name, e, v in settings(at)]


@pytest.mark.parametrize(("page", "mode"), screens())
def test_every_setting_at_its_ends_leaves_no_bug_sentence(stormseg_home, page, mode):
    names = use_each(lambda: opened(page, mode), set_to_ends, f"{page} {mode or ''}")
    assert bool(names) != ((page, mode) in NO_SETTINGS), names


# Screens whose controls multiply once their main button has shown a result: each control is used
# again after that press (the results on the page are what a control then acts on).
AFTER_RESULTS = {"segment.py": "Use the sample photos", "map.py": "Make a demo map"}


def with_results(page: str) -> AppTest:
    at = opened(page, None)
    next(b for b in at.button if b.label == AFTER_RESULTS[page]).click()
    return at.run(timeout=600)


@pytest.mark.parametrize("page", sorted(AFTER_RESULTS))
def test_every_control_once_the_page_shows_results_leaves_no_bug_sentence(stormseg_home, page):
    names = use_each(
        lambda: with_results(page), lambda at: switches(at) + set_to_ends(at), f"{page} with results"
    )
    assert len(names) > 5  # the results' controls were found
