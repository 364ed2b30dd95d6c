"""The warm server: a long-lived process, its modules imported, that runs commands sent over a Unix socket.

`protocol` is the wire (also what the client imports); `serve` the server's loop. What is cheap to import
lives here: the client reads it before it knows whether a server answers.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs a client 1.5 ms of start-up
if TYPE_CHECKING:
    from typing import Any

SOCKET_NAME = "server.sock"
# The exit code of a supervised server that found itself outdated (another finbuddy version installed, the
# configuration file changed): its supervisor (`daemon run`) starts a new one at once.
RESTART_EXIT = 75


def supported() -> bool:
    """Whether this platform has what the warm server needs: Unix SEQPACKET sockets that pass file descriptors
    and tell the peer's user (SO_PEERCRED: Linux)."""
    import _socket

    return all(hasattr(_socket, name) for name in ("AF_UNIX", "SOCK_SEQPACKET", "SCM_RIGHTS", "SO_PEERCRED")) and (
        hasattr(os, "O_PATH") and hasattr(os, "fork")
    )


def config_state(config_file: str) -> list[Any]:
    """The configuration file as a server's identity includes it: its path and modification time (None: no file)."""
    try:
        mtime: int | None = os.stat(config_file).st_mtime_ns
    except OSError:
        mtime = None
    return [config_file, mtime]


def identity(config_file: str) -> dict[str, Any]:
    """What must be the same in a client and a server for the server to answer the client's command as the client
    would itself: the finbuddy code (version and place), the interpreter, and the configuration file."""
    import finbuddy

    return {
        "version": finbuddy.__version__,
        "package": os.path.dirname(os.path.abspath(finbuddy.__file__)),
        "python": sys.version,
        "utf8_mode": sys.flags.utf8_mode,
        "fs_encoding": [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()],
        "config": config_state(os.path.abspath(config_file)),
    }
