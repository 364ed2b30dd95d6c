"""Request processes that serve several requests: reused only when the request left nothing behind.

A WarmServer (finbuddy/server/serve.py) runs here with runners of this module instead of the CLI, so that a
request can do what no finbuddy command should (leave a descriptor open, a thread running, the decimal context
changed) and the test can see which process served it (each runner prints its pid). The client is finbuddy's
own (`run_warm`), in a process of its own, as a user's command would be.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from finbuddy.server import supported

pytestmark = pytest.mark.skipif(not supported(), reason="the warm server needs Linux")

ROOT = Path(__file__).resolve().parent.parent

CLIENT = """
import sys
from finbuddy.cli.client import run_warm
code = run_warm(sys.argv[1:], sys.argv[1])
if code is None:
    print("cold")
    code = 0
sys.exit(code)
"""


def runner(argv: list[str]) -> int:
    """What the test's server runs for a request: print this process's pid, then do what argv[0] says."""
    what = argv[0]
    sys.stdout.write(f"{os.getpid()}\n")
    if what == "leak":
        os.open(os.devnull, os.O_RDONLY)  # a descriptor left open
    elif what == "thread":
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    elif what == "decimal":
        decimal.getcontext().prec = 5
    elif what == "warn":
        import warnings

        warnings.warn("shown once per process", UserWarning, stacklevel=1)
    elif what == "fail":
        return 3
    elif what == "slow":
        time.sleep(30)
    elif what == "cold-only":
        pass  # served, but the reusable() below says no
    return 0


def serve(home: str, idle_timeout: float = 120.0) -> None:
    """The test server's process: serve `runner` on home/run/server.sock until SIGTERM."""
    from finbuddy.server import SOCKET_NAME
    from finbuddy.server.serve import WarmServer

    server = WarmServer(
        Path(home) / "run" / SOCKET_NAME,
        Path(home) / "config.toml",
        runner,
        started_at="2026-11-30T00:00:00+00:00",
        reusable=lambda argv: argv[0] != "cold-only",
        idle_timeout=idle_timeout,
    )
    server.serve()


IDLE_TIMEOUT = 1.5  # what test_an_idle_process_ends... sets (the others keep the default: reuse is what they test)


@contextlib.contextmanager
def _server(tmp_path: Path, idle_timeout: float = 120.0) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    log = open(tmp_path / "serve.out", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.test_warm_reuse import serve; serve({str(home)!r}, idle_timeout={idle_timeout})",
        ],
        env=_env(home),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "run" / "server.sock").exists():
            assert proc.poll() is None, (tmp_path / "serve.out").read_text()
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.05)
        yield home
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture
def home(tmp_path) -> Iterator[Path]:
    with _server(tmp_path) as home:
        yield home


@pytest.fixture
def short_idle_home(tmp_path) -> Iterator[Path]:
    with _server(tmp_path, IDLE_TIMEOUT) as home:
        yield home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(FINBUDDY_HOME=str(home), PYTHONPATH=str(ROOT))
    return env


def request(home: Path, what: str) -> tuple[int, int]:
    """Run one request through the real client: (the pid that served it, the exit code)."""
    proc = subprocess.run(
        [sys.executable, "-c", CLIENT, what], env=_env(home), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() != "cold", "the test server did not serve the request"
    return int(proc.stdout.strip()), proc.returncode


def status(home: Path) -> dict:
    from finbuddy.server import SOCKET_NAME, protocol

    reply = protocol.query_status(str(home / "run" / SOCKET_NAME))
    assert reply is not None
    return reply


def test_a_clean_request_leaves_its_process_to_serve_the_next(home):
    first, code = request(home, "clean")
    assert code == 0
    second, _ = request(home, "clean")
    third, _ = request(home, "fail")  # a command's own exit code is a clean end too
    fourth, _ = request(home, "clean")
    assert first == second == third == fourth
    assert status(home)["idle"] == 1
    assert status(home)["requests"] == 4


@pytest.mark.parametrize("what", ["leak", "thread", "decimal", "warn", "cold-only"])
def test_a_request_that_leaves_something_behind_ends_its_process(home, what):
    before, _ = request(home, "clean")
    dirty, _ = request(home, what)
    assert dirty == before  # served by the idle process
    after, _ = request(home, "clean")
    assert after != dirty  # which did not serve again
    with pytest.raises(ProcessLookupError):
        os.kill(dirty, 0)


def test_a_process_a_signal_was_forwarded_to_serves_no_other_request(home):
    before, _ = request(home, "clean")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, "slow"], env=_env(home), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    slow = int(proc.stdout.readline())  # the runner printed its pid: the request is running
    assert slow == before
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the client forwards it
    proc.wait(30)
    after, _ = request(home, "clean")
    assert after != slow


def test_concurrent_requests_get_processes_of_their_own(home):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, "slow"], env=_env(home), cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        pids = {int(p.stdout.readline()) for p in procs if p.stdout is not None}
        assert len(pids) == 2
        third, _ = request(home, "clean")  # neither slow one's process: they are busy
        assert third not in pids
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
            p.wait(30)
            if p.stdout is not None:
                p.stdout.close()


def test_status_reports_idle_processes_as_json(home):
    request(home, "clean")
    reply = status(home)
    assert json.loads(json.dumps(reply))["idle"] == 1
    assert reply["running"] == 0


def test_an_idle_process_ends_after_the_idle_timeout_and_is_reaped(short_idle_home):
    home = short_idle_home
    idle, _ = request(home, "clean")
    assert status(home)["idle"] == 1
    deadline = time.monotonic() + IDLE_TIMEOUT + 20
    while True:  # a zombie still answers kill(pid, 0): gone means the server reaped it
        try:
            os.kill(idle, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, f"process {idle} was not ended and reaped"
        time.sleep(0.1)
    assert status(home)["idle"] == 0
    after, _ = request(home, "clean")
    assert after != idle
