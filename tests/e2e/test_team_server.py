"""The team server for real: the default bind, and sign-in through a real OpenID Connect provider
(tests/e2e/oidc_provider.py, on 127.0.0.1) in Chromium as a viewer and as an analyst."""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
from pathlib import Path

import pytest
from harness import chromium, chromium_available, no_traceback, running_app, settle_after
from oidc_provider import running_provider

from seg_core.runs.control import stop
from seg_core.runs.registry import RunRegistry
from seg_core.team import audit

pytestmark = pytest.mark.slow


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the LISTEN sockets on `port`, from the kernel's /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = TCP_LISTEN
                continue
            raw = bytes.fromhex(address)  # each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(ipaddress.ip_address(words))
    return found


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's socket table (Linux)")
def test_a_fresh_server_listens_on_this_machine_only(tmp_path):
    with running_app(tmp_path, address=None) as base:  # no --server.address: the repository's config
        port = int(base.rsplit(":", 1)[1])
        addresses = listening_addresses(port)
        assert addresses and all(a.is_loopback for a in addresses), addresses
        outward = outward_address()
        if outward:  # and nothing answers on the machine's network address
            with pytest.raises(OSError), socket.create_connection((outward, port), timeout=5):
                pass


def write_team_settings(folder: Path, provider) -> tuple[Path, Path, str]:
    cookie_secret = secrets.token_urlsafe(32)
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        f'cookie_secret = "{cookie_secret}"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret = "{provider.client_secret}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )
    roles = folder / "roles.toml"
    roles.write_text('[roles]\nanalyst = ["ana@eoc.example.org"]\nviewer = ["*@eoc.example.org"]\n')
    return secrets_file, roles, cookie_secret


def sign_in(browser, base: str, email: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(base)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("E-mail").fill(email)  # the provider's own sign-in page
    page.get_by_role("button", name="Continue").click()
    page.get_by_text(re.compile(rf"Signed in as {re.escape(email)}")).wait_for()
    return context, page


def nav_links(page) -> list[str]:
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.wait_for()
    return [text.strip().splitlines()[-1] for text in nav.locator("a").all_inner_texts()]  # after the icon


@pytest.mark.e2e
def test_sign_in_as_a_viewer_and_as_an_analyst(tmp_path):
    if not chromium_available():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    pytest.importorskip("playwright.sync_api")
    from seg_core.demo.synth import write_demo_dataset

    home = tmp_path / "home"
    write_demo_dataset(home / "data" / "demo", n=6, size=(160, 120), seed=5)
    with running_provider() as provider:
        secrets_file, roles, cookie_secret = write_team_settings(tmp_path, provider)
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
            context, page = sign_in(browser, base, "vera@eoc.example.org")
            assert page.get_by_text("(viewer)").count() == 1
            links = nav_links(page)
            assert "Segment" in links and "Runs" in links and "Train" not in links and "Audit" not in links
            page.goto(f"{base}/train")  # typing the address does not open it either
            page.locator("[data-testid='stSidebarNav']").wait_for()
            assert page.locator("h1", has_text="Train").count() == 0
            no_traceback(page)
            viewer_html = page.content()
            context.close()

            context, page = sign_in(browser, base, "ana@eoc.example.org")
            assert "Train" in nav_links(page) and "Audit" not in nav_links(page)
            page.goto(f"{base}/train")
            page.get_by_text("Start training").wait_for()
            for label, value in (("Epochs", 1), ("Resolution (px)", 96), ("Crop (px)", 64)):
                page.get_by_label(label, exact=True).fill(str(value))
                settle_after(page, page.get_by_label(label, exact=True).press, "Enter")
            page.get_by_role("button", name="Start training").click()
            page.get_by_text(re.compile(r"(Started|Queued) run ")).first.wait_for()
            no_traceback(page)
            analyst_html = page.content()
            context.close()

    registry = RunRegistry(home / "runs" / "registry.db")
    (run,) = registry.list()
    stop(run.id, registry, timeout=60)  # the trainer is a detached process: end it here
    assert audit.run_owners(registry) == {run.id: "ana@eoc.example.org"}
    (start,) = audit.rows(registry, action="run.start")
    assert (start.actor, start.role, start.outcome) == ("ana@eoc.example.org", "analyst", "allowed")
    assert provider.sign_ins == ["vera@eoc.example.org", "ana@eoc.example.org"]
    sign_ins = [(r.actor, r.role, r.outcome) for r in audit.rows(registry, action="sign-in")][::-1]
    assert all(r.detail.startswith("ID token issued") for r in audit.rows(registry, action="sign-in"))
    assert sign_ins == [
        ("vera@eoc.example.org", "viewer", "allowed"),
        ("ana@eoc.example.org", "analyst", "allowed"),
    ]
    log = (home / "streamlit.log").read_text()
    for secret in (provider.client_secret, cookie_secret):
        assert secret not in viewer_html and secret not in analyst_html and secret not in log
