"""The warm server's loop: accept on the user's socket, run each request in a process forked from this one.

Why a process per request, forked: the expensive part of a command is importing its modules and building its
command line parser, which this process did once (the caller's `preload`); `fork` hands a copy of all that to
each request for a millisecond or two. The request's process then becomes what a cold run would have been:
the client's own stdin, stdout and stderr (passed as file descriptors, so terminals, widths, colours, prompts
and pipes are the real ones), its environment, working directory and umask, a fresh context with its own
settings, clock, user and database connections (this process never opens a database), then the same entry
point (`runner`). Nothing a request does can reach another or this server: a crash ends one process, its exit
code is reported over the socket, and a slow one cannot hold up the others: `max_children` bounds the requests
that compete for the processors, and one that has run for SLOW_AFTER seconds (it waits: on the AI provider, a
lock) no longer counts against it.

The loop itself is single-threaded (forking a threaded process copies locks held by threads that do not exist
in the child) and never blocks on a client: the socket is non-blocking and every wait is in the selector.
"""

from __future__ import annotations

import fcntl
import io
import locale
import logging
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finbuddy.config import make_private_dir
from finbuddy.errors import DaemonError
from finbuddy.server import config_state, identity, protocol, supported

log = logging.getLogger("finbuddy.server")

# Requests started at once: they compete for the processors, so a few per core; the others wait their turn in
# the server (cheaper than their clients' starting cold, and than SQLite's busy-waiting for the write lock).
MAX_CHILDREN = max(4, 2 * (os.cpu_count() or 1))
# A request running longer than this is waiting on something (the AI provider, a lock): it stops counting against
# MAX_CHILDREN, so that a slow `ask` never holds up an `add`. MAX_PROCESSES bounds them all.
SLOW_AFTER = 1.0
MAX_PROCESSES = 64
# A request process that ended its command cleanly (see WarmServer._reusable) waits for another request instead
# of exiting: a fresh fork pays again for every page of the server's memory the command touches (copy-on-write,
# ~3,000 page faults and 10 ms for an `add`), a reused process has paid already. At most this many requests per
# process, and one idle this long is ended.
MAX_REUSE = 200
IDLE_WORKER_S = 120.0
# Requests waiting for one of those; past this many a new one is turned away at once (its client runs it itself).
MAX_QUEUED = 128
# A client that connected must say what it wants (and then "go") within this many seconds.
HANDSHAKE_TIMEOUT = 5.0
FORWARDED_SIGNALS = frozenset(getattr(signal, name) for name in protocol.FORWARDED_SIGNAL_NAMES)

# How a request's process ends (its command's own exit code travels as a message): unusual values, so that a
# command that ends the process itself (os._exit) is told apart and its code passed on.
_REPORTED = 116  # the command ran and its exit code was sent
_UNREPORTED = 117  # the command ran; the client was gone when its exit code was to be sent
_NOT_STARTED = 118  # the request could not be set up: nothing ran, the client may run the command itself
_CANCELLED = 119  # a forwarded signal came before the command began

_VERSION_LINE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


@dataclass(eq=False)  # one per connection, kept in sets: identity is equality
class _Client:
    """One connection, from its first message to the end of its request."""

    sock: socket.socket
    # header -> queued -> ready -> running -> done (the client has the exit code); gone: it hung up while it ran
    state: str = "header"
    deadline: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    fds: list[int] = field(default_factory=list)
    pid: int | None = None
    started: float | None = None  # time.monotonic() at fork
    counted: bool = False  # in ServerStats.requests
    signalled: bool = False  # a signal was forwarded to its process: that process serves no other request


@dataclass(eq=False)
class _Worker:
    """A request process that may serve several requests, one after the other, and the server's end of its control
    socket: the server hands it a request (the message and the client's socket and stdio); it answers {"end": status}
    when the request is over and it can take another, or exits (its exit status is the request's end)."""

    pid: int
    control: socket.socket
    idle_since: float | None = None


@dataclass
class ServerStats:
    requests: int = 0  # commands run (whatever their exit code)
    declined: int = 0  # requests not served: stale or foreign client, busy, stopping
    crashed: int = 0  # request processes that died of a signal


class WarmServer:
    """Serve `runner` (argv -> exit code, the CLI's in-process entry point) on the Unix socket `socket_path`."""

    def __init__(
        self,
        socket_path: Path,
        config_file: Path,
        runner: Callable[[list[str]], int],
        *,
        started_at: str,
        import_time_env: Iterable[str] = (),
        in_child: Callable[[], None] | None = None,
        lifeline_fd: int | None = None,
        max_children: int = MAX_CHILDREN,
        reusable: Callable[[list[str]], bool] | None = None,
        idle_timeout: float = IDLE_WORKER_S,
    ) -> None:
        self.socket_path = Path(os.path.abspath(socket_path))
        self.config_file = os.path.abspath(config_file)
        self.runner = runner
        self.started_at = started_at
        # Environment variables that libraries read once, when imported (here: before the first request): a
        # client whose values differ would see other output, so it runs its command itself.
        self.import_time_env = {name: os.environ.get(name) for name in import_time_env}
        self.in_child = in_child
        self.lifeline_fd = lifeline_fd
        self.max_children = max_children
        # Which commands (by argv) leave a request process fit for another request (None: none do).
        self.reusable = reusable
        self.idle_timeout = idle_timeout
        self.identity = identity(self.config_file)
        self.stats = ServerStats()
        self.restart_reason: str | None = None
        self._stopping = False
        self._stop_signals = 0
        self._clients: set[_Client] = set()
        self._queue: deque[_Client] = deque()
        self._by_pid: dict[int, _Client] = {}
        self._workers: dict[int, _Worker] = {}  # every request process alive, by pid
        self._idle: list[_Worker] = []  # those waiting for a request
        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._socket_inode: int | None = None
        self._lock_fd: int | None = None
        self._wakeup: tuple[int, int] | None = None
        self._previous_handlers: dict[int, Any] = {}

    # --- life cycle ------------------------------------------------------------------

    def serve(self) -> str:
        """Serve until SIGTERM/SIGINT, the lifeline closing, or finding itself outdated; "stopped" or "restart"."""
        try:
            self._open()
            log.info("warm server (pid %d) serving on %s", os.getpid(), self.socket_path)
            self._loop()
        finally:
            self._close()
        if self.restart_reason:
            log.info("warm server (pid %d) restarts: %s", os.getpid(), self.restart_reason)
            return "restart"
        log.info("warm server (pid %d) stopped after %d requests", os.getpid(), self.stats.requests)
        return "stopped"

    def _open(self) -> None:
        if not supported():
            raise DaemonError("the warm server needs Linux (Unix sockets that tell the peer's user); not serving")
        directory = self.socket_path.parent
        try:
            make_private_dir(directory)
            info = os.stat(directory)
        except OSError as exc:
            raise DaemonError(f"cannot create the runtime directory {directory}: {exc.strerror or exc}") from None
        if info.st_uid != os.getuid():
            raise DaemonError(f"the runtime directory {directory} belongs to another user; not serving there")
        if info.st_mode & 0o077:
            os.chmod(directory, 0o700)
        self._lock_fd = os.open(directory / protocol.LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise DaemonError(f"a warm server already serves on {self.socket_path}") from None
        # Holding the lock, any socket file left here is a dead server's.
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        listener = protocol.new_socket()
        previous_umask = os.umask(0o177)
        try:
            with protocol.Address(str(self.socket_path)) as address:
                listener.bind(address.usable)
        finally:
            os.umask(previous_umask)
        os.chmod(self.socket_path, 0o600)
        self._socket_inode = os.stat(self.socket_path).st_ino
        listener.listen(128)
        listener.setblocking(False)
        self._listener = listener
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, self._accept)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wakeup = (wake_r, wake_w)
        self._selector.register(wake_r, selectors.EVENT_READ, self._drain_wakeup)
        if self.lifeline_fd is not None:
            self._selector.register(self.lifeline_fd, selectors.EVENT_READ, self._lifeline_closed)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig, handler in (
            (signal.SIGCHLD, self._on_sigchld),
            (signal.SIGTERM, self._on_stop_signal),
            (signal.SIGINT, self._on_stop_signal),
            (signal.SIGHUP, self._on_stop_signal),
        ):
            self._previous_handlers[sig] = signal.signal(sig, handler)

    def _close(self) -> None:
        """Every request has ended here (or this is an error path): let go of the socket, the lock, the signals."""
        signal.set_wakeup_fd(-1)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()
        self._stop_listening()
        for client in list(self._clients):
            self._drop(client)
        for worker in list(self._workers.values()):
            self._retire(worker)
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._wakeup is not None:
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _stop_listening(self) -> None:
        """No new connections: the socket file goes at once, so that clients run their commands themselves."""
        if self._listener is None:
            return
        if self._selector is not None:
            self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None
        try:
            if os.stat(self.socket_path).st_ino == self._socket_inode:
                os.unlink(self.socket_path)
        except OSError:
            pass

    def _begin_stop(self, reason: str) -> None:
        if not self._stopping:
            log.info("warm server: %s; finishing %d running requests", reason, len(self._by_pid))
        self._stopping = True
        self._stop_listening()
        for worker in list(self._idle):
            self._retire(worker)
        for client in list(self._queue) + [c for c in self._clients if c.state in ("header", "ready")]:
            self._decline(client, {"fallback": "the server is stopping"})

    # --- the loop --------------------------------------------------------------------

    def _loop(self) -> None:
        assert self._selector is not None
        while True:
            self._reap()
            if self._stop_signals:
                self._begin_stop("stop signal")
                if self._stop_signals > 1:  # asked twice: interrupt the requests in flight, as Ctrl-C would
                    for client in list(self._by_pid.values()):
                        self._signal(client, signal.SIGINT)
                    self._stop_signals = 1
            if self._stopping and not self._by_pid:
                return
            self._expire()
            self._retire_idle()
            self._grant_slots()
            for key, _events in self._selector.select(self._timeout()):
                key.data(key)

    def _timeout(self) -> float | None:
        deadlines = [c.deadline for c in self._clients if c.deadline is not None]
        deadlines += [w.idle_since + self.idle_timeout for w in self._idle if w.idle_since is not None]
        if self._queue:  # a request turning slow frees a slot for the queue
            now = time.monotonic()
            turning = (c.started + SLOW_AFTER for c in self._by_pid.values() if c.started is not None)
            deadlines += [moment for moment in turning if moment > now]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        for client in [c for c in self._clients if c.deadline is not None and c.deadline <= now]:
            self._decline(client, {"fallback": "no request in time"})

    def _grant_slots(self) -> None:
        """Tell queued clients, oldest first, that a slot is theirs; the slot is held until their "go"."""
        while self._queue and not self._stopping and self._slot_free():
            client = self._queue.popleft()
            if not self._send(client, {"ready": True}):
                self._drop(client)
                continue
            client.state = "ready"
            client.deadline = time.monotonic() + HANDSHAKE_TIMEOUT

    def _slot_free(self) -> bool:
        ready = sum(1 for c in self._clients if c.state == "ready")
        if len(self._by_pid) + ready >= MAX_PROCESSES:
            return False
        slow = time.monotonic() - SLOW_AFTER
        young = sum(1 for c in self._by_pid.values() if c.started is not None and c.started > slow)
        return young + ready < self.max_children

    # --- signals -----------------------------------------------------------------------

    def _on_sigchld(self, _signum: int, _frame: Any) -> None:
        pass  # the wakeup fd wakes the loop, which reaps

    def _on_stop_signal(self, _signum: int, _frame: Any) -> None:
        self._stop_signals += 1

    def _drain_wakeup(self, _key: selectors.SelectorKey) -> None:
        assert self._wakeup is not None
        try:
            while os.read(self._wakeup[0], 512):
                pass
        except BlockingIOError:
            pass

    def _lifeline_closed(self, key: selectors.SelectorKey) -> None:
        assert self._selector is not None
        self._selector.unregister(key.fileobj)
        self._begin_stop("the daemon that started it is gone")

    # --- connections -------------------------------------------------------------------

    def _accept(self, _key: selectors.SelectorKey) -> None:
        assert self._listener is not None and self._selector is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: the client finds no server and runs cold
                log.warning("warm server: cannot accept a connection: %s", exc)
                return
            try:
                uid = protocol.peer_credentials(sock)[1]
            except OSError:
                uid = -1
            if uid != os.getuid():
                log.warning("warm server: refused a connection from user id %d", uid)
                sock.close()
                continue
            sock.setblocking(False)
            client = _Client(sock, deadline=time.monotonic() + HANDSHAKE_TIMEOUT)
            self._clients.add(client)
            self._selector.register(sock, selectors.EVENT_READ, lambda _key, client=client: self._readable(client))

    def _readable(self, client: _Client) -> None:
        """Every message waiting on the client's socket, in order."""
        while client in self._clients and client.state not in ("done", "gone"):
            try:
                size = protocol.MAX_REQUEST if client.state == "header" else protocol.MAX_MESSAGE
                message, fds = protocol.receive(client.sock, size)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, protocol.ProtocolError):
                message, fds = None, []
            self._message(client, message, fds)
            if message is None:
                return

    def _message(self, client: _Client, message: dict[str, Any] | None, fds: list[int]) -> None:
        if client.state == "header":
            client.fds = fds
            self._first_message(client, message)
            return
        protocol.close_fds(fds)  # only the first message carries descriptors
        if client.state == "queued":
            if message is None:
                self._drop(client)
            # anything else before its turn (a forwarded Ctrl-C): the client wants out
            elif "signal" in message:
                self._decline(client, {"cancelled": True}, count=False)
        elif client.state == "ready":
            if message is not None and message.get("go") is True:
                self._start(client)
            elif message is not None and "signal" in message:
                self._decline(client, {"cancelled": True}, count=False)
            else:
                self._drop(client)
        elif client.state == "running":
            assert client.pid is not None
            if message is not None and message.get("done") is True:
                # The client has the exit code and leaves; the process is ending.
                self._forget_socket(client)
                client.state = "done"
                self._count(client)
            elif message is None:
                # The client is gone (killed, its terminal closed): stop its command as its Ctrl-C would. What the
                # command committed stays; what it had not finished is rolled back.
                log.info("warm server: the client of request %d went away; interrupting it", client.pid)
                self._forget_socket(client)
                client.state = "gone"
                self._signal(client, signal.SIGINT)
            elif message.get("signal") in FORWARDED_SIGNALS:
                self._signal(client, int(message["signal"]))

    def _first_message(self, client: _Client, message: dict[str, Any] | None) -> None:
        if message is None:
            self._drop(client)
            return
        if message.get("op") == "status":
            self._send(client, self.status())
            self._drop(client)
            return
        if message.get("op") != "run" or message.get("protocol") != protocol.PROTOCOL:
            self._decline(client, {"stale": "another protocol"})
            return
        problem = self._check(message)
        if problem is None and not _valid_request(message, client.fds):
            problem = "a malformed request"
        if problem is not None:
            log.info("warm server: not serving a request from pid %s: %s", _peer_pid(client.sock), problem)
            self._decline(client, {"stale": problem})
            if self.restart_reason:
                self._begin_stop(f"outdated ({self.restart_reason})")
            return
        if self._stopping or len(self._queue) >= MAX_QUEUED:
            self._decline(client, {"fallback": "the server is stopping" if self._stopping else "too many waiting"})
            return
        client.request = message
        client.state = "queued"
        client.deadline = None  # the client decides how long it waits for its turn
        self._queue.append(client)
        self._grant_slots()
        if client.state == "queued":  # alive, but its turn comes later: the client waits rather than run it cold
            self._send(client, {"queued": len(self._queue)})

    def _check(self, request: dict[str, Any]) -> str | None:
        """Why this server must not answer the request (None: it may). Sets restart_reason when the server itself
        is outdated: its configuration file changed, or the finbuddy in its place on disk is another version."""
        mine = self.identity
        if config_state(self.config_file) != mine["config"]:
            self.restart_reason = "its configuration file changed"
            return self.restart_reason
        theirs = request.get("identity")
        if not isinstance(theirs, dict):
            return "a request without identity"
        for key in ("package", "version", "python", "utf8_mode", "fs_encoding"):
            if theirs.get(key) != mine[key]:
                if key == "version" and _installed_version(mine["package"]) not in (None, mine["version"]):
                    self.restart_reason = "another finbuddy version is installed"
                return f"another {key.replace('_', ' ')}"
        if theirs.get("config") != mine["config"]:
            return "another configuration file"
        env = request.get("env")
        if isinstance(env, dict):
            for name, value in self.import_time_env.items():
                if env.get(name) != value:
                    return f"another {name}"
        return None

    def _send(self, client: _Client, message: dict[str, Any]) -> bool:
        try:
            protocol.send(client.sock, message)
            return True
        except OSError:
            return False

    def _decline(self, client: _Client, message: dict[str, Any], count: bool = True) -> None:
        if count:
            self.stats.declined += 1
        self._send(client, message)
        self._drop(client)

    def _forget_socket(self, client: _Client) -> None:
        self._close_socket(client.sock)

    def _close_socket(self, sock: socket.socket) -> None:
        """Stop watching `sock` (if it is watched) and close it."""
        if self._selector is not None and sock.fileno() >= 0:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        sock.close()

    def _drop(self, client: _Client) -> None:
        self._forget_socket(client)
        protocol.close_fds(client.fds)
        client.fds = []
        self._clients.discard(client)
        if client in self._queue:
            self._queue.remove(client)

    def _signal(self, client: _Client, signum: int) -> None:
        """Forward a signal to the client's request process. That process then serves no other request: the signal
        may reach it after this request's end."""
        assert client.pid is not None
        client.signalled = True
        # The pid is not reaped yet (reaping happens only in this loop), so it cannot name another process.
        try:
            os.kill(client.pid, signum)
        except ProcessLookupError:
            pass

    def _count(self, client: _Client) -> None:
        if not client.counted:
            client.counted = True
            self.stats.requests += 1

    def status(self) -> dict[str, Any]:
        """What `daemon status` shows. Read after what is already known: a request whose client has left (its
        "done" waiting on the socket) is answered, whatever order the selector reported the two sockets in."""
        self._reap()
        for client in [c for c in self._by_pid.values() if c.state == "running"]:
            self._readable(client)
        running = sorted(pid for pid, c in self._by_pid.items() if c.state in ("running", "gone"))
        return {
            "serving": not self._stopping,
            "pid": os.getpid(),
            "version": self.identity["version"],
            "socket": str(self.socket_path),
            "started_at": self.started_at,
            "requests": self.stats.requests,
            "declined": self.stats.declined,
            "crashed": self.stats.crashed,
            "running": len(running),
            "children": running,
            "idle": len(self._idle),
            "queued": len(self._queue),
            "max_children": self.max_children,
        }

    # --- request processes -------------------------------------------------------------------

    def _start(self, client: _Client) -> None:
        pid = self._hand_to_idle(client)
        if pid is None:
            pid = self._fork(client)
        if pid is None:
            return
        protocol.close_fds(client.fds)  # the request process has them now
        client.fds = []
        client.pid = pid
        client.started = time.monotonic()
        client.state = "running"
        client.deadline = None
        self._by_pid[pid] = client

    def _hand_to_idle(self, client: _Client) -> int | None:
        """Give the request to an idle request process; its pid, or None if none took it."""
        while self._idle:
            worker = self._idle.pop()
            try:
                protocol.send(worker.control, client.request, [client.sock.fileno(), *client.fds])
            except OSError:  # it ended meanwhile: it is reaped like any other
                self._retire(worker)
                continue
            worker.idle_since = None
            return worker.pid
        return None

    def _fork(self, client: _Client) -> int | None:
        """A new request process for the client's request; its pid, or None (the client was told to run it itself)."""
        assert self._selector is not None
        try:
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as exc:
            log.warning("warm server: cannot make a control socket: %s", exc)
            self._decline(client, {"fallback": "cannot fork"})
            return None
        # Blocked across fork: a signal the client forwards early waits for the child's own handlers.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS | {signal.SIGCHLD})
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            mine.close()
            theirs.close()
            log.warning("warm server: cannot fork a request process: %s", exc)
            self._decline(client, {"fallback": "cannot fork"})
            return None
        if pid == 0:
            mine.close()
            self._child(client, blocked, theirs)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        theirs.close()
        mine.setblocking(False)
        worker = _Worker(pid, mine)
        self._workers[pid] = worker
        self._selector.register(mine, selectors.EVENT_READ, lambda _key, w=worker: self._worker_readable(w))
        return pid

    def _worker_readable(self, worker: _Worker) -> None:
        """The request process says its request is over and it can take another ({"end": status}), or hung up."""
        try:
            message, fds = protocol.receive(worker.control)
        except (BlockingIOError, InterruptedError):
            return
        except (OSError, protocol.ProtocolError):
            message, fds = None, []
        protocol.close_fds(fds)
        if message is None or not isinstance(message.get("end"), int):
            self._retire(worker)  # it is exiting: its exit status ends its request (_reap)
            return
        client = self._by_pid.pop(worker.pid, None)
        if client is not None:
            self._ended(client, int(message["end"]))
        if (client is not None and client.signalled) or self._stopping or len(self._idle) >= self.max_children:
            self._retire(worker)
        else:
            worker.idle_since = time.monotonic()
            self._idle.append(worker)

    def _retire(self, worker: _Worker) -> None:
        """Close the request process's control socket: idle, it exits; busy, it exits once its request is over."""
        if worker in self._idle:
            self._idle.remove(worker)
        self._close_socket(worker.control)

    def _retire_idle(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self._idle if w.idle_since is not None and w.idle_since + self.idle_timeout <= now]:
            self._retire(worker)

    def _reap(self) -> None:
        while self._by_pid or self._workers:  # (a retired idle process has no request, but must be reaped)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self._workers.pop(pid, None)
            if worker is not None:
                self._retire(worker)
            client = self._by_pid.pop(pid, None)
            if client is not None:
                self._ended(client, os.waitstatus_to_exitcode(status))

    def _ended(self, client: _Client, code: int) -> None:
        """The client's request is over: `code` is how its process ended it (an exit status, or what it said)."""
        if code == _NOT_STARTED:
            self._decline(client, {"fallback": "the request could not be set up"})
            return
        self._count(client)
        if code == _CANCELLED:
            self._send(client, {"cancelled": True})
        elif code < 0:
            self.stats.crashed += 1
            log.warning("warm server: request %d died of signal %d", client.pid, -code)
            self._send(client, {"signal": -code})
        elif code not in (_REPORTED, _UNREPORTED):  # the command ended its process itself
            self._send(client, {"exit": code})
        self._drop(client)

    def _child(self, client: _Client | None, blocked: set[Any], control: socket.socket) -> None:
        """A request process: for each request, become what a cold run of the client's command would be, run it,
        report; then, if the command left this process as it found it (_reusable), tell the server and take the
        next request it hands over on `control`. It exits when the server closes `control`, or with the status of
        a request after which it must not serve another."""
        status = _NOT_STARTED
        try:
            try:
                os.setsid()  # no controlling terminal: reading the client's terminal is never a job-control stop
                assert client is not None
                self._forget_in_child(client, control)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                control.setblocking(True)
                baseline = _open_fds() - {client.sock.fileno(), *client.fds}
                decimal_context = _decimal_state()
                warnings_seen = _WarningsSeen()
            except BaseException:
                os._exit(_NOT_STARTED)
            served = 0
            while client is not None:
                status = _NOT_STARTED
                try:
                    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                        signal.signal(sig, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    if self.in_child is not None:
                        self.in_child()
                    argv = _become(client.request, client.fds)
                    client.fds = []
                    protocol.send(client.sock, {"started": os.getpid()})
                except BaseException:
                    os._exit(_NOT_STARTED)
                status = _CANCELLED
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a signal that came meanwhile is raised here
                warnings_seen.watch()
                status = self._run(client, argv)
                served += 1
                client.sock.close()
                fit = not warnings_seen.any() and self._reusable(argv, served, baseline, decimal_context)
                if not (status == _REPORTED and fit):
                    break
                protocol.send(control, {"end": status})
                status = _NOT_STARTED  # a request handed over but not begun: its client runs it itself
                client = _next_request(control)
                if client is None:  # the server let this process go
                    status = _REPORTED
        except KeyboardInterrupt:
            pass
        except BaseException:  # between requests: this process is not fit for another
            pass
        finally:
            os._exit(status)

    def _reusable(self, argv: list[str], served: int, baseline: set[int], decimal_context: Any) -> bool:
        """Whether this process, its request over, is as fit for another as a fresh fork: a command that leaves
        nothing behind (the caller's list), no thread left running, no descriptor opened and left open, the
        decimal context as it was, and fewer than MAX_REUSE requests served (the caller also checks that it
        showed no warning)."""
        return (
            self.reusable is not None
            and served < MAX_REUSE
            and self.reusable(argv)
            and threading.active_count() == 1
            and _open_fds() <= baseline  # (the server's log file, inherited, is closed by the first request's end)
            and _decimal_state() == decimal_context
        )

    def _forget_in_child(self, keep: _Client, control: socket.socket) -> None:
        """Close what belongs to the server and to other requests: a pipe another request writes to must see its
        end when that request ends, not when this one does; another request process must see its control socket's
        end when the server closes it, not when this process does."""
        for worker in self._workers.values():
            if worker.control.fileno() >= 0:
                worker.control.close()
        self._workers.clear()
        self._idle.clear()
        signal.set_wakeup_fd(-1)
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for client in self._clients:
            if client is not keep:
                client.sock.close()
                protocol.close_fds(client.fds)
        if self._wakeup is not None:
            protocol.close_fds(list(self._wakeup))
            self._wakeup = None
        if self.lifeline_fd is not None:
            protocol.close_fds([self.lifeline_fd])
            self.lifeline_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # the lock stays: the server's own descriptor holds it
            self._lock_fd = None

    def _run(self, client: _Client, argv: list[str]) -> int:
        code: int | None = None
        try:
            try:
                code = self.runner(argv)
            finally:
                # From here the command is over: a late forwarded signal must not interrupt its ending.
                signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        except SystemExit as exc:
            code = _system_exit_code(exc)
        except KeyboardInterrupt:
            if code is None:
                raise
        except BaseException:
            traceback.print_exc()  # as the interpreter does for an exception nothing caught
            code = 1
        _end_like_an_interpreter()
        try:
            protocol.send(client.sock, {"exit": code})
            return _REPORTED
        except OSError:
            return _UNREPORTED


def _next_request(control: socket.socket) -> _Client | None:
    """The next request the server hands this request process (None: the server closed the control socket)."""
    message, fds = protocol.receive(control, protocol.MAX_REQUEST, max_fds=1 + protocol.MAX_FDS)
    if message is None:
        return None
    if len(fds) != 1 + protocol.MAX_FDS:
        protocol.close_fds(fds)
        raise protocol.ProtocolError("a request without its client's socket and stdio")
    # The last request closed 0, 1 and 2, so these arrived there: move them up, out of _become's way.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]
    protocol.close_fds(fds)
    return _Client(socket.socket(fileno=high[0]), state="running", request=message, fds=high[1:])


class _WarningsSeen:
    """Whether the current request showed a warning: Python shows one only once per place and process (its
    registry), so a process that showed one would not show it again as a fresh one would; it serves no more.
    warnings.showwarning is documented as replaceable."""

    def __init__(self) -> None:
        import warnings

        self._warnings = warnings
        self._show = warnings.showwarning
        self._seen = False

    def watch(self) -> None:
        self._seen = False

        def show(*args: Any, **kwargs: Any) -> None:
            self._seen = True
            self._show(*args, **kwargs)

        self._warnings.showwarning = show

    def any(self) -> bool:
        return self._seen


def _open_fds() -> set[int]:
    """This process's open file descriptors above stdio (the listing's own, closed by then, is not among them)."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                fcntl.fcntl(fd, fcntl.F_GETFD)
            except OSError:
                continue
            found.add(fd)
    return found


def _decimal_state() -> Any:
    import decimal

    context = decimal.getcontext()
    return (
        context.prec,
        context.rounding,
        context.Emin,
        context.Emax,
        context.capitals,
        context.clamp,
        sorted(str(t) for t, on in context.traps.items() if on),
    )


def _peer_pid(sock: socket.socket) -> int | None:
    try:
        return protocol.peer_credentials(sock)[0]
    except OSError:
        return None


def _valid_request(message: dict[str, Any], fds: list[int]) -> bool:
    argv, env, stdio = message.get("argv"), message.get("env"), message.get("stdio")
    return (
        len(fds) == 3
        and isinstance(argv, list)
        and all(isinstance(a, str) for a in argv)
        and isinstance(env, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
        and isinstance(message.get("cwd"), str)
        and isinstance(message.get("umask"), int)
        and isinstance(message.get("argv0"), str)
        and isinstance(stdio, list)
        and len(stdio) == 3
        and all(isinstance(s, list) and len(s) == 4 for s in stdio)
    )


def _installed_version(package: str) -> str | None:
    """The version a new process would load from `package` (its __init__.py on disk now)."""
    try:
        text = Path(package, "__init__.py").read_text(encoding="utf-8")
    except OSError:
        return None
    match = _VERSION_LINE.search(text)
    return match.group(1) if match else None


def _become(request: dict[str, Any], fds: list[int]) -> list[str]:
    """Take on the client's environment, working directory, umask and stdio; the command's argv."""
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    try:
        locale.setlocale(locale.LC_CTYPE, "")  # what the interpreter does at start-up, with the client's variables
    except locale.Error:
        pass
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    # Above 2 first, so that no descriptor is overwritten before it is copied.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in fds]
    protocol.close_fds(fds)
    for target, fd in enumerate(high):
        os.dup2(fd, target)
        os.close(fd)
    streams = []
    for fd, (encoding, errors, line_buffering, write_through) in enumerate(request["stdio"]):
        streams.append(_std_stream(fd, encoding, errors, bool(line_buffering), bool(write_through)))
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc]
    sys.argv = [request["argv0"], *request["argv"]]
    return list(request["argv"])


def _std_stream(fd: int, encoding: str, errors: str, line_buffering: bool, write_through: bool) -> io.TextIOWrapper:
    """sys.stdin/stdout/stderr as the interpreter makes them at start-up (Python/pylifecycle.c create_stdio)."""
    reading = fd == 0
    unbuffered = write_through and not reading
    buffer: Any = open(fd, "rb" if reading else "wb", buffering=0 if unbuffered else -1, closefd=False)
    raw = buffer if unbuffered else buffer.raw
    raw.name = ("<stdin>", "<stdout>", "<stderr>")[fd]
    stream = io.TextIOWrapper(
        buffer,
        encoding=encoding,
        errors=errors,
        newline="\n",
        line_buffering=line_buffering,
        write_through=write_through,
    )
    stream.mode = "r" if reading else "w"  # type: ignore[misc]
    return stream


def _system_exit_code(exc: SystemExit) -> int:
    """The exit status the interpreter gives an uncaught SystemExit (printing a message that is not a number)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    try:
        sys.stderr.write(f"{exc.code}\n")
    except Exception:
        pass
    return 1


def _end_like_an_interpreter() -> None:
    """What the interpreter does when a program ends, through public APIs only: wait for its non-daemon threads,
    flush and close the logging handlers, flush stdout and stderr. Then close the client's stdio, so that a
    reader of its pipes sees their end as soon as the command ends. (The child leaves by os._exit, so the atexit
    functions it inherited from the server never run in it; finbuddy's commands register none of their own.)"""
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            try:
                thread.join()
            except Exception:
                pass
    try:
        logging.shutdown()
    except Exception:
        pass
    for stream in (sys.stdout, sys.stderr):
        _flush(stream)
    for fd in (0, 1, 2):
        try:
            os.close(fd)
        except OSError:
            pass


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except Exception:
        pass
