"""Who may do what: roles from the team settings file, the check every guarded service makes
(through `services.caller.Caller`), and per-user limits. Each check leaves an audit row
(seg_core.team.audit), allowed or refused.

An `Actor` is a signed-in person as the app saw them. `actor=None` here means the machine's
owner: the CLI and the single-user app (localhost, no sign-in), who may do anything; their
guarded actions are still audited, as 'owner'.

Roles, lowest first (the issue's definition):
- viewer: Segment (upload photos), Map, look at Data, Runs and Evaluate;
- analyst: also Train (start, queue, fine-tune), Label, stop and resume their own runs;
- reviewer: also accept or reject analysts' masks (never their own), resolve two analysts'
  labels of one photo, mark accepted photos as gold;
- admin: also delete runs and datasets, stop or resume anyone's run, read the audit trail.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seg_core.core import paths
from seg_core.team import audit

ROLES = ("viewer", "analyst", "reviewer", "admin")  # each includes everything the ones before it may do
OWNER = "owner"  # the actor name recorded for the machine's owner (actor=None)
# The least role each guarded action needs. "Own" actions: below admin, only on one's own runs.
ACTIONS = {
    "upload": "viewer",  # photos sent to Segment (and later Label): counted against the quota
    "run.start": "analyst",  # start or queue a training run (fine-tuning included)
    "run.stop": "analyst",  # stop a running run or take a waiting one out of the queue
    "run.resume": "analyst",
    "label.save": "analyst",  # save an edited mask
    "dataset.create": "analyst",  # generate the demo dataset
    "label.accept": "reviewer",  # accept a submitted mask (labelling.review: never one's own)
    "label.reject": "reviewer",  # reject a submitted or accepted mask, with a comment
    "label.gold": "reviewer",  # mark an accepted photo as gold (a honeypot), or unmark it
    "label.agreement": "reviewer",  # ask for two independent labels of a photo, or resolve them
    "run.delete": "admin",
    "dataset.delete": "admin",
    "audit.view": "admin",
    "settings": "admin",
}
OWN_RUN_ACTIONS = ("run.stop", "run.resume")
SIGN_IN = "sign-in"  # audited once per browser session, with the role it got (not a guarded action)
ROLE_NEEDED_FOR = {
    "run.start": "start a training run",
    "run.stop": "stop a run",
    "run.resume": "resume a run",
    "label.save": "save a mask",
    "label.accept": "accept a mask",
    "label.reject": "reject a mask",
    "label.gold": "mark gold photos",
    "label.agreement": "ask for or resolve independent labels",
    "dataset.create": "create a dataset",
    "run.delete": "delete a run",
    "dataset.delete": "delete a dataset",
    "audit.view": "read the audit trail",
    "settings": "change settings",
    "upload": "upload photos",
}
ROLES_FILE_ENV = "STORMSEG_ROLES"


class AccessDenied(ValueError):
    """A guarded action refused for this actor; the message is one sentence for the page.

    A ValueError, so pages show it like any other refused input (ui.common.friendly_errors)."""


@dataclass(frozen=True)
class Actor:
    """A signed-in person: `user` is their e-mail (or subject), `address` their browser's IP."""

    user: str
    role: str
    address: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if not self.user:
            raise ValueError("an actor needs a user name (e-mail or subject)")


@dataclass(frozen=True)
class Limits:
    """Per-user limits for signed-in users (the owner has none)."""

    # The study is four runs; more than that waiting or running for one person starves the others
    # of the single training slot for a day or more.
    max_active_runs: int = 4
    # 2 GB a day is ~50 full-size 12 MP TIFFs, a day's survey flights for one analyst.
    upload_mb_per_day: float = 2000.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_active_runs, bool)
            or not isinstance(self.max_active_runs, int)
            or self.max_active_runs < 1
        ):
            raise ValueError(
                f"limits.max_active_runs must be a whole number >= 1, got {self.max_active_runs!r}"
            )
        if not isinstance(self.upload_mb_per_day, int | float) or self.upload_mb_per_day <= 0:
            raise ValueError(f"limits.upload_mb_per_day must be a number > 0, got {self.upload_mb_per_day!r}")


@dataclass(frozen=True)
class TeamSettings:
    """The roles file: who gets which role, by e-mail pattern or by group claim, and the limits.

    A signed-in person matching no rule gets no access at all (the safe default for a shared
    network); several matching rules give the highest role.
    """

    # role -> e-mail patterns (fnmatch, case-insensitive: "*@eoc.example.org")
    emails: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # role -> group names, matched against the ID token's `group_claim` (a list or a string)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_claim: str = "groups"  # Okta/Keycloak/Azure AD emit "groups" (Azure with group ids)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        for section in (self.emails, self.groups):
            unknown = [role for role in section if role not in ROLES]
            if unknown:
                raise ValueError(f"unknown role {unknown[0]!r} in the roles file; use one of {ROLES}")

    def role_for(self, claims: Mapping[str, object]) -> str | None:
        """The highest role the identity's claims earn, or None (not on the team).

        An e-mail counts only when the provider has not said it is unverified.
        """
        email = str(claims.get("email") or "").lower()
        if claims.get("email_verified") is False:
            email = ""
        raw_groups = claims.get(self.group_claim) or ()
        groups = {raw_groups} if isinstance(raw_groups, str) else {str(g) for g in raw_groups}
        earned = [
            role
            for role in ROLES
            if (email and any(fnmatch.fnmatchcase(email, p.lower()) for p in self.emails.get(role, ())))
            or groups & set(self.groups.get(role, ()))
        ]
        return earned[-1] if earned else None


def roles_file() -> Path:
    """`STORMSEG_ROLES`, else `<home>/roles.toml`."""
    return Path(os.environ.get(ROLES_FILE_ENV, paths.home() / "roles.toml"))


def load_settings(path: Path | None = None) -> TeamSettings:
    """Read the roles file; a missing file gives no one a role. ValueError names a bad file."""
    path = roles_file() if path is None else Path(path)
    if not path.is_file():
        return TeamSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the roles file ({exc})") from None
    try:
        groups = dict(data.get("groups", {}))
        claim = str(groups.pop("claim", "groups"))
        limits = data.get("limits", {})
        unknown = set(limits) - {"max_active_runs", "upload_mb_per_day"}
        if unknown:
            raise ValueError(
                f"unknown setting limits.{sorted(unknown)[0]}; use max_active_runs, upload_mb_per_day"
            )
        return TeamSettings(
            emails={role: _patterns(v) for role, v in data.get("roles", {}).items()},
            groups={role: _patterns(v) for role, v in groups.items()},
            group_claim=claim,
            limits=Limits(**limits),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _patterns(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"a role must list strings (e-mails, patterns or groups), got {value!r}")


def actor_for(
    claims: Mapping[str, object], settings: TeamSettings, address: str | None = None
) -> Actor | None:
    """The Actor for a signed-in identity, or None if the roles file gives it no role.

    The user is the e-mail unless the provider says it is unverified (then the subject), so no one
    can take over another person's runs by claiming their address.
    """
    role = settings.role_for(claims)
    verified = claims.get("email_verified") is not False
    user = str((claims.get("email") if verified else None) or claims.get("sub") or "")
    return Actor(user, role, address) if role and user else None


def record_sign_in(
    claims: Mapping[str, object], actor: Actor | None, registry: audit.HasDatabase, address: str | None = None
) -> None:
    """Audit a sign-in: allowed with the role it got, or refused (signed in, but no role).

    One row per sign-in, not per page load or browser tab: the ID token's issue time (`iat`, which
    Streamlit keeps in its session cookie) tells one sign-in from the next.
    """
    user, role = (
        (actor.user, actor.role) if actor else (str(claims.get("email") or claims.get("sub") or "?"), "none")
    )
    issued = claims.get("iat")
    when = (
        f"ID token issued {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(issued))}"
        if isinstance(issued, int | float)
        else "ID token without an issue time"
    )
    detail = when if actor else f"{when}; no role in the roles file"
    if any(row.detail == detail for row in audit.rows(registry, limit=50, actor=user, action=SIGN_IN)):
        return  # the same sign-in, seen again from another page load
    audit.record(
        registry, user, role, SIGN_IN, "allowed" if actor else "refused", address=address, detail=detail
    )


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` (Streamlit's server.address) serves only this machine.

    None or "" means every interface (Streamlit's own default), so it is not loopback."""
    if not address:
        return False
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: assume it reaches the network


def authorize(
    actor: Actor | None,
    action: str,
    registry: audit.HasDatabase,
    target: str | None = None,
    owner: str | None = None,
    record: bool = True,
) -> None:
    """Allow `action` for `actor` or raise AccessDenied; either way append an audit row.

    Args:
        target: the run id, dataset or file acted on (recorded).
        owner: for run actions, who started the run (None: not started by a signed-in user).
        record: False skips the row when allowed (the caller records it with the run's id).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    name, role, address = (OWNER, OWNER, None) if actor is None else (actor.user, actor.role, actor.address)
    refusal = None if actor is None else _refusal(actor, action, target, owner)
    outcome = "allowed" if refusal is None else "refused"
    if refusal is not None or record:
        audit.record(registry, name, role, action, outcome, target=target, address=address, detail=refusal)
    if refusal is not None:
        raise AccessDenied(refusal)


def record_outcome(
    actor: Actor | None,
    action: str,
    registry: audit.HasDatabase,
    outcome: str,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """The row of an action authorized with `record=False`, once its outcome is known:
    'allowed' (it goes ahead) or 'failed' (its input was refused; `detail` says why)."""
    name, role, address = (OWNER, OWNER, None) if actor is None else (actor.user, actor.role, actor.address)
    audit.record(registry, name, role, action, outcome, target=target, address=address, detail=detail)


def _refusal(actor: Actor, action: str, target: str | None, owner: str | None) -> str | None:
    needed = ACTIONS[action]
    what = ROLE_NEEDED_FOR[action] + (f" ({target})" if target else "")
    if ROLES.index(actor.role) < ROLES.index(needed):
        return f"{actor.user} is a {actor.role} and may not {what}: that needs the {needed} role."
    if action in OWN_RUN_ACTIONS and actor.role != "admin" and owner != actor.user:
        started = f"started by {owner}" if owner else "not started by you"
        return f"{actor.user} may only {ROLE_NEEDED_FOR[action]} they started; this run was {started} (an admin can)."
    return None


def allowed(actor: Actor | None, action: str, owner: str | None = None) -> bool:
    """Whether `authorize` would allow it (for showing or hiding a control; writes nothing)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    return actor is None or _refusal(actor, action, None, owner) is None


def read_audit(actor: Actor | None, registry: audit.HasDatabase, limit: int = 10_000) -> list[audit.AuditRow]:
    """The audit trail, newest first, for admins (and the owner); a refusal is itself audited."""
    authorize(actor, "audit.view", registry, record=False)
    return audit.rows(registry, limit=limit)


def run_owner(registry: audit.HasDatabase, run_id: str) -> str | None:
    return audit.run_owners(registry, [run_id]).get(run_id)


def attribute_run(
    actor: Actor | None, registry: audit.HasDatabase, run_id: str, detail: str | None = None
) -> None:
    """Record who started `run_id` (the row `run_owner` reads back)."""
    name, role, address = (OWNER, OWNER, None) if actor is None else (actor.user, actor.role, actor.address)
    audit.record(registry, name, role, audit.START_ACTION, "allowed", run_id, address, detail=detail)


def check_queue_limit(
    actor: Actor | None,
    registry: audit.HasDatabase,
    active_run_ids: Sequence[str],
    settings: TeamSettings | None = None,
) -> None:
    """Refuse another run when `actor` already has the limit's number queued or running."""
    if actor is None:
        return
    settings = settings or load_settings()
    owners = audit.run_owners(registry, list(active_run_ids))
    mine = sum(1 for run_id in active_run_ids if owners.get(run_id) == actor.user)
    limit = settings.limits.max_active_runs
    if mine >= limit:
        message = (
            f"{actor.user} already has {mine} runs queued or running, the limit per person "
            f"(limits.max_active_runs = {limit}); wait for one to finish or stop one."
        )
        audit.record(
            registry, actor.user, actor.role, "run.start", "refused", address=actor.address, detail=message
        )
        raise AccessDenied(message)


def charge_upload(
    actor: Actor | None,
    registry: audit.HasDatabase,
    size_bytes: int,
    what: str,
    settings: TeamSettings | None = None,
    now: float | None = None,
) -> None:
    """Count `size_bytes` of uploads against the actor's daily quota, or refuse them all.

    Args:
        what: names the upload in the audit row (e.g. "3 photos: a.jpg, b.jpg, c.jpg").
    """
    if actor is None or size_bytes <= 0:
        return
    settings = settings or load_settings()
    now = time.time() if now is None else now
    authorize(actor, "upload", registry, target=what, record=False)
    used = audit.uploaded_bytes(registry, actor.user, since=now - 24 * 3600)
    quota = settings.limits.upload_mb_per_day * 1e6
    if used + size_bytes > quota:
        message = (
            f"{actor.user} has uploaded {used / 1e6:.1f} MB in the last 24 hours; {size_bytes / 1e6:.1f} MB more "
            f"would pass the limit of {quota / 1e6:.0f} MB a day (limits.upload_mb_per_day)."
        )
        audit.record(
            registry,
            actor.user,
            actor.role,
            "upload",
            "refused",
            what,
            actor.address,
            size_bytes,
            message,
            now,
        )
        raise AccessDenied(message)
    audit.record(
        registry, actor.user, actor.role, "upload", "allowed", what, actor.address, size_bytes, at=now
    )
