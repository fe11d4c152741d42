"""The one launcher for background work (jobs.launcher): a detached process in its own session
with the home pinned, its output in a log, its pid with the kernel start time (a reused pid is
refused), and the exit record the CLI writes as its last act."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import wait_for

from seg_core.core import paths
from seg_core.jobs import launcher
from seg_core.jobs.process import owns_process, process_start

HAS_PROC = Path("/proc/self/stat").exists()

STUB = """
import json, os, sys
out = os.environ["STUB_OUT"]
seen = {
    "args": sys.argv[1:],
    "home": os.environ.get("STORMSEG_HOME"),
    "cwd": os.getcwd(),
    "leads_its_group": os.getpgid(0) == os.getpid(),
    "own_session": os.getsid(0) == os.getpid(),
    "exit_record": os.environ.get("STORMSEG_EXIT_RECORD"),
    "start": int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
    if os.path.exists("/proc/self/stat")
    else None,
}
print("stub ran", flush=True)
open(os.path.join(out, "seen.tmp"), "w").write(json.dumps(seen))
os.replace(os.path.join(out, "seen.tmp"), os.path.join(out, "seen.json"))
"""


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    code_dir, out = tmp_path / "stub", tmp_path / "out"
    code_dir.mkdir()
    out.mkdir()
    (code_dir / "stormseg_stub_job.py").write_text(textwrap.dedent(STUB))
    monkeypatch.setenv("PYTHONPATH", str(code_dir))
    monkeypatch.setenv("STUB_OUT", str(out))
    return "stormseg_stub_job", out


def seen_by(out: Path) -> dict:
    wait_for(lambda: (out / "seen.json").exists(), what="the stub job to report")
    return json.loads((out / "seen.json").read_text())


def test_a_job_is_detached_with_the_home_pinned_and_no_inherited_exit_record(stub, tmp_path, monkeypatch):
    module, out = stub
    # The app's home is not in the environment (an installed StormSeg: the current folder), and
    # this process was itself launched with an exit record that is not the new job's.
    home = tmp_path / "the-apps-home"
    monkeypatch.delenv("STORMSEG_HOME")
    monkeypatch.setattr(paths, "home", lambda: home)
    monkeypatch.setenv(launcher.EXIT_RECORD_ENV, str(tmp_path / "mine.json"))
    log = tmp_path / "logs" / "job.log"
    log.parent.mkdir()
    log.write_text("an earlier attempt\n")
    job = launcher.launch(["predict", "--out", "x y"], log, module=module)
    seen = seen_by(out)
    assert seen["home"] == str(home) and seen["cwd"] == str(paths.REPO_ROOT)
    assert seen["args"] == ["predict", "--out", "x y"]
    assert seen["leads_its_group"] and seen["own_session"]
    assert seen["exit_record"] is None
    assert job.command == [sys.executable, "-m", module, "predict", "--out", "x y"]
    wait_for(lambda: "stub ran" in log.read_text(), what="the log")
    assert log.read_text().startswith("an earlier attempt\n")  # appended, never truncated


@pytest.mark.skipif(not HAS_PROC, reason="start times come from /proc/<pid>/stat")
def test_the_start_time_recorded_at_launch_refuses_a_reused_pid(stub, tmp_path, sleeper):
    module, out = stub
    job = launcher.launch([], tmp_path / "job.log", module=module)
    assert job.proc_start is not None and job.proc_start == seen_by(out)["start"]
    stranger = sleeper()  # a live process, standing in for one that got a recycled pid
    assert owns_process("marker", stranger.pid, process_start(stranger.pid))
    assert not owns_process("marker", stranger.pid, process_start(stranger.pid) - 1)
    assert not owns_process("marker", stranger.pid, None)  # no start time: needs its marker
    assert owns_process("marker", sleeper("marker").pid, None)


def test_the_cli_records_how_a_launched_job_ended(tmp_path):
    record = tmp_path / "exit.json"
    missing = tmp_path / "no-such-dataset"
    job = launcher.launch(["validate", str(missing)], tmp_path / "job.log", exit_record=record)
    wait_for(lambda: launcher.read_exit(record) is not None, timeout=120, what="the exit record")
    ended = launcher.read_exit(record)
    assert (ended.pid, ended.exit_code) == (job.pid, 2)
    assert ended.error.startswith("error: ") and str(missing) in ended.error
    assert ended.error in (tmp_path / "job.log").read_text()  # the same sentence the user would read


def test_an_exit_record_is_written_only_where_the_launcher_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(launcher.EXIT_RECORD_ENV, raising=False)
    launcher.record_exit(0, None)
    assert list(tmp_path.iterdir()) == []
    record = tmp_path / "exit.json"
    monkeypatch.setenv(launcher.EXIT_RECORD_ENV, str(record))
    launcher.record_exit(130, "interrupted")
    ended = launcher.read_exit(record)
    assert (ended.pid, ended.exit_code, ended.error) == (os.getpid(), 130, "interrupted")
    assert [p.name for p in tmp_path.iterdir()] == ["exit.json"]  # no temp file left behind
    record.write_text('{"pid": 1')  # not ours: read as no record at all
    assert launcher.read_exit(record) is None
