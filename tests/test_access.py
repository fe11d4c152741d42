"""Roles, the guard in every service a page calls, per-user limits and the audit trail."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import tomllib
from pathlib import Path

import pytest
from helpers import make_pairs
from test_train import tiny_config

from seg_core.runs.registry import SCHEMA, RunRegistry
from seg_core.services import analysis, catalog, runs
from seg_core.services.caller import Caller
from seg_core.team import access, audit
from seg_core.team.access import AccessDenied, Actor, Limits, TeamSettings
from seg_core.training import queue as run_queue

VIEWER = Actor("vera@eoc.example.org", "viewer", "10.0.0.7")
ANALYST = Actor("ana@eoc.example.org", "analyst", "10.0.0.8")
OTHER_ANALYST = Actor("otto@eoc.example.org", "analyst", "10.0.0.9")
ADMIN = Actor("ada@eoc.example.org", "admin", "10.0.0.1")
ROLES_TOML = """
[roles]
admin = ["ada@eoc.example.org"]
analyst = ["ana@eoc.example.org", "*@gis.eoc.example.org"]
viewer = ["*@eoc.example.org"]

[groups]
claim = "roles"
analyst = ["stormseg-analysts"]

[limits]
max_active_runs = 2
upload_mb_per_day = 1
"""


@pytest.fixture
def registry() -> RunRegistry:
    return RunRegistry()


@pytest.fixture
def no_launch(monkeypatch):
    """Runs stay queued: these tests are about who may act, not about training."""
    monkeypatch.setattr(run_queue, "dispatch", lambda registry=None: None)


def refused_rows(registry, actor: Actor, action: str) -> list[audit.AuditRow]:
    return [r for r in audit.rows(registry, actor=actor.user, action=action) if r.outcome == "refused"]


def assert_refused(call, registry, actor: Actor, action: str, phrase: str) -> None:
    """The call raises one sentence naming the person and the role needed, and leaves a row."""
    before = len(refused_rows(registry, actor, action))
    with pytest.raises(AccessDenied, match=phrase) as info:
        call()
    message = str(info.value)
    assert actor.user in message and "\n" not in message
    rows = refused_rows(registry, actor, action)
    assert len(rows) == before + 1
    assert rows[0].detail == message and rows[0].role == actor.role and rows[0].address == actor.address


def test_roles_file_maps_emails_patterns_and_groups_to_the_highest_role(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES_TOML)
    settings = access.load_settings(path)
    assert settings.role_for({"email": "ADA@eoc.example.org"}) == "admin"  # case-insensitive
    assert settings.role_for({"email": "ana@eoc.example.org"}) == "analyst"  # not the viewer pattern
    assert settings.role_for({"email": "gus@gis.eoc.example.org"}) == "analyst"
    assert settings.role_for({"email": "vera@eoc.example.org"}) == "viewer"
    assert settings.role_for({"email": "vera@eoc.example.org", "roles": ["stormseg-analysts"]}) == "analyst"
    assert settings.role_for({"email": "eve@elsewhere.org"}) is None  # not on the team: no access
    assert settings.role_for({"email": "ada@eoc.example.org", "email_verified": False}) is None
    assert settings.limits == Limits(max_active_runs=2, upload_mb_per_day=1)
    actor = access.actor_for({"email": "vera@eoc.example.org"}, settings, "10.0.0.7")
    assert actor == VIEWER
    assert access.actor_for({"email": "eve@elsewhere.org"}, settings) is None
    claimed = {
        "email": "ana@eoc.example.org",
        "email_verified": False,
        "sub": "u-77",
        "roles": ["stormseg-analysts"],
    }
    assert access.actor_for(claimed, settings) == Actor("u-77", "analyst")  # never someone else's e-mail


def test_no_roles_file_gives_no_one_a_role(tmp_path):
    settings = access.load_settings(tmp_path / "missing.toml")
    assert settings.role_for({"email": "ada@eoc.example.org"}) is None


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("[roles]\nroot = ['a@b.c']", "unknown role 'root'"),
        ("[roles]\nadmin = 3", "must list strings"),
        ("[limits]\nmax_active_runs = 0", "max_active_runs"),
        ("[limits]\nmax_active_runs = true", "max_active_runs"),
        ("[limits]\nmax_disk = 1", "unknown setting limits.max_disk"),
        ("[roles\n", "cannot read the roles file"),
    ],
)
def test_a_bad_roles_file_is_named_with_the_problem(tmp_path, text, phrase):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=phrase) as info:
        access.load_settings(path)
    assert str(path) in str(info.value)


def test_a_viewer_cannot_start_a_run_and_none_is_created(registry, tiny_dataset, no_launch):
    assert_refused(
        lambda: runs.start(tiny_config(tiny_dataset), Caller(VIEWER, registry)),
        registry,
        VIEWER,
        "run.start",
        r"is a viewer and may not start a training run \(.*tiny\): that needs the analyst role",
    )
    assert registry.list() == []


def test_runs_are_attributed_and_analysts_stop_and_resume_only_their_own(registry, tiny_dataset, no_launch):
    mine = runs.start(tiny_config(tiny_dataset, name="mine"), Caller(ANALYST, registry)).run.id
    theirs = runs.start(tiny_config(tiny_dataset, name="theirs"), Caller(OTHER_ANALYST, registry)).run.id
    assert audit.run_owners(registry) == {mine: ANALYST.user, theirs: OTHER_ANALYST.user}
    for call, action in [
        (lambda: runs.stop(theirs, Caller(ANALYST, registry)), "run.stop"),
        (lambda: runs.cancel_queued([theirs], "no", Caller(ANALYST, registry)), "run.stop"),
        (lambda: runs.resume(theirs, Caller(ANALYST, registry)), "run.resume"),
    ]:
        assert_refused(call, registry, ANALYST, action, f"this run was started by {OTHER_ANALYST.user}")
    assert_refused(
        lambda: runs.stop(mine, Caller(VIEWER, registry)),
        registry,
        VIEWER,
        "run.stop",
        "needs the analyst role",
    )
    assert registry.get(theirs).status == "queued"
    assert runs.cancel_queued([mine], "changed my mind", Caller(ANALYST, registry)) == [mine]
    assert runs.cancel_queued([theirs], "an admin can", Caller(ADMIN, registry)) == [theirs]
    allowed = [r for r in audit.rows(registry, action="run.stop") if r.outcome == "allowed"]
    assert {(r.actor, r.target) for r in allowed} == {(ANALYST.user, mine), (ADMIN.user, theirs)}


def test_only_an_admin_deletes_a_run(registry, tiny_dataset, no_launch):
    run_id = runs.start(tiny_config(tiny_dataset), Caller(ANALYST, registry)).run.id
    registry.finish(run_id, "stopped")
    for actor in (VIEWER, ANALYST):
        assert_refused(
            lambda a=actor: runs.delete(run_id, Caller(a, registry)),
            registry,
            actor,
            "run.delete",
            "needs the admin role",
        )
        assert registry.get(run_id).checkpoint_dir.is_dir()
    runs.delete(run_id, Caller(ADMIN, registry))
    with pytest.raises(ValueError, match="no run with id"):
        registry.get(run_id)
    (row,) = audit.rows(registry, action="run.delete", actor=ADMIN.user)
    assert (row.outcome, row.target, row.address) == ("allowed", run_id, ADMIN.address)
    assert audit.run_owners(registry) == {run_id: ANALYST.user}  # history outlives the run


def test_a_viewer_cannot_create_a_dataset(registry):
    assert_refused(
        lambda: catalog.create_demo_dataset(caller=Caller(VIEWER, registry)),
        registry,
        VIEWER,
        "dataset.create",
        "may not create a dataset",
    )
    assert not (catalog.paths.data_root() / catalog.DEMO_DATASET_NAME).exists()


def test_the_owner_is_unrestricted_and_still_audited(registry, tiny_dataset, no_launch):
    run_id = runs.start(tiny_config(tiny_dataset), Caller(registry=registry)).run.id
    registry.finish(run_id, "stopped")
    runs.delete(run_id, Caller(registry=registry))
    actions = {(r.actor, r.action, r.outcome) for r in audit.rows(registry)}
    assert actions == {("owner", "run.start", "allowed"), ("owner", "run.delete", "allowed")}


def test_one_person_cannot_fill_the_queue(registry, tiny_dataset, no_launch, monkeypatch, tmp_path):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES_TOML)  # max_active_runs = 2
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(roles))
    for name in ("a", "b"):
        runs.start(tiny_config(tiny_dataset, name=name), Caller(ANALYST, registry))
    assert_refused(
        lambda: runs.start(tiny_config(tiny_dataset, name="c"), Caller(ANALYST, registry)),
        registry,
        ANALYST,
        "run.start",
        r"already has 2 runs queued or running, the limit per person \(limits.max_active_runs = 2\)",
    )
    assert len(registry.list()) == 2
    runs.start(tiny_config(tiny_dataset, name="other"), Caller(OTHER_ANALYST, registry))  # their own quota


def test_two_starts_at_once_cannot_exceed_the_queue_limit(
    registry, tiny_dataset, no_launch, monkeypatch, tmp_path
):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES_TOML)  # max_active_runs = 2
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(roles))
    runs.start(tiny_config(tiny_dataset, name="a"), Caller(ANALYST, registry))
    outcomes = []

    def second_start():
        try:
            runs.start(tiny_config(tiny_dataset, name="c"), Caller(ANALYST, registry))
            outcomes.append("created")
        except access.AccessDenied:
            outcomes.append("refused")

    real_create = registry.create_run
    other = threading.Thread(target=second_start)

    def create_while_another_start_arrives(*args, **kwargs):
        # Start "c" inside "b"'s window between the limit check and the new run. With the
        # submit lock it waits until "b" exists and is then refused; without it, it would pass
        # the same check and make a third run (the join only bounds how long "b" gives it).
        if not other.is_alive() and not outcomes:
            other.start()
            other.join(timeout=2)
        return real_create(*args, **kwargs)

    monkeypatch.setattr(registry, "create_run", create_while_another_start_arrives)
    runs.start(tiny_config(tiny_dataset, name="b"), Caller(ANALYST, registry))
    other.join()
    assert outcomes == ["refused"] and len(registry.list()) == 2


def test_uploads_count_against_a_daily_quota(registry):
    settings = TeamSettings(limits=Limits(upload_mb_per_day=1))
    access.charge_upload(VIEWER, registry, 600_000, "a.jpg", settings, now=1_000_000.0)
    assert_refused(
        lambda: access.charge_upload(VIEWER, registry, 600_000, "b.jpg", settings, now=1_000_100.0),
        registry,
        VIEWER,
        "upload",
        "would pass the limit of 1 MB a day",
    )
    access.charge_upload(ADMIN, registry, 600_000, "c.jpg", settings, now=1_000_100.0)  # per person
    access.charge_upload(VIEWER, registry, 600_000, "d.jpg", settings, now=1_000_000.0 + 86_401)  # a day on
    assert audit.uploaded_bytes(registry, VIEWER.user, since=0) == 1_200_000


def test_segment_refuses_a_batch_over_the_quota_before_any_work(registry, monkeypatch, tmp_path):
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES_TOML)  # 1 MB a day
    monkeypatch.setenv(access.ROLES_FILE_ENV, str(roles))
    photos = [analysis.PhotoInput("big.jpg", b"\xff" * 1_500_000)]

    def never():
        raise AssertionError("the model was loaded for a refused batch")

    assert_refused(
        lambda: analysis.run_batch(photos, {}, never, "m", caller=Caller(VIEWER, registry)),
        registry,
        VIEWER,
        "upload",
        "limit of 1 MB a day",
    )


def test_the_audit_trail_is_append_only_and_exports_csv(registry):
    access.authorize(ADMIN, "audit.view", registry)
    with pytest.raises(AccessDenied):
        access.authorize(VIEWER, "audit.view", registry)
    with sqlite3.connect(registry.db_path) as conn:
        for sql in ("UPDATE audit SET actor = 'nobody'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    lines = audit.to_csv(audit.rows(registry)).decode().splitlines()
    assert lines[0].split(",")[:3] == ["id", "time", "actor"] and lines[0].endswith("time_utc")
    assert len(lines) == 3 and VIEWER.user in lines[1] and "refused" in lines[1]


def test_an_existing_database_gains_the_audit_table(tmp_path):
    old_schema = [s for s in SCHEMA if "audit" not in s]
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for statement in old_schema:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO runs (id, name, status, config, created_at, checkpoint_dir) "
            "VALUES ('20250101-000000-old-0000', 'old', 'completed', '{}', 0, '/nowhere')"
        )
    registry = RunRegistry(db)
    assert registry.get("20250101-000000-old-0000").name == "old"
    access.authorize(None, "run.delete", registry, target="x")
    assert [r.actor for r in audit.rows(registry)] == ["owner"]


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("10.0.0.5", False),
        ("stormseg.eoc.example.org", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine_only(address, loopback):
    assert access.is_loopback(address) is loopback


def test_the_example_settings_parse_and_the_real_ones_are_never_committed():
    root = Path(__file__).resolve().parent.parent
    settings = access.load_settings(root / "roles.toml.example")
    assert settings.role_for({"email": "someone@gis.eoc.example.org"}) == "analyst"
    assert settings.role_for({"email": "x@eoc.example.org", "groups": ["stormseg-admins"]}) == "admin"
    auth = tomllib.loads((root / ".streamlit" / "secrets.toml.example").read_text())["auth"]
    assert {"redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"} <= set(auth)
    ignored = subprocess.run(
        ["git", "check-ignore", ".streamlit/secrets.toml", "roles.toml"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == [".streamlit/secrets.toml", "roles.toml"]


def test_the_same_photo_with_another_model_is_not_a_new_upload(registry):
    photo = analysis.PhotoInput("a.jpg", b"\xff" * 1000)
    cache = {analysis.cache_key(photo, "model-1", False): "analysed before"}

    class Stop(Exception):
        pass

    def stop_before_the_model():
        raise Stop

    for photos in ([photo], [photo, analysis.PhotoInput("b.jpg", b"\xff" * 500)]):
        with pytest.raises(Stop):
            analysis.run_batch(
                photos, dict(cache), stop_before_the_model, "model-2", caller=Caller(VIEWER, registry)
            )
    (row,) = audit.rows(registry, action="upload")
    assert (row.target, row.bytes) == ("1 photo to Segment: b.jpg", 500)


@pytest.mark.parametrize("action", sorted(access.ACTIONS))
def test_each_action_is_allowed_from_its_role_up_and_refused_below(registry, action):
    needed = access.ROLES.index(access.ACTIONS[action])
    for index, role in enumerate(access.ROLES):
        actor = Actor(f"{role}@eoc.example.org", role)
        owner = actor.user  # own runs: the role alone decides here
        assert access.allowed(actor, action, owner) is (index >= needed)
        if index >= needed:
            access.authorize(actor, action, registry, target="t", owner=owner)
        else:
            with pytest.raises(AccessDenied, match=f"needs the {access.ACTIONS[action]} role"):
                access.authorize(actor, action, registry, target="t", owner=owner)
    outcomes = [(r.role, r.outcome) for r in audit.rows(registry, action=action)][::-1]
    assert outcomes == [
        (role, "allowed" if i >= needed else "refused") for i, role in enumerate(access.ROLES)
    ]
    assert access.allowed(None, action)  # the owner


def test_only_an_admin_deletes_a_dataset_and_never_one_in_use(registry, tiny_dataset, no_launch):
    root = catalog.paths.data_root()
    make_pairs(root / "old", 2)
    for actor in (VIEWER, ANALYST):
        assert_refused(
            lambda a=actor: catalog.delete_dataset("old", Caller(a, registry)),
            registry,
            actor,
            "dataset.delete",
            "may not delete a dataset \\(old\\): that needs the admin role",
        )
    assert (root / "old").is_dir()
    run = runs.start(tiny_config(root / "old"), Caller(ANALYST, registry)).run
    with pytest.raises(ValueError, match=f"used by run .*{run.id}.*which is queued"):
        catalog.delete_dataset("old", Caller(ADMIN, registry))
    registry.finish(run.id, "stopped")
    with pytest.raises(ValueError, match="directly under the data root"):
        catalog.delete_dataset("../old", Caller(ADMIN, registry))
    assert catalog.delete_dataset("old", Caller(ADMIN, registry)) == root / "old"
    assert not (root / "old").exists() and tiny_dataset.is_dir()
    assert [r.outcome for r in audit.rows(registry, action="dataset.delete", actor=ADMIN.user)] == [
        "allowed"
    ] * 3


def test_the_repository_config_serves_this_machine_only():
    config = tomllib.loads(
        (Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text()
    )
    assert access.is_loopback(config["server"]["address"])  # the real bind: tests/e2e/test_team_server.py


def test_a_sign_in_is_audited_once_however_many_pages_load(registry):
    claims = {"email": VIEWER.user, "iat": 1_700_000_000}
    for _ in range(3):
        access.record_sign_in(claims, VIEWER, registry, "10.0.0.7")
    access.record_sign_in({**claims, "iat": 1_700_086_400}, VIEWER, registry)  # signed in again next day
    access.record_sign_in({"email": "eve@elsewhere.org", "iat": 1_700_000_000}, None, registry)
    rows = audit.rows(registry, action=access.SIGN_IN)[::-1]
    assert [(r.actor, r.role, r.outcome) for r in rows] == [
        (VIEWER.user, "viewer", "allowed"),
        (VIEWER.user, "viewer", "allowed"),
        ("eve@elsewhere.org", "none", "refused"),
    ]
    assert rows[0].detail == "ID token issued 2023-11-14 22:13:20 UTC" and rows[0].address == "10.0.0.7"
    assert rows[2].detail.endswith("no role in the roles file")


def test_a_viewer_cannot_label_pre_label_fine_tune_or_create_a_labelling_dataset(registry, tmp_path):
    from seg_core.services import labelling

    root = catalog.paths.data_root()
    make_pairs(root / "storm", 2)
    session = labelling.open_photo(root / "storm", "img0", "vera")
    calls = {
        "label.save": lambda: labelling.save_labels(session, caller=Caller(VIEWER)),
        "dataset.create": lambda: labelling.create_dataset_from_photos(
            root, "new", [("a.jpg", b"x")], Caller(VIEWER)
        ),
        "run.start": lambda: labelling.finetune_on_labels(
            root / "storm", tmp_path / "parent.pt", caller=Caller(VIEWER)
        ),
    }
    for action, call in calls.items():
        assert_refused(call, registry, VIEWER, action, "needs the analyst role")
    assert_refused(
        lambda: labelling.prelabel_photos(root / "storm", None, "demo", caller=Caller(VIEWER)),
        registry,
        VIEWER,
        "label.save",
        "needs the analyst role",
    )
    assert not (root / "new").exists() and registry.list() == []
    saved = labelling.save_labels(session, caller=Caller(ANALYST))
    assert "Saved" in saved
    (row,) = [r for r in audit.rows(registry, action="label.save") if r.outcome == "allowed"]
    assert (row.actor, row.target) == (ANALYST.user, "storm/img0")
