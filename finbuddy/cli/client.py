"""The warm server's client: hand this command to the user's server if one answers (README "Warm start").

Runs before anything heavy is imported. `run_warm` returns the command's exit code when a server ran it, or None
when the command must run in this process: no server, FINBUDDY_NO_SERVER=1, a command on the cold list, stdio
that is not the process's own, a server that is stale, busy, another user's, or any trouble in the exchange
before the server said it started the command. Once it has, the command is the server's: this process
forwards its signals (Ctrl-C) and waits for the exit code, and never runs the command a second time.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs a client 1.5 ms of start-up
if TYPE_CHECKING:
    import socket
    from typing import Any

NO_SERVER_ENV = "FINBUDDY_NO_SERVER"
# Long-running commands with their own signal handling and process life: never in a server's child.
COLD_COMMANDS = frozenset({"daemon", "worker"})
# How long a server may take to answer at all (hung beyond that: the command runs here), and, once it has said the
# command is queued (alive, its slots all taken by commands that started less than a second ago), for its turn.
READY_TIMEOUT = 2.0
QUEUED_TIMEOUT = 30.0
_TRUE = ("1", "true", "yes", "on")


def server_files(env: dict[str, str] | os._Environ[str]) -> tuple[str, str]:
    """(socket, configuration file) where finbuddy.config.Paths.from_env(env) puts them, without importing config
    (platformdirs only when FINBUDDY_HOME is not set)."""
    from finbuddy.server import SOCKET_NAME

    home = env.get("FINBUDDY_HOME")
    if home:
        root = os.path.expanduser(home)
        runtime, config = os.path.join(root, "run"), os.path.join(root, "config.toml")
    else:
        import platformdirs

        dirs = platformdirs.PlatformDirs("finbuddy", appauthor=False)
        runtime = os.path.join(dirs.user_state_dir, "run")
        config = os.path.join(dirs.user_config_dir, "config.toml")
    override = env.get("FINBUDDY_CONFIG")
    if override:
        config = os.path.expanduser(override)
    return os.path.abspath(os.path.join(runtime, SOCKET_NAME)), os.path.abspath(config)


def _stdio() -> list[list[Any]] | None:
    """How this process's stdin, stdout and stderr are set up, if they are its own file descriptors 0, 1 and 2
    (not replaced, as by a test's capture or a caller's redirect_stdout, and not closed)."""
    described = []
    streams: tuple[tuple[int, Any, Any], ...] = (
        (0, sys.stdin, sys.__stdin__),
        (1, sys.stdout, sys.__stdout__),
        (2, sys.stderr, sys.__stderr__),
    )
    for fd, stream, original in streams:
        if stream is None or stream is not original:
            return None
        try:
            if stream.fileno() != fd:
                return None
            os.fstat(fd)
        except (AttributeError, OSError, ValueError):
            return None
        described.append(
            [stream.encoding, stream.errors, stream.line_buffering, bool(getattr(stream, "write_through", False))]
        )
    return described


def disabled() -> bool:
    """FINBUDDY_NO_SERVER=1 (or true, yes, on): every command runs in its own process."""
    return os.environ.get(NO_SERVER_ENV, "").strip().lower() in _TRUE


def run_warm(argv: list[str], command: str | None) -> int | None:
    """Run the command on the user's warm server: its exit code, or None to run it in this process."""
    if command in COLD_COMMANDS or disabled():
        return None
    try:
        sock, request = _connect(argv)
    except KeyboardInterrupt:
        return _interrupted()
    except Exception:  # whatever goes wrong before the server has the request: run the command here
        return None
    if sock is None:
        return None
    try:
        return _Exchange(sock).run(request)
    finally:
        sock.close()


def _connect(argv: list[str]) -> tuple[Any, dict[str, Any]]:
    """A connection to the user's server and the request to send on it; (None, {}) when there is no server to
    use (none there, this platform cannot check a server's user, stdio that cannot be passed)."""
    socket_path, config_file = server_files(os.environ)
    if not os.path.exists(socket_path):
        return None, {}
    stdio = _stdio()
    if stdio is None:
        return None, {}
    from finbuddy.server import identity, protocol, supported

    if not supported():
        return None, {}
    umask = os.umask(0o077)
    os.umask(umask)
    request = {
        "op": "run",
        "protocol": protocol.PROTOCOL,
        "identity": identity(config_file),
        "argv": argv,
        "argv0": sys.argv[0] if sys.argv else "finbuddy",
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "stdio": stdio,
    }
    return protocol.connect(socket_path, READY_TIMEOUT), request


def _interrupted() -> int:
    sys.stderr.write("finbuddy: interrupted\n")
    return 130


class _Exchange:
    """One request: the handshake (any trouble: None, run here), then the command's run on the server."""

    def __init__(self, sock: socket.socket) -> None:
        from finbuddy.server import protocol

        self.sock = sock
        self.protocol = protocol
        self.go_sent = False
        self.pending: list[int] = []

    def run(self, request: dict[str, Any]) -> int | None:
        protocol = self.protocol
        try:
            protocol.send(self.sock, request, fds=(0, 1, 2))
            reply, fds = protocol.receive(self.sock)
            protocol.close_fds(fds)
            if reply is not None and "queued" in reply:
                self.sock.settimeout(QUEUED_TIMEOUT)
                reply, fds = protocol.receive(self.sock)
                protocol.close_fds(fds)
        except KeyboardInterrupt:
            return _interrupted()
        except Exception:  # a timeout (a busy or hung server) or anything else: nothing ran, run it here
            return None
        if not reply or reply.get("ready") is not True:
            return None
        import signal

        previous = {}
        try:
            try:
                for name in protocol.FORWARDED_SIGNAL_NAMES:
                    signum = getattr(signal, name)
                    previous[signum] = signal.signal(signum, self._forward)
            except KeyboardInterrupt:
                return _interrupted()
            try:
                protocol.send(self.sock, {"go": True})
            except OSError:  # the server is gone: it never got "go", nothing ran
                return None
            self.go_sent = True
            for signum in self.pending:  # signals that came while "go" was on its way
                self._forward(signum, None)
            self.sock.settimeout(None)
            return self._wait(signal)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _forward(self, signum: int, _frame: Any) -> None:
        if not self.go_sent:
            self.pending.append(signum)
            return
        try:
            self.protocol.send(self.sock, {"signal": int(signum)})
        except OSError:
            pass

    def _wait(self, signal: Any) -> int | None:
        protocol = self.protocol
        started = False
        while True:
            try:
                message, fds = protocol.receive(self.sock)
                protocol.close_fds(fds)
            except (OSError, protocol.ProtocolError):
                message = None
            if message is None:
                if not started:
                    return None  # the server went away before it began the command: nothing ran
                sys.stderr.write(
                    "finbuddy: the warm server stopped while it ran this command; check what the command changed "
                    "before running it again\n"
                )
                return 1
            if "started" in message:
                started = True
            elif "exit" in message:
                code = message["exit"]
                try:
                    protocol.send(self.sock, {"done": True})
                except OSError:
                    pass
                return code if isinstance(code, int) else 1
            elif message.get("fallback") is not None and not started:
                return None
            elif message.get("cancelled"):
                return _interrupted()
            elif isinstance(message.get("signal"), int):
                return _die_of(signal, message["signal"])


def _die_of(signal: Any, signum: int) -> int:
    """End this process by the signal that ended the command's, as a cold run would have ended."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        signal.signal(signum, signal.SIG_DFL)  # SIGKILL and SIGSTOP have no handler to reset
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    except (OSError, ValueError):
        pass
    try:
        os.kill(os.getpid(), signum)
    except OSError:
        pass
    return 128 + signum  # a signal whose default is not to end a process
