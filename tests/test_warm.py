"""The warm server and its client, as real processes: same output either way, fallbacks, failures, Ctrl-C.

Whether a command ran warm is read from the server's own counter (`requests`), never from timing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import FIXED_NOW

FINBUDDY = [sys.executable, "-m", "finbuddy"]


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))}
    env.pop("PYTEST_CURRENT_TEST", None)  # errors behave as for a user, not re-raised
    env.update(
        FINBUDDY_HOME=str(home),
        FINBUDDY_USER="alice",
        FINBUDDY_USER_TIMEZONE="UTC",
        FINBUDDY_FAKE_NOW=FIXED_NOW,
        FINBUDDY_AI_PROVIDER="offline",
        NO_COLOR="1",
        COLUMNS="120",
    )
    env.update(extra)
    return env


@dataclass
class Ran:
    code: int
    out: bytes
    err: bytes

    @property
    def text(self) -> str:
        return self.out.decode()


def run(home: Path, *args: str, cold: bool = False, input: bytes | None = None, cwd: Path | None = None, **env) -> Ran:
    full = base_env(home, **env)
    if cold:
        full["FINBUDDY_NO_SERVER"] = "1"
    proc = subprocess.run(
        [*FINBUDDY, *args], env=full, input=input or b"", capture_output=True, timeout=120, cwd=cwd or home.parent
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def socket_path(home: Path) -> Path:
    return home / "run" / "server.sock"


def server_status(home: Path) -> dict | None:
    from finbuddy.server.protocol import query_status

    return query_status(str(socket_path(home)), timeout=10)


def wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


class Server:
    """A `finbuddy daemon serve` process (or another command line that serves), stopped in teardown."""

    def __init__(self, home: Path, command: list[str] | None = None, env: dict[str, str] | None = None, **popen):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.log = open(home.parent / f"serve-{home.name}.out", "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            command or [*FINBUDDY, "daemon", "serve"],
            env=env or base_env(home),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=home.parent,
            **popen,
        )

    def wait_serving(self, timeout: float = 180.0) -> dict:
        def up() -> bool:
            assert self.proc.poll() is None, self.output()
            return bool((server_status(self.home) or {}).get("serving"))

        wait_for(up, timeout, "the warm server")
        status = server_status(self.home)
        assert status is not None
        return status

    def requests(self) -> int:
        status = server_status(self.home)
        assert status is not None, "the warm server does not answer"
        return status["requests"]

    def output(self) -> str:
        self.log.flush()
        return (self.home.parent / f"serve-{self.home.name}.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def served(tmp_path) -> Iterator[Server]:
    server = Server(tmp_path / "home")
    try:
        server.wait_serving()
        yield server
    finally:
        server.stop()


# --- the same output warm and cold ---------------------------------------------------------------------------

CORPUS: list[tuple[str, ...]] = [
    ("add", "12.50", "groceries", "weekly shop", "--merchant", "Lidl"),
    ("add", "4.20", "coffee", "--merchant", "Bean There", "--date", "yesterday"),
    ("add", "3200", "salary", "--income", "--json"),
    ("add", "1,234.56", "rent", "--date", "2026-11-01"),
    ("list",),
    ("list", "--limit", "2", "--json"),
    ("edit", "1", "--amount", "13.20", "--note", "shop + milk"),
    ("edit", "2", "--category", "dining", "--json"),
    ("budget", "set", "groceries", "400"),
    ("budget", "set", "dining", "50"),
    ("budget", "list"),
    ("budget", "list", "--json"),
    ("summary",),
    ("summary", "--json"),
    ("summary", "--fresh"),
    ("summary", "--month", "2026-10"),
    ("portfolio", "add", "VWCE", "12", "--cost", "98.50"),
    ("portfolio", "price", "VWCE", "104.20"),
    ("portfolio", "show"),
    ("portfolio", "show", "--json"),
    ("quota",),
    ("quota", "--json"),
    ("ask", "Can I afford a weekend trip for 300?"),
    ("ask", "Can I afford a weekend trip for 300?", "--json"),
    ("usage", "--days", "3"),
    ("usage", "--json"),
    ("insights",),
    ("insights", "--json"),
    ("add", "abc", "food"),  # bad amount: exit 2
    ("add", "-5", "food", "--json"),
    ("add", "5", "food", "--date", "tomorrow-ish"),
    ("edit", "99", "--amount", "3"),  # unknown record: exit 1
    ("edit", "99", "--amount", "3", "--json"),
    ("delete", "99", "--yes", "--json"),
    ("list", "--bogus"),  # unknown option: exit 2
    ("nosuchcommand",),
    ("--help",),
    ("add", "--help"),
    ("delete", "1", "--yes"),
    ("list", "--json"),
]


def test_a_command_corpus_gives_the_same_stdout_stderr_and_exit_codes_warm_and_cold(tmp_path):
    home = tmp_path / "home"
    cold = [run(home, *args, cold=True) for args in CORPUS]
    shutil.rmtree(home)
    server = Server(home)
    try:
        server.wait_serving()
        warm = [run(home, *args) for args in CORPUS]
        answered = server.requests()
    finally:
        server.stop()
    assert answered == len(CORPUS)  # every one ran warm
    for args, c, w in zip(CORPUS, cold, warm, strict=True):
        assert (w.code, w.out, w.err) == (c.code, c.out, c.err), args
    codes = dict(zip(CORPUS, (c.code for c in cold), strict=True))
    assert codes[("add", "abc", "food")] == 2 and codes[("edit", "99", "--amount", "3")] == 1
    assert json.loads(cold[CORPUS.index(("edit", "99", "--amount", "3", "--json"))].out)["error"]["type"] == "not_found"
    assert codes[("list", "--bogus")] == 2


def test_each_request_has_its_own_user_settings_clock_and_environment(served):
    """Requests one after the other with other users, currencies, zones and clocks: nothing carries over."""
    home = served.home
    steps = [
        ({"FINBUDDY_USER": "bob", "FINBUDDY_FAKE_NOW": "2026-01-02T08:00:00+00:00"}, ("add", "5", "food")),
        ({"FINBUDDY_USER_CURRENCY": "EUR"}, ("add", "7", "fun")),
        ({}, ("list", "--json")),
        ({"FINBUDDY_USER": "bob"}, ("list",)),
        (
            {"FINBUDDY_USER_TIMEZONE": "Pacific/Kiritimati", "FINBUDDY_FAKE_NOW": "2026-11-30T23:00:00+00:00"},
            ("quota",),
        ),
        ({}, ("quota",)),
        ({"FINBUDDY_USER_CURRENCY": "EUR"}, ("summary", "--json")),
        ({}, ("summary", "--json")),
    ]
    before = served.requests()
    warm = [run(home, *args, **env) for env, args in steps]
    assert served.requests() == before + len(steps)
    cold_home = home.parent / "cold-home"
    cold = [run(cold_home, *args, cold=True, **env) for env, args in steps]
    for (env, args), w, c in zip(steps, warm, cold, strict=True):
        assert (w.code, w.out, w.err) == (c.code, c.out, c.err), (env, args)
    assert [r["user"] for r in json.loads(warm[2].out)] == ["alice"]
    assert b"2026-01-02" in warm[3].out and b"food" in warm[3].out and b"fun" not in warm[3].out  # bob's
    assert b"resets at 2026-12-02T00:00+14:00" in warm[4].out  # 2026-11-30T23:00Z is Dec 1st there
    assert b"resets at 2026-11-26T00:00+00:00" in warm[5].out  # the base clock again
    assert json.loads(warm[6].out)["currency"] == "EUR" and json.loads(warm[7].out)["currency"] == "USD"


def _pty_run(home: Path, args: list[str], cold: bool, columns: int) -> tuple[int, bytes]:
    """Run on a pseudo-terminal `columns` wide (no COLUMNS, colours on): what a person sees, byte for byte."""
    env = base_env(home)
    for name in ("COLUMNS", "NO_COLOR", "LINES"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    if cold:
        env["FINBUDDY_NO_SERVER"] = "1"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([*FINBUDDY, *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=home.parent)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(60), output


def test_on_a_terminal_the_width_colours_and_bytes_are_the_same_warm_and_cold(served):
    home = served.home
    for args in (["add", "12.50", "groceries", "--merchant", "Lidl"], ["budget", "set", "groceries", "10"]):
        assert run(home, *args).code == 0
    before = served.requests()
    seen = {}
    for args, columns in ((["list"], 61), (["summary", "--fresh"], 100), (["add", "-1", "x"], 80)):
        cold = _pty_run(home, args, cold=True, columns=columns)
        warm = _pty_run(home, args, cold=False, columns=columns)
        assert warm == cold, args
        seen[args[0]] = cold
    assert served.requests() == before + 3
    assert b"\x1b[" in seen["summary"][1]  # colours: a terminal, and no NO_COLOR


def test_stdin_prompts_and_pipes_and_the_working_directory_are_the_clients(served, tmp_path):
    home = served.home
    assert run(home, "add", "5", "food").code == 0
    assert run(home, "add", "6", "fun").code == 0
    before = served.requests()
    refused = run(home, "delete", "1", input=b"n\n")  # a prompt, answered on the client's stdin
    assert refused.code == 1 and b"[y/N]" in refused.err and b"not deleted" in refused.err
    accepted = run(home, "delete", "1", input=b"y\n")
    assert accepted.code == 0, accepted.err
    # A relative path is the client's working directory's
    workdir = tmp_path / "work"
    workdir.mkdir()
    exported = run(home, "export", "--format", "csv", "--output", "backup.csv", cwd=workdir)
    assert exported.code == 0, exported.err
    assert "fun" in (workdir / "backup.csv").read_text()
    imported = run(home, "--user", "bob", "import", "backup.csv", "--json", cwd=workdir)
    assert imported.code == 0 and json.loads(imported.out)["imported"] == 1
    assert served.requests() == before + 4
    listed = [r["category"] for r in json.loads(run(home, "list", "--json").out)]
    assert listed == ["fun"]


def test_a_reader_that_goes_away_is_exit_0_and_quiet_warm_as_cold(served):
    home = served.home
    for n in range(30):
        assert run(home, "add", str(n + 1), "food").code == 0
    for cold in (True, False):
        read_end, write_end = os.pipe()
        os.close(read_end)
        env = base_env(home, **({"FINBUDDY_NO_SERVER": "1"} if cold else {}))
        try:
            proc = subprocess.run([*FINBUDDY, "list"], stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120)
        finally:
            os.close(write_end)
        assert (proc.returncode, proc.stderr) == (0, b""), cold


# --- falling back to cold ----------------------------------------------------------------------------------


def test_without_a_server_or_with_a_dead_socket_commands_run_cold(tmp_path):
    home = tmp_path / "home"
    assert not socket_path(home).exists()
    first = run(home, "add", "5", "food")
    assert first.code == 0 and first.out == b"Added #1 expense 5.00 food on 2026-11-25\n"
    # The socket of a server killed with -9 stays behind: nobody accepts on it.
    import socket as sockets

    socket_path(home).parent.mkdir(parents=True, exist_ok=True)
    dead = sockets.socket(sockets.AF_UNIX, sockets.SOCK_SEQPACKET)
    dead.bind(str(socket_path(home)))
    dead.close()
    assert socket_path(home).exists()
    second = run(home, "add", "6", "food")
    assert (second.code, second.out, second.err) == (0, b"Added #2 expense 6.00 food on 2026-11-25\n", b"")
    status = json.loads(run(home, "daemon", "status", "--json").out)["server"]
    assert (status["serving"], status["socket"]) == (False, str(socket_path(home)))


def test_finbuddy_no_server_runs_cold_and_the_cold_list_never_goes_warm(served):
    home = served.home
    before = served.requests()
    assert run(home, "add", "5", "food", cold=True).code == 0
    status = run(home, "daemon", "status", "--json")
    assert status.code == 0
    assert served.requests() == before
    server = json.loads(status.out)["server"]
    assert server["serving"] is True and server["socket"] == str(socket_path(home))
    assert run(home, "list").code == 0
    assert served.requests() == before + 1


def test_a_changed_configuration_file_is_not_served_and_the_server_restarts(served):
    home = served.home
    config = home / "config.toml"
    config.write_text('[user]\ncurrency = "EUR"\n')
    pid = server_status(home)["pid"]  # type: ignore[index]
    ran = run(home, "add", "5", "food")  # the server started without this file: it declines, and restarts
    assert ran.code == 0, ran.err
    assert ran.out == b"Added #1 expense 5.00 food on 2026-11-25\n"
    served.wait_serving()
    restarted = server_status(home)
    assert restarted is not None and restarted["requests"] == 0  # a new server (the same pid: it re-executed)
    assert restarted["pid"] == pid
    assert run(home, "summary", "--json").code == 0
    assert served.requests() == 1
    assert json.loads(run(home, "summary", "--json").out)["currency"] == "EUR"
    assert "restarts: its configuration file changed" in (home / "logs" / "server.log").read_text()


def _package_copy(tmp_path: Path, version: str) -> Path:
    """A copy of this finbuddy whose __version__ is `version`: another installed version."""
    import finbuddy

    root = tmp_path / f"finbuddy-{version}"
    shutil.copytree(Path(finbuddy.__file__).parent, root / "finbuddy", ignore=shutil.ignore_patterns("__pycache__"))
    init = root / "finbuddy" / "__init__.py"
    text = init.read_text()
    init.write_text(text.replace(f'__version__ = "{finbuddy.__version__}"', f'__version__ = "{version}"'))
    assert f'"{version}"' in init.read_text()
    return root


def _from(root: Path) -> list[str]:
    """The finbuddy of `root` as a command line (without PYTHONPATH, which the server compares)."""
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); sys.argv[0] = 'finbuddy'; from finbuddy.cli import run; run()"
    )
    return [sys.executable, "-c", code]


def test_a_server_of_another_finbuddy_version_is_not_used(tmp_path):
    home = tmp_path / "home"
    other = Server(home, command=[*_from(_package_copy(tmp_path, "99.0")), "daemon", "serve"])
    try:
        assert other.wait_serving()["version"] == "99.0"
        ran = run(home, "add", "5", "food")
        assert (ran.code, ran.out, ran.err) == (0, b"Added #1 expense 5.00 food on 2026-11-25\n", b"")
        status = server_status(home)
        assert status is not None and (status["requests"], status["declined"]) == (0, 1)
    finally:
        other.stop()


def test_a_server_whose_package_was_upgraded_restarts_as_the_new_version(tmp_path):
    home = tmp_path / "home"
    root = _package_copy(tmp_path, "1.0")
    server = Server(home, command=[*_from(root), "daemon", "serve"])
    try:
        assert server.wait_serving()["version"] == "1.0"
        client = [*_from(root), "add", "5", "food"]
        assert subprocess.run(client, env=base_env(home), capture_output=True, timeout=120).returncode == 0
        assert server.requests() == 1
        init = root / "finbuddy" / "__init__.py"
        init.write_text(init.read_text().replace('"1.0"', '"1.1"'))  # the upgrade, under the running server
        upgraded = subprocess.run(client, env=base_env(home), capture_output=True, timeout=120)
        assert (upgraded.returncode, upgraded.stdout) == (0, b"Added #2 expense 5.00 food on 2026-11-25\n")
        wait_for(lambda: (server_status(home) or {}).get("version") == "1.1", what="the restarted server")
        again = subprocess.run(client, env=base_env(home), capture_output=True, timeout=120)
        assert again.returncode == 0 and server.requests() == 1  # served by the new one
    finally:
        server.stop()


SYSTEM_PYTHON = "/usr/bin/python3"  # runnable by `nobody` (this venv's interpreter may live in root's home)
needs_nobody = pytest.mark.skipif(
    os.getuid() != 0 or shutil.which("runuser") is None or not os.access(SYSTEM_PYTHON, os.X_OK),
    reason="needs root, runuser and /usr/bin/python3",
)

# A server as `nobody` on our socket, which would take any request: it records what it receives.
_FOREIGN_SERVER = """
import json, os, socket, sys
path, record = sys.argv[1], sys.argv[2]
listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
listener.bind(path)
listener.listen(8)
while True:
    conn, _ = listener.accept()
    data = conn.recv(1 << 20)
    with open(record, "a") as handle:
        handle.write(f"received {len(data)} bytes\\n")
    try:
        conn.send(json.dumps({"ready": True}).encode())
    except OSError:
        pass
    conn.close()
"""


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A directory other users can traverse (the tests' own tmp_path is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="finbuddy-warm-uid-"))
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@needs_nobody
def test_a_server_of_another_user_on_our_socket_is_not_used(shared_base):
    home = shared_base / "home"
    (home / "run").mkdir(parents=True)
    shutil.chown(home / "run", "nobody")
    record = shared_base / "received.txt"
    record.touch()
    shutil.chown(record, "nobody")
    foreign = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, "-c", _FOREIGN_SERVER, str(socket_path(home)), str(record)],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # runuser forks the server: end both through their process group
    )
    try:
        wait_for(lambda: socket_path(home).exists(), what="nobody's socket")
        assert socket_path(home).stat().st_uid != os.getuid()
        ran = run(home, "add", "5", "food")
        assert (ran.code, ran.out, ran.err) == (0, b"Added #1 expense 5.00 food on 2026-11-25\n", b"")
        # the client found it, saw it runs as another user and hung up: it never got our request, nor our stdio
        wait_for(lambda: record.read_text() != "", what="the foreign server to see the connection")
        assert record.read_text().splitlines() == ["received 0 bytes"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(foreign.pid, signal.SIGKILL)
        foreign.wait(30)


_PEER = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.settimeout(30)
sock.connect(sys.argv[1])
try:
    sock.send(json.dumps({"op": "status", "protocol": 1}).encode())
    reply = sock.recv(1 << 20).decode()
except (ConnectionResetError, BrokenPipeError):
    reply = ""
print(json.dumps({"reply": reply}))
"""


@needs_nobody
def test_the_server_refuses_a_peer_of_another_user(shared_base):
    """Were the socket's directory and mode loosened by mistake, another user's connection is still refused."""
    home = shared_base / "home"
    server = Server(home)
    try:
        server.wait_serving()
        os.chmod(home, 0o755)
        os.chmod(socket_path(home).parent, 0o755)
        os.chmod(socket_path(home), 0o666)
        peer = subprocess.run(
            ["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, "-c", _PEER, str(socket_path(home))],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert peer.returncode == 0, peer.stderr
        assert json.loads(peer.stdout) == {"reply": ""}  # closed without a word
        assert json.loads(run(home, "daemon", "status", "--json").out)["server"]["serving"] is True  # we are served
        wait_for(lambda: "refused a connection from user id 65534" in server.output(), what="the refusal")
    finally:
        server.stop()


def test_the_client_finds_the_socket_where_the_settings_put_it(monkeypatch, tmp_path):
    from finbuddy.cli.client import server_files
    from finbuddy.config import Paths

    cases = [
        {"FINBUDDY_HOME": str(tmp_path / "h")},
        {"FINBUDDY_HOME": "~/fb", "FINBUDDY_CONFIG": str(tmp_path / "c.toml")},
        {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "cf")},
        {"HOME": str(tmp_path / "u"), "FINBUDDY_CONFIG": "rel.toml"},
    ]
    for env in cases:
        monkeypatch.delenv("FINBUDDY_HOME", raising=False)
        for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        paths = Paths.from_env(os.environ)
        assert server_files(os.environ) == (
            os.path.abspath(paths.runtime_dir / "server.sock"),
            os.path.abspath(paths.config_file),
        ), env


def test_a_socket_path_longer_than_sun_path_is_bound_and_reached_through_its_directory(tmp_path):
    from finbuddy.server import protocol

    directory = tmp_path / ("d" * 60) / ("e" * 60)
    directory.mkdir(parents=True)
    path = str(directory / "server.sock")
    assert len(path) > 108  # what sun_path holds
    listener = protocol.new_socket()
    with protocol.Address(path) as address:
        listener.bind(address.usable)
    listener.listen(1)
    try:
        client = protocol.connect(path, 5)  # as this user: the peer check passes
        server_side, _ = listener.accept()
        assert protocol.peer_credentials(server_side)[:2] == (os.getpid(), os.getuid())
        protocol.send(client, {"hello": "\udcff"}, fds=(0,))  # a lone surrogate (non-UTF-8 bytes) and an fd
        message, fds = protocol.receive(server_side)
        assert message == {"hello": "\udcff"} and len(fds) == 1
        protocol.close_fds(fds)
        client.close()
        server_side.close()
    finally:
        listener.close()
    assert os.path.exists(path)


# --- safety ---------------------------------------------------------------------------------------------------


def test_the_socket_is_0600_in_a_0700_directory(served):
    path = socket_path(served.home)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("url", ["::::", "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_a_request_that_fails_in_the_handler_gets_the_cold_error_and_the_server_lives_on(served, url):
    home = served.home
    cold = run(home, "list", cold=True, FINBUDDY_DATABASE_URL=url)
    warm = run(home, "list", FINBUDDY_DATABASE_URL=url)
    assert (warm.code, warm.out, warm.err) == (cold.code, cold.out, cold.err)
    assert warm.code in (1, 2) and len(warm.err.splitlines()) == 1
    before = served.requests()
    assert run(home, "add", "5", "food").code == 0
    assert served.requests() == before + 1


def _gated_openai(monkeypatch, tmp_path):
    from tests.fakes_daemon import start_fake

    gate = threading.Event()
    fake = start_fake(monkeypatch, tmp_path, gate=gate)
    return fake, gate


def _openai_env() -> dict[str, str]:
    return {k: os.environ[k] for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "FINBUDDY_AI_TIMEOUT")} | {
        "FINBUDDY_AI_PROVIDER": "openai",
        "FINBUDDY_AI_MAX_RETRIES": "0",
    }


def test_a_slow_request_does_not_block_a_concurrent_add(served, monkeypatch, tmp_path):
    home = served.home
    fake, gate = _gated_openai(monkeypatch, tmp_path)
    try:
        asking = subprocess.Popen(
            [*FINBUDDY, "ask", "Should I buy a bike?", "--json"],
            env=base_env(home, **_openai_env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert fake.wait_for(1, timeout=120)  # the ask is in flight, held by the gate
            added = run(home, "add", "5", "food")
            assert added.code == 0, added.err
            assert asking.poll() is None  # the add finished while the ask still waited
            gate.set()
            out, err = asking.communicate(timeout=120)
        finally:
            gate.set()
            if asking.poll() is None:
                asking.kill()
            asking.wait(30)
        assert asking.returncode == 0, err
        assert json.loads(out)["source"] == "openai"
        assert served.requests() == 2
    finally:
        fake.stop()


def test_more_slow_requests_than_slots_do_not_block_an_add(served, monkeypatch, tmp_path):
    """Requests waiting on the AI provider stop counting against the slots: the add gets one."""
    home = served.home
    slots = server_status(home)["max_children"]  # type: ignore[index]
    if slots + 1 > 16:
        pytest.skip(f"{slots} slots: too many processes for a test")
    fake, gate = _gated_openai(monkeypatch, tmp_path)
    asks = []
    try:
        for n in range(slots + 1):
            asks.append(
                subprocess.Popen(
                    [*FINBUDDY, "ask", f"Should I buy bike {n}?", "--json"],
                    env=base_env(home, **_openai_env()),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        wait_for(lambda: fake.count >= slots + 1, what="every ask in flight")
        added = run(home, "add", "5", "food")
        assert added.code == 0, added.err
        assert all(ask.poll() is None for ask in asks)  # all still waiting on the provider
        assert server_status(home)["running"] == slots + 1  # type: ignore[index]
        gate.set()
        for ask in asks:
            out, err = ask.communicate(timeout=120)
            assert ask.returncode == 0, err
        assert served.requests() == slots + 2
    finally:
        gate.set()
        for ask in asks:
            if ask.poll() is None:
                ask.kill()
            ask.wait(30)
        fake.stop()


def _ask_until_in_flight(home: Path, fake, cold: bool) -> subprocess.Popen:
    env = base_env(home, **_openai_env(), **({"FINBUDDY_NO_SERVER": "1"} if cold else {}))
    proc = subprocess.Popen(
        [*FINBUDDY, "ask", "Should I buy a bike?"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    count = fake.count
    wait_for(lambda: fake.count > count or proc.poll() is not None, what="the ask in flight")
    assert proc.poll() is None, proc.communicate()
    return proc


def _quota_used(home: Path) -> int:
    return json.loads(run(home, "quota", "--json", cold=True).out)["used"]


def test_ctrl_c_of_a_warm_client_interrupts_its_command_like_cold_and_keeps_what_was_committed(
    served, monkeypatch, tmp_path
):
    home = served.home
    fake, gate = _gated_openai(monkeypatch, tmp_path)
    try:
        assert run(home, "add", "5", "food").code == 0  # committed before
        results = {}
        for cold in (True, False):
            proc = _ask_until_in_flight(home, fake, cold)
            assert _quota_used(home) == 1  # reserved while the call is in flight
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
            results[cold] = (proc.returncode, out, err)
            wait_for(lambda: (server_status(home) or {}).get("running") == 0, what="the request's end")
            assert _quota_used(home) == 0  # the reservation was given back: nothing half-written
        assert results[False] == results[True] == (130, b"", b"finbuddy: interrupted\n")
        assert [r["amount"] for r in json.loads(run(home, "list", "--json").out)] == ["5.00"]
    finally:
        gate.set()
        fake.stop()


def test_a_client_killed_mid_request_leaves_no_half_written_state(served, monkeypatch, tmp_path):
    home = served.home
    fake, gate = _gated_openai(monkeypatch, tmp_path)
    try:
        proc = _ask_until_in_flight(home, fake, cold=False)
        assert _quota_used(home) == 1
        proc.kill()  # the client vanishes: the server interrupts its command
        proc.wait(30)
        wait_for(lambda: (server_status(home) or {}).get("running") == 0, what="the request's end")
        assert _quota_used(home) == 0
        assert json.loads(run(home, "usage", "--json").out)["total"]["in_flight"] == 0
    finally:
        gate.set()
        fake.stop()


def test_a_request_process_that_dies_ends_its_client_the_same_way_and_the_server_lives_on(
    served, monkeypatch, tmp_path
):
    home = served.home
    fake, gate = _gated_openai(monkeypatch, tmp_path)
    try:
        proc = _ask_until_in_flight(home, fake, cold=False)
        children = server_status(home)["children"]  # type: ignore[index]
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL  # as a cold process killed -9
        gate.set()
        status = server_status(home)
        assert status is not None and status["crashed"] == 1
        assert run(home, "add", "5", "food").code == 0
        assert served.requests() == 2
    finally:
        gate.set()
        fake.stop()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        found |= {int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
    return found


def test_the_quick_commands_leave_their_process_fit_to_serve_the_next(served):
    """One process serves these one after the other: none leaves a thread, a descriptor or a warning behind
    (which would end its process, and every command would pay for a fresh one again)."""
    home = served.home
    assert run(home, "add", "12.50", "groceries", "--merchant", "Lidl").code == 0
    first = _children(served.proc.pid)
    assert len(first) == 1
    commands = [
        ("add", "3", "coffee", "--json"),
        ("list",),
        ("list", "--limit", "5", "--json"),
        ("edit", "1", "--amount", "13"),
        ("budget", "set", "groceries", "400"),
        ("budget", "list"),
        ("summary",),
        ("summary", "--fresh", "--json"),
        ("portfolio", "add", "VWCE", "2", "--cost", "10"),
        ("portfolio", "show"),
        ("quota",),
        ("usage",),
        ("insights",),
        ("recurring",),
        ("trend",),
        ("add", "abc", "food"),  # a bad amount (exit 2) is a clean end too, as is "no insight yet" (exit 1)
    ]
    for args in commands:
        ran = run(home, *args)
        assert ran.code in (0, 1, 2), (args, ran.err)  # insights: exit 1, none written yet
        assert _children(served.proc.pid) == first, args
    assert served.requests() == len(commands) + 1
    after_ask = run(home, "ask", "How am I doing?")  # not on the list: its process ends
    assert after_ask.code == 0, after_ask.err
    wait_for(lambda: not (_children(served.proc.pid) & first), 30, "the process that ran ask to end")


def test_status_says_where_it_serves_and_how_many_requests_it_answered(served):
    home = served.home
    for n in range(3):
        assert run(home, "add", str(n + 1), "food").code == 0
    text = run(home, "daemon", "status")
    assert text.code == 0
    line = next(line for line in text.text.splitlines() if line.startswith("warm server:"))
    assert line.startswith(f"warm server: serving on {socket_path(home)} (pid {served.proc.pid}")
    # the three adds ran one after the other: one process served them all and waits for the next
    assert line.endswith("3 requests answered, 0 running, 1 idle")
    data = json.loads(run(home, "daemon", "status", "--json").out)["server"]
    assert (data["serving"], data["requests"], data["pid"], data["idle"]) == (True, 3, served.proc.pid, 1)
    served.stop()
    stopped = run(home, "daemon", "status")
    assert f"warm server: not serving (socket {socket_path(home)})" in stopped.text
    assert not socket_path(home).exists()


def test_the_daemon_serves_its_users_commands_and_stops_its_server_with_it(tmp_path):
    home = tmp_path / "home"
    started = run(home, "daemon", "start", "--json")
    assert started.code == 0, started.err
    pid = json.loads(started.out)["pid"]
    try:
        wait_for(lambda: bool((server_status(home) or {}).get("serving")), what="the daemon's warm server")
        assert run(home, "add", "5", "food").code == 0
        assert server_status(home)["requests"] == 1  # type: ignore[index]
        server_pid = server_status(home)["pid"]  # type: ignore[index]
        # a new configuration: the daemon starts a new server
        (home / "config.toml").write_text('[user]\ncurrency = "EUR"\n')
        assert run(home, "add", "6", "food").code == 0
        wait_for(lambda: (server_status(home) or {}).get("pid") not in (None, server_pid), what="the restarted server")
        assert run(home, "add", "7", "food").code == 0
        assert server_status(home)["requests"] == 1  # type: ignore[index]
        no_serve = run(home, "daemon", "status", "--json")
        assert json.loads(no_serve.out)["server"]["serving"] is True
        stopped = run(home, "daemon", "stop", "--json")
        assert stopped.code == 0, stopped.err
        wait_for(lambda: not socket_path(home).exists(), what="the server to stop with the daemon")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
