"""The daemon as real processes: start/status/stop, the pidfile lock, SIGTERM, and kill -9 in the middle of a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import run_process
from tests.fakes_daemon import insight_rows, seed_users, start_fake


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child, not yet reaped) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


@pytest.fixture
def reaper(finbuddy_env):
    """Kills, in teardown, every process a test started (and any daemon left holding the test's pidfile)."""
    pids: list[int] = []
    procs: list[subprocess.Popen] = []
    yield pids, procs
    pidfile = finbuddy_env / "run" / "daemon.pid"
    if pidfile.exists():
        try:
            pids.append(int(pidfile.read_text().split()[0]))
        except (ValueError, IndexError):
            pass
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_start_status_stop_and_a_second_daemon_refuses(reaper, finbuddy_env):
    pids, _ = reaper
    assert run_process(["add", "12", "groceries"]).exit_code == 0
    started = run_process(["daemon", "start", "--json"], timeout=30)
    assert started.exit_code == 0, started.stderr
    pid = started.json["pid"]
    pids.append(pid)
    assert started.json["running"] is True and _alive(pid)

    status = run_process(["daemon", "status", "--json"])
    assert status.exit_code == 0
    data = status.json
    assert (data["running"], data["pid"]) == (True, pid)
    assert data["started_at"] == "2026-11-25T12:00:00+00:00"  # the pinned clock
    assert {job["job"] for job in data["jobs"]} == {
        "daily-insights",
        "budget-alerts",
        "cache-maintenance",
        "reservation-sweep",
    }

    again = run_process(["daemon", "start"])
    assert again.exit_code == 1
    assert f"already running (pid {pid})" in again.stderr
    foreground = run_process(["daemon", "run"], timeout=30)
    assert foreground.exit_code == 1
    assert "already running" in foreground.stderr

    # The start-up catch-up wrote alice's insight; the log says so.
    assert _wait(lambda: any(r["status"] == "done" for r in insight_rows()))
    log = (finbuddy_env / "logs" / "daemon.log").read_text()
    assert f"daemon started (pid {pid})" in log
    assert "job daily-insights: starting (start-up)" in log

    stopped = run_process(["daemon", "stop", "--json", "--timeout", "20"], timeout=30)
    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.json == {"stopped": True, "pid": pid, "removed_stale_pidfile": False}
    assert _wait(lambda: not _alive(pid))
    assert not (finbuddy_env / "run" / "daemon.pid").exists()
    assert run_process(["daemon", "status", "--json"]).json["running"] is False
    assert f"daemon stopped (pid {pid})" in (finbuddy_env / "logs" / "daemon.log").read_text()
    assert run_process(["daemon", "stop"]).stdout.strip() == "The finbuddy daemon is not running."


def test_stop_removes_the_pidfile_of_a_killed_daemon(reaper, finbuddy_env):
    pids, _ = reaper
    started = run_process(["daemon", "start", "--json"], timeout=30)
    assert started.exit_code == 0, started.stderr
    pid = started.json["pid"]
    pids.append(pid)
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: not _alive(pid))
    pidfile = finbuddy_env / "run" / "daemon.pid"
    assert pidfile.exists()
    assert run_process(["daemon", "status", "--json"]).json["running"] is False
    stopped = run_process(["daemon", "stop"])
    assert stopped.exit_code == 0
    assert "removed a stale pidfile" in stopped.stdout
    assert not pidfile.exists()
    # And a new daemon starts over the old one's remains.
    restarted = run_process(["daemon", "start", "--json"], timeout=30)
    assert restarted.exit_code == 0, restarted.stderr
    pids.append(restarted.json["pid"])
    assert run_process(["daemon", "stop"], timeout=40).exit_code == 0


def test_foreground_daemon_stops_cleanly_on_sigterm(reaper, finbuddy_env):
    _, procs = reaper
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "finbuddy", "daemon", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    pidfile = finbuddy_env / "run" / "daemon.pid"
    log = finbuddy_env / "logs" / "daemon.log"
    assert _wait(lambda: log.exists() and "daemon started" in log.read_text(), timeout=20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not pidfile.exists()
    text = log.read_text()
    assert "SIGTERM: stopping" in text
    assert f"daemon stopped (pid {proc.pid})" in text
    assert "INFO finbuddy.daemon: daemon started" in err  # plain log lines on a non-terminal stderr


def test_kill_9_in_the_middle_of_a_batch_then_run_once_finishes_it(backend, reaper, monkeypatch, tmp_path):
    _, procs = reaper
    server = start_fake(monkeypatch, tmp_path, latency=0.4)
    try:
        monkeypatch.setenv("FINBUDDY_DAEMON_WORKERS", "1")
        users = seed_users(10)
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "finbuddy", "daemon", "run-once", "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        assert server.wait_for(4, timeout=30)  # three answered, the fourth in flight
        proc.kill()
        proc.wait(10)
        done_before = sum(r["status"] == "done" for r in insight_rows())
        assert 3 <= done_before < 10

        result = run_process(["daemon", "run-once", "--json"], timeout=60)
        assert result.exit_code == 0, result.stderr
        batch = next(i for i in result.json["ran"] if i["job"] == "daily-insights")
        assert batch["status"] == "ok"
        assert batch["result"]["done"] == 10 - done_before
        rows = insight_rows()
        assert [(r["user"], r["status"]) for r in rows] == [(u, "done") for u in users]
        assert len(users) <= server.count <= len(users) + 1
    finally:
        server.stop()


def test_sigterm_during_a_batch_finishes_the_call_in_flight_and_leaves_the_rest_for_the_next_run(
    reaper, monkeypatch, tmp_path, finbuddy_env
):
    _, procs = reaper
    server = start_fake(monkeypatch, tmp_path, latency=0.4)
    try:
        monkeypatch.setenv("FINBUDDY_DAEMON_WORKERS", "1")
        seed_users(8)
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "finbuddy", "daemon", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        assert server.wait_for(2, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        rows = insight_rows()
        # The call in flight was finished and stored; nobody else was claimed; no claim is left dangling.
        assert {r["status"] for r in rows} == {"done"}
        assert len(rows) == server.count < 8
        log = (finbuddy_env / "logs" / "daemon.log").read_text()
        assert "job daily-insights: interrupted" in log

        result = run_process(["daemon", "run-once", "--json"], timeout=60)
        batch = next(i for i in result.json["ran"] if i["job"] == "daily-insights")
        assert (batch["status"], batch["result"]["done"]) == ("ok", 8 - len(rows))
        assert server.count == 8
    finally:
        server.stop()


def test_start_runs_the_command_line_it_is_given_and_reports_why_it_did_not_start(finbuddy_env):
    """The daemon module does not spell the CLI's command line: the CLI passes it in (daemon_run_command)."""
    from finbuddy.config import load_settings
    from finbuddy.daemon.process import start_detached
    from finbuddy.errors import DaemonError

    command = [sys.executable, "-c", "import sys; sys.exit('finbuddy: no daemon here')"]
    with pytest.raises(DaemonError, match=r"the daemon did not start: no daemon here$"):
        start_detached(load_settings(), command, wait_seconds=20)


def _pid_namespace_prefix() -> list[str] | None:
    """A command prefix that runs a program as pid 1 of a new pid namespace (a container's view), if allowed."""
    for prefix in (
        ["unshare", "--pid", "--fork", "--mount-proc"],
        ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"],
    ):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def test_workers_with_the_same_host_name_and_pid_in_two_containers_never_retake_live_claims(
    backend, reaper, monkeypatch, tmp_path
):
    """Issue 8: two containers (same host name, each worker pid 1) took each other's live claims: 8 calls for 6."""
    prefix = _pid_namespace_prefix()
    if prefix is None:
        pytest.skip("needs pid namespaces (unshare --pid)")
    _, procs = reaper
    gate = threading.Event()  # the provider answers container A only once container B has had its go
    server = start_fake(monkeypatch, tmp_path, gate=gate)
    try:
        monkeypatch.setenv("FINBUDDY_DAEMON_WORKERS", "6")
        monkeypatch.setenv("FINBUDDY_AI_TIMEOUT", "60")
        if backend == "sqlite":  # one database, as PostgreSQL is for two containers
            monkeypatch.setenv("FINBUDDY_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
        users = seed_users(6)

        def container(name: str) -> subprocess.Popen:
            env = dict(os.environ)
            env.pop("PYTEST_CURRENT_TEST", None)
            env["FINBUDDY_HOME"] = str(tmp_path / name)  # each container has its own home (and job lock)
            command = [*prefix, sys.executable, "-m", "finbuddy", "daemon", "run-once", "--json"]
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(proc)
            return proc

        a = container("a")
        assert server.wait_for(6, timeout=60)  # A has claimed every user; its calls wait at the gate
        b = container("b")
        assert _wait(lambda: b.poll() is not None or server.count > 6, timeout=60)
        gate.set()
        out_b, err_b = b.communicate(timeout=60)
        out_a, err_a = a.communicate(timeout=60)
        assert (a.returncode, b.returncode) == (0, 0), err_a + err_b
        assert server.count == 6
        rows = insight_rows()
        assert [(r["user"], r["status"], r["attempts"]) for r in rows] == [(u, "done", 1) for u in users]
        assert {r["claimed_by"].split(":")[1] for r in rows} == {"1"}  # A ran as pid 1, like B
        batch_b = next(i for i in json.loads(out_b)["ran"] if i["job"] == "daily-insights")
        assert (batch_b["status"], batch_b["result"]["done"], batch_b["result"]["skipped"]) == ("partial", 0, 6)
    finally:
        gate.set()
        server.stop()
