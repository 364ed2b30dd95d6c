"""The daemon as real processes: start/status/stop, the pidfile lock, SIGTERM, and kill -9 in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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
    assert {job["job"] for job in data["jobs"]} == {"daily-insights", "cache-maintenance", "reservation-sweep"}

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
