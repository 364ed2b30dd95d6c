"""What only a real process shows: a reader that goes away, Ctrl-C, and errors outside the test harness."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers_ledger import one_line_error


def process_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # unexpected errors behave as for a user, not re-raised
    return env


def finbuddy(*args: str) -> list[str]:
    return [sys.executable, "-m", "finbuddy", *args]


def seed_records(cli, tmp_path, count: int) -> None:
    csv = tmp_path / "seed.csv"
    rows = "".join(f"2026-11-{day % 20 + 1:02d},-{n + 1}.25,note {n}\n" for n, day in enumerate(range(count)))
    csv.write_text("date,amount,note\n" + rows)
    r = cli("import", csv, "--json")
    assert r.exit_code == 0 and r.json["imported"] == count, r.stderr


@pytest.mark.parametrize(
    ("command", "records"),
    [
        (("export",), 3),  # the output waits in stdout's buffer: the closed pipe shows at the final flush
        (("export",), 5000),  # about 250 KB: writing itself fails midway
        (("list",), 3),  # a Rich table (Rich's own handling of a closed pipe exits 1)
    ],
)
def test_a_reader_that_went_away_is_exit_0_and_nothing_on_stderr(cli, tmp_path, records, command):
    """`finbuddy export | head -1`: deterministic, as the reading end is closed before finbuddy starts."""
    seed_records(cli, tmp_path, records)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            finbuddy(*command), stdout=write_end, stderr=subprocess.PIPE, env=process_env(), timeout=120
        )
    finally:
        os.close(write_end)
    assert proc.stderr.decode() == ""
    assert proc.returncode == 0


def test_ctrl_c_says_interrupted_and_exits_130(cli):
    assert cli("add", "5", "food").exit_code == 0
    proc = subprocess.Popen(
        finbuddy("delete", "1"),
        stdin=subprocess.PIPE,  # left open: the prompt waits for an answer until SIGINT arrives
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=process_env(),
    )
    try:
        prompt = b""
        deadline = time.monotonic() + 60
        with selectors.DefaultSelector() as selector:
            assert proc.stderr is not None
            selector.register(proc.stderr, selectors.EVENT_READ)
            while b"[y/N]" not in prompt:
                assert time.monotonic() < deadline and proc.poll() is None, prompt
                if selector.select(timeout=1):
                    prompt += os.read(proc.stderr.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert out == b""
    assert err.decode().splitlines() == ["finbuddy: interrupted"]


def test_internal_error_is_one_line_and_debug_adds_the_traceback(tmp_path):
    """Outside the tests' re-raising, an error finbuddy did not foresee still ends in one line."""
    env = {**process_env(), "FINBUDDY_DATABASE_URL": "::::"}
    plain = subprocess.run(finbuddy("list"), capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode in (1, 2)
    one_line_error(plain.stderr)
    debug = subprocess.run(finbuddy("--debug", "list"), capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode == plain.returncode
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == plain.stderr.strip()
