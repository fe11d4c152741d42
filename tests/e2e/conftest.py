"""Browser tests: a real `streamlit run app.py` on a free localhost port, driven by Debian's
Chromium through Playwright. Skipped (with the reason) where Chromium is not installed;
scripts/test.sh installs it, so CI always runs them."""

from __future__ import annotations

import pytest
from harness import chromium, chromium_available, running_app


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """Start the app with its own StormSeg home (with a small demo dataset); yields (url, home)."""
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from seg_core.demo.synth import write_demo_dataset

    home = tmp_path_factory.mktemp("e2e_home")
    write_demo_dataset(home / "data" / "demo", n=8, size=(320, 240), seed=3)  # for the training test
    with running_app(home) as base:
        yield base, home


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api")
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed")
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    context.close()
