"""Who is at the keyboard: the machine's owner (single-user mode) or a signed-in team member.

- Single-user mode: no `[auth]` section in `.streamlit/secrets.toml` and the server bound to
  this machine only (server.address localhost, the repository's default). No sign-in; every
  page acts as the owner (`Caller()`), as the CLI does.
- Team mode: `[auth]` configured. Everyone signs in with `st.login` (OpenID Connect); the roles
  file (seg_core.team.access) gives them viewer, analyst or admin, and every guarded service a
  page calls gets their Caller, so the service refuses what their role may not do.
- Served to the network without sign-in: refused. Every page shows one sentence saying why and
  how to fix it, and nothing else.

Nothing here reads or shows a secret: only whether the `[auth]` section exists.
"""

from __future__ import annotations

import logging

import streamlit as st

from seg_core.runs.registry import RunRegistry
from seg_core.services.caller import Caller
from seg_core.team import access
from seg_core.team.access import Actor

log = logging.getLogger("stormseg.ui")


def sign_in_configured() -> bool:
    """Whether `.streamlit/secrets.toml` (or the `secrets.files` setting) has an `[auth]` section."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all (StreamlitSecretNotFoundError), or unreadable
        return False


def server_address() -> str | None:
    return st.get_option("server.address")


def _refuse_open_network() -> None:
    address = server_address() or "every network interface"
    log.error("refusing to serve: the server listens on %s and sign-in is not configured", address)
    st.error(
        f"StormSeg is not served: this server listens on {address}, so anyone on the network could "
        "start, stop and delete training runs, and sign-in is not configured. Either serve this "
        'machine only (server.address = "localhost" in .streamlit/config.toml, the default) or '
        "configure sign-in ([auth] in .streamlit/secrets.toml, see docs/how-to/team-server.md)."
    )
    st.stop()


def _claims() -> dict:
    return {key: st.user[key] for key in st.user}


def _client_address() -> str | None:
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def current_actor() -> Actor | None:
    """The signed-in Actor, or None for the owner in single-user mode; stops the page with a
    sentence (and a sign-in button) when no one may use it yet."""
    if not sign_in_configured():
        if not access.is_loopback(server_address()):
            _refuse_open_network()
        return None
    if not st.user.is_logged_in:
        st.title("StormSeg")
        st.markdown("This StormSeg is shared by a team. Sign in with your organisation's account.")
        st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
        st.stop()
    try:
        settings = access.load_settings()
    except ValueError as exc:  # a broken roles file lets no one in, and says which file and why
        st.error(f"{exc}. Until it is fixed no one has a role; ask the administrator.")
        st.stop()
    claims = _claims()
    actor = access.actor_for(claims, settings, _client_address())
    _audit_sign_in_once(claims, actor)
    if actor is None:
        who = st.user.get("email") or "this account"
        st.error(f"{who} has no role in this StormSeg's roles file; ask an administrator to add you.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return actor


def current_caller() -> Caller:
    """What a page passes to a guarded service (seg_core.services): the current actor."""
    return Caller(current_actor())


# Pages only some roles see, by url path -> the action they exist for (the engine checks again).
PAGE_ACTIONS = {"train": "run.start", "label": "label.save", "audit": "audit.view"}


def _audit_sign_in_once(claims: dict, actor: Actor | None) -> None:
    """Audit the sign-in (access.record_sign_in keeps it to one row per sign-in); the session flag
    spares the database a query on every page load."""
    seen = (claims.get("email"), claims.get("sub"), actor.role if actor else None)
    if st.session_state.get("_stormseg_signed_in") != seen:
        access.record_sign_in(claims, actor, RunRegistry(), _client_address())
        st.session_state["_stormseg_signed_in"] = seen


def may(actor: Actor | None, action: str, owner: str | None = None) -> bool:
    """Whether to offer a control (the engine checks again when it is used)."""
    return access.allowed(actor, action, owner)


def may_open(actor: Actor | None, page: st.Page) -> bool:
    """Whether the navigation lists `page` for this actor."""
    action = PAGE_ACTIONS.get(page.url_path)
    return action is None or may(actor, action)


def sidebar(actor: Actor | None) -> None:
    """Who is signed in, their role and a Sign-out button (team mode only)."""
    if actor is None:
        return
    with st.sidebar:
        st.caption(f"Signed in as **{actor.user}** ({actor.role})")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="auth_sign_out")


def run_owner(registry, run_id: str) -> str | None:
    """Who started the run (for enabling Stop and Resume); None: not a signed-in user."""
    return access.run_owner(registry, run_id)


def run_owners(registry, run_ids: list[str]) -> dict[str, str]:
    return access.audit.run_owners(registry, run_ids)
