"""Review on the team server for real: a reviewer and two analysts sign in through the local
OpenID Connect provider in Chromium. The reviewer asks for two independent labels of a photo,
each analyst labels it without seeing the other's work (and one submits a second photo), and the
reviewer compares the two labels, takes one, and accepts the submitted photo from the queue.

Every step waits for what the page shows once the previous one took effect (a sentence, the
edit count under the canvas, a primary class button), never for time."""

from __future__ import annotations

import re

import numpy as np
import pytest
from harness import (
    canvas_box,
    chromium,
    chromium_available,
    click_and_settle,
    no_traceback,
    running_app,
    settled,
)
from oidc_provider import running_provider
from test_team_server import sign_in, write_team_settings

from seg_core.imagery.imageio import load_mask
from seg_core.labelling import agreement, review
from seg_core.labelling.labelstore import LabelStore
from seg_core.runs.registry import RunRegistry
from seg_core.team import audit

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RITA, ANA, BEN = "rita@eoc.example.org", "ana@eoc.example.org", "ben@eoc.example.org"
ROLES = f'[roles]\nreviewer = ["{RITA}"]\nanalyst = ["{ANA}", "{BEN}"]\n'


def open_photo(page, base: str, stem: str) -> None:
    page.goto(f"{base}/label")
    page.get_by_text("Label photos").first.wait_for()
    settled(page)
    page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("Photo", exact=True)).click()
    page.get_by_role("option", name=re.compile(rf"^{stem} ")).click()
    page.get_by_text("0 edits applied since this photo was opened.", exact=True).wait_for()
    settled(page)


def fill_and_save(page, class_name: str, at: tuple[int, int]) -> None:
    """Pick a class by its button, fill the region under `at` (canvas px), save."""
    click_and_settle(page, page.locator("button").filter(has_text=re.compile(rf"^{class_name}")).first)
    page.locator(f"[data-testid='stBaseButton-primary']:has-text('{class_name}')").first.wait_for()
    box = canvas_box(page)
    page.mouse.click(box["x"] + at[0], box["y"] + at[1])
    page.get_by_text("1 edit applied since this photo was opened.", exact=True).wait_for()
    settled(page)
    page.get_by_role("button", name="Save mask").scroll_into_view_if_needed()
    page.get_by_role("button", name="Save mask").click()


def test_two_analysts_and_a_reviewer(tmp_path):
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    pytest.importorskip("playwright.sync_api")
    from seg_core.demo.synth import write_demo_dataset

    home = tmp_path / "home"
    root = home / "data" / "storm"
    write_demo_dataset(root, n=2, size=(320, 240), seed=11)
    store = LabelStore(root)
    for stem in store.stems():  # photos without masks, each with the model's pre-label
        store.save_prelabel(stem, load_mask(store.mask_path(stem)), "demo")
        store.mask_path(stem).unlink()
    first, second = store.stems()
    with running_provider() as provider:
        secrets_file, roles, _ = write_team_settings(tmp_path, provider)
        roles.write_text(ROLES)
        with (
            running_app(
                home,
                address="localhost",
                extra_args=["--secrets.files", str(secrets_file)],
                extra_env={"STORMSEG_ROLES": str(roles)},
            ) as base,
            chromium() as browser,
        ):
            base = base.replace("127.0.0.1", "localhost")  # the host the redirect URI names
            context, page = sign_in(browser, base, RITA)
            open_photo(page, base, first)
            page.get_by_role("button", name="Ask two analysts to label it").click()
            page.get_by_text(f"{first}: asked for two independent labels.").wait_for()
            no_traceback(page)
            context.close()

            for who, name in ((ANA, "Pool"), (BEN, "Shed")):
                context, page = sign_in(browser, base, who)
                open_photo(page, base, first)
                page.get_by_text("This photo is labelled independently").wait_for()
                fill_and_save(page, name, (120, 90))
                page.get_by_text(f"Saved your own label of {first}").wait_for()
                if who == ANA:
                    open_photo(page, base, second)
                    fill_and_save(page, name, (120, 90))
                    page.get_by_text(f"Saved {second}.png").wait_for()
                no_traceback(page)
                context.close()

            context, page = sign_in(browser, base, RITA)
            page.goto(f"{base}/label")
            page.get_by_text("Label photos").first.wait_for()
            settled(page)
            page.get_by_text("Agreement and gold").click()
            page.get_by_text("Mean IoU of the two labels").wait_for()
            settled(page)
            page.get_by_text(f"{first}: 2 of 2 labels ({ANA}, {BEN}) · ready to compare").wait_for()
            page.get_by_role("button", name=f"Take {ANA}'s label and accept it").click()
            page.get_by_text(f"{first}: accepted by {RITA} (saved by {ANA}); the independent").wait_for()
            settled(page)
            page.get_by_text("Review queue (1)").click()
            page.get_by_text("Submitted mask").wait_for()
            settled(page)
            page.get_by_role("button", name="Accept", exact=True).click()
            page.get_by_text(f"{second}: accepted by {RITA} (saved by {ANA}).").wait_for()
            no_traceback(page)
            page.screenshot(path=str(tmp_path / "reviewer.png"), full_page=True)
            context.close()

    assert provider.sign_ins == [RITA, ANA, BEN, RITA]
    states = {s.stem: s for s in review.photo_states(store)}
    assert (states[first].state, states[first].by, states[first].reviewer) == ("accepted", ANA, RITA)
    assert (states[second].state, states[second].by, states[second].reviewer) == ("accepted", ANA, RITA)
    labels = {
        label.who: agreement.load_label(store, first, label.who) for label in agreement.labels(store, first)
    }
    assert set(labels) == {ANA, BEN} and not np.array_equal(labels[ANA], labels[BEN])
    assert np.array_equal(store.load_working_mask(first)[0], labels[ANA])  # the label taken
    registry = RunRegistry(home / "runs" / "registry.db")
    rows = [(r.actor, r.action, r.outcome) for r in audit.rows(registry) if r.action.startswith("label.")][
        ::-1
    ]
    assert rows == [
        (RITA, "label.agreement", "allowed"),
        (ANA, "label.save", "allowed"),
        (ANA, "label.save", "allowed"),
        (BEN, "label.save", "allowed"),
        (RITA, "label.agreement", "allowed"),
        (RITA, "label.accept", "allowed"),
    ]
