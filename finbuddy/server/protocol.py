"""The warm server's wire: a Unix SEQPACKET socket, one JSON document per message, the client's stdio as fds.

A conversation (client C, server S, the request's process R that S forks):

    C -> S  {"op": "run", "identity", "argv", "env", "cwd", "umask", "stdio"}  + fds 0, 1, 2
    S -> C  {"queued": n}                   (when no slot is free) the server is alive: C waits its turn
    S -> C  {"ready": true}                 a slot is free for it (or {"stale": why}: C runs the command itself)
    C -> S  {"go": true}                    from here C never runs the command itself
    R -> C  {"started": pid}
    C -> S  {"signal": n}                   (any number of times) a signal C received, for R
    R -> C  {"exit": code}                  R's output is all written, its stdio closed
    C -> S  {"done": true}                  C leaves (without it, S takes C's hanging up for C's end: Ctrl-C for R)
    S -> C  {"fallback": why}               instead: R could not start (C runs the command itself)
            {"cancelled": true}             instead: R was interrupted before the command began
            {"signal": n}                   instead: R died of signal n

and `{"op": "status"}` for `daemon status`. SEQPACKET keeps message boundaries (no framing) and passes
SO_PEERCRED like a stream socket. Imported by the client before anything heavy: standard library only.
"""

from __future__ import annotations

# The socket module's C core, not `socket`: that builds its enum classes at import, 2 ms of a client's start-up.
import _socket
import json
import os
import struct

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs a client 1.5 ms of start-up
if TYPE_CHECKING:
    import socket
    from typing import Any

LOCK_NAME = "server.lock"
PROTOCOL = 1
# A request is its argv and environment: a few kB. The socket buffer bounds one message anyway.
MAX_REQUEST = 1 << 20
MAX_MESSAGE = 1 << 16  # every other message
MAX_FDS = 3
# What a client forwards to its command's process (Ctrl-C, its terminal closing, kill, Ctrl-\), by name: the
# client imports `signal` only once a server has answered.
FORWARDED_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
# sun_path holds 108 bytes; a longer path is reached through the directory's /proc/self/fd entry.
_SUN_PATH_MAX = 100


class ProtocolError(Exception):
    """The other end broke the protocol, went away, or did not answer in time."""


def new_socket() -> socket.socket:
    """A socket for the server to listen on (the socket module's class, with accept())."""
    import socket

    return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class Address:
    """A socket path usable with bind/connect whatever its length (close() releases a directory fd)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._dir_fd: int | None = None
        if len(os.fsencode(path)) <= _SUN_PATH_MAX:
            self.usable = path
        else:
            directory, name = os.path.split(path)
            self._dir_fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self.usable = f"/proc/self/fd/{self._dir_fd}/{name}"

    def close(self) -> None:
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None

    def __enter__(self) -> Address:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(path: str, timeout: float) -> _socket.socket:
    """A connection to the server on `path`, whose process runs as this user (else ProtocolError)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        sock.settimeout(timeout)
        with Address(path) as address:
            sock.connect(address.usable)
        if peer_credentials(sock)[1] != os.getuid():
            raise ProtocolError("the server on the socket runs as another user")
    except BaseException:
        sock.close()
        raise
    return sock


def peer_credentials(sock: _socket.socket) -> tuple[int, int, int]:
    """The process at the other end, as the kernel saw it connect: (pid, uid, gid) (SO_PEERCRED)."""
    credentials = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", credentials)
    return pid, uid, gid


def send(sock: _socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    # ensure_ascii: lone surrogates (argv and environment bytes that are not UTF-8) travel as \udcxx escapes
    data = json.dumps(message, separators=(",", ":")).encode("ascii")
    if fds:  # as socket.send_fds does (struct, not array: one extension module less to load)
        sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
    else:
        sock.send(data)


def receive(
    sock: _socket.socket, size: int = MAX_MESSAGE, max_fds: int = MAX_FDS
) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the fds that came with it; (None, []) when the other end has closed."""
    width = struct.calcsize("i")
    data, ancdata, flags, _ = sock.recvmsg(size, _socket.CMSG_LEN(max_fds * width))
    received: list[int] = []
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(payload) // width
            received += struct.unpack(f"{count}i", payload[: count * width])
    if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
        close_fds(received)
        raise ProtocolError("message too long")
    if not data:
        close_fds(received)
        return None, []
    try:
        message = json.loads(data)
    except ValueError:
        close_fds(received)
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        close_fds(received)
        raise ProtocolError("message is not a JSON object")
    return message, received


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def query_status(path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """What the server on `path` says of itself, or None if none answers there."""
    try:
        sock = connect(path, timeout)
    except (OSError, ProtocolError):
        return None
    try:
        send(sock, {"op": "status", "protocol": PROTOCOL})
        reply, fds = receive(sock)
        close_fds(fds)
        return reply
    except (OSError, ProtocolError):
        return None
    finally:
        sock.close()
