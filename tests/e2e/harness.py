"""Start the app and a browser: shared by the end-to-end tests and bench/app_latency.py."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"streamlit did not answer at {url} within {timeout:.0f} s")


@contextlib.contextmanager
def running_app(
    home: Path,
    address: str | None = "127.0.0.1",
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    script: str = "app.py",
) -> Iterator[str]:
    """`streamlit run app.py` on a free localhost port with its own StormSeg home; yields the URL.

    Args:
        script: another Streamlit script to run instead (a test's own small app).
        address: --server.address; None leaves it to .streamlit/config.toml (the default bind).
        extra_args, extra_env: more `streamlit run` options and environment (the team-server tests).
    """
    port = free_port()
    env = {**os.environ, "STORMSEG_HOME": str(home), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    env.update(extra_env or {})
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        script,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        *(["--server.address", address] if address else []),
        "--browser.gatherUsageStats",
        "false",
        *extra_args,
    ]
    with open(home / "streamlit.log", "w") as log:
        server = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/_stcore/health")
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """Debian's Chromium through Playwright (never `playwright install`: it downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def no_traceback(page) -> None:
    """Streamlit renders uncaught exceptions in an element with this test id."""
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.first.inner_text()


def wait_until(page, condition, what: str, timeout: float = 120.0) -> None:
    """Poll a condition while the page works (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


APP_IDLE = "() => document.querySelector(\"[data-testid='stApp']\")?.dataset.testScriptState === 'notRunning'"


def settled(page) -> None:
    """Until the app's script is not running (Streamlit marks its root element with the run state):
    a click during a run can land on an element being replaced."""
    page.wait_for_function(APP_IDLE)


def settle_after(page, action, *args) -> None:
    """Do `action(*args)` (a click, Enter in a text box, files given to an uploader: anything that
    reruns the script), then wait until that run has started and ended. Right after the action the page
    can still say "not running" (its rerun request has not reached the server yet), so the wait is
    for a change of run state seen after it; the next action then cannot land on an element the
    run is replacing."""
    page.evaluate(
        """() => {
            const app = document.querySelector("[data-testid='stApp']");
            window.__stormsegSawRun = false;
            window.__stormsegRuns?.disconnect();
            window.__stormsegRuns = new MutationObserver((records) => {
                if (app.dataset.testScriptState !== "notRunning"
                    || records.some((r) => r.oldValue && r.oldValue !== "notRunning")) {
                    window.__stormsegSawRun = true;
                }
            });
            window.__stormsegRuns.observe(app, {attributes: true, attributeOldValue: true,
                                                attributeFilter: ["data-test-script-state"]});
        }"""
    )
    action(*args)
    page.wait_for_function(f"() => window.__stormsegSawRun && ({APP_IDLE})()")


def select_box(page, label: str):
    """The select box labelled `label` (the first, where a page has two)."""
    return page.locator("[data-testid='stSelectbox']", has=page.get_by_text(label, exact=True)).first


def selected(page, label: str) -> str:
    """The text a select box shows for its choice (the value of its combobox input)."""
    return select_box(page, label).locator("input").input_value()


def choose(page, label: str, option, timeout: float = 120.0) -> None:
    """Pick `option` (a name or a pattern) in the select box labelled `label`. The box is opened once
    the page has settled, and again whenever its list has closed without the option: a run that was
    still drawing the page (a new dataset's photo picker after the old one's, say) replaces the box
    while its list is open, and the list goes with it."""
    box = select_box(page, label)
    target = page.get_by_role("option", name=option).first

    def offered() -> bool:
        if target.is_visible():
            return True
        if not page.get_by_role("listbox").count():
            settled(page)
            box.click()
        return False

    wait_until(page, offered, f"{option!s} among the choices of {label}", timeout)
    target.click()


def click_and_settle(page, locator) -> None:
    """Click something that reruns the script, then wait until that run has started and ended."""
    settle_after(page, locator.click)


def canvas_box(page, timeout: float = 60.0) -> dict:
    """The Label page's drawing canvas, scrolled into view, and its box on the page. Waits for the
    page to settle, and looks again while a finishing run still replaces the canvas element (a
    located element can be detached between finding and scrolling it)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while True:
        settled(page)
        canvas = page.locator("canvas.upper-canvas").first
        try:
            canvas.scroll_into_view_if_needed(timeout=5_000)
            box = canvas.bounding_box(timeout=5_000)
        except Error as error:
            box, why = None, error.message
        else:
            why = "it had no box on the page (not displayed)"
        if box is not None:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"the drawing canvas never held still: {why}")
        page.wait_for_timeout(100)  # poll, as wait_until does


def edits_applied(page, count: int) -> None:
    """Until the page says it applied `count` canvas drawings to the mask (printed after the
    canvas by the script run that applied the last one)."""
    text = f"{count} edit{'' if count == 1 else 's'} applied since this photo was opened."
    page.get_by_text(text, exact=True).wait_for(timeout=120_000)


def canvas_in_drawing_mode(canvas) -> bool:
    """The canvas on the page is a new one (not the Fill tool's, which the test marked) and Fabric
    sets its crosshair cursor on mouse moves, as it does in freehand mode: the Brush tool has
    reached the canvas itself, not only the page's buttons."""
    if canvas.evaluate("c => c.dataset.fillTool === '1'"):
        return False
    canvas.hover(position={"x": 5, "y": 5})
    canvas.hover(position={"x": 6, "y": 6})
    return canvas.evaluate("c => c.style.cursor") == "crosshair"


def brush_stroke(page, height_share: float) -> dict:
    """Switch to the Brush (key B) and paint one horizontal stroke from 30% to 70% of the canvas's
    width at `height_share` of its height; returns the canvas box it was drawn on. The stroke waits
    for the Brush's own canvas (the current one is marked, and the Brush's is a new one in freehand
    mode): that canvas was made with the page's class and tool, so the stroke carries them."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.evaluate("c => { c.dataset.fillTool = '1'; }")
    page.keyboard.press("b")
    page.wait_for_selector("[data-testid='stBaseButton-primary']:has-text('Brush')")
    wait_until(page, lambda: canvas_in_drawing_mode(canvas), "the Brush tool's own canvas")
    box = canvas_box(page)  # the tool's legend line above it may have moved it
    y = box["y"] + box["height"] * height_share
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * (0.3 + 0.02 * step), y)
    page.mouse.up()
    return box
