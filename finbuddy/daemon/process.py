"""The daemon as a process: pidfile under an fcntl lock, detached start, stop by SIGTERM, status, rotating log, and
the warm server it runs beside its jobs (a child process it restarts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finbuddy.config import Settings
    from finbuddy.context import Context
    from finbuddy.daemon.insights import BatchProgress

import datetime as dt
import fcntl
import logging
import logging.handlers
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finbuddy.config import make_private_dir
from finbuddy.errors import DaemonError

log = logging.getLogger("finbuddy.daemon")

PIDFILE_NAME = "daemon.pid"
LOG_NAME = "daemon.log"
SERVER_LOG_NAME = "server.log"  # the warm server's log (a process of its own: two writers would race at rotation)
CONSOLE_NAME = "daemon-console.log"  # what a detached daemon printed before its log was set up
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 5


def pidfile_path(settings: Settings) -> Path:
    return settings.paths.runtime_dir / PIDFILE_NAME


def log_path(settings: Settings, name: str = LOG_NAME) -> Path:
    return settings.paths.log_dir / name


@dataclass(frozen=True)
class DaemonInfo:
    running: bool
    pid: int | None
    started_at: dt.datetime | None
    pidfile: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "pid": self.pid if self.running else None,
            "started_at": self.started_at.isoformat() if self.running and self.started_at else None,
            "pidfile": str(self.pidfile),
        }


def _parse_pidfile(text: str) -> tuple[int | None, dt.datetime | None]:
    lines = text.split("\n")
    pid = started = None
    try:
        pid = int(lines[0].strip())
    except (ValueError, IndexError):
        pass
    try:
        started = dt.datetime.fromisoformat(lines[1].strip())
    except (ValueError, IndexError):
        pass
    return pid, started


def _try_lock(fd: int, kind: int, attempts: int = 1) -> bool:
    """Take a non-blocking flock, trying a few times: a `status` probe holds the lock for microseconds."""
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.01)
    return False


class PidFile:
    """Held by the running daemon: an exclusive flock on the file, which says pid and start time.

    The lock, not the file's existence, says "running": a daemon killed with -9 leaves a file whose lock the
    kernel has released, which `stop` and the next start treat as stale.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, started_at: dt.datetime) -> None:
        make_private_dir(self.path.parent)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _try_lock(fd, fcntl.LOCK_EX, attempts=20):
                pid, _ = _parse_pidfile(os.pread(fd, 200, 0).decode("utf-8", "replace"))
                os.close(fd)
                where = f" (pid {pid})" if pid else ""
                raise DaemonError(f"the finbuddy daemon is already running{where}; pidfile {self.path}")
            # The file may have been removed (a stopping daemon, a stale-file cleanup) between open and lock:
            # then we hold a lock on a file nobody else can see; try again on the current one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{started_at.isoformat()}\n".encode(), 0)
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def daemon_info(settings: Settings) -> DaemonInfo:
    """Whether a daemon holds the pidfile lock, and what the file says."""
    path = pidfile_path(settings)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return DaemonInfo(False, None, None, path)
    try:
        if _try_lock(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            pid, started = _parse_pidfile(os.pread(fd, 200, 0).decode("utf-8", "replace"))
            return DaemonInfo(False, pid, started, path)
        # Locked: running. The daemon writes its pid right after locking; give it a moment.
        for _ in range(50):
            pid, started = _parse_pidfile(os.pread(fd, 200, 0).decode("utf-8", "replace"))
            if pid is not None:
                return DaemonInfo(True, pid, started, path)
            time.sleep(0.01)
        return DaemonInfo(True, None, None, path)
    finally:
        os.close(fd)


def remove_stale_pidfile(settings: Settings) -> bool:
    """Remove the pidfile if no daemon holds it; True if one was removed."""
    path = pidfile_path(settings)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if not _try_lock(fd, fcntl.LOCK_EX):
            return False
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                os.unlink(path)
                return True
        except FileNotFoundError:
            pass
        return False
    finally:
        os.close(fd)


# --- start / stop -------------------------------------------------------------------


def start_detached(settings: Settings, command: list[str], wait_seconds: float = 15.0) -> DaemonInfo:
    """Start `command` (the caller's way of running `finbuddy daemon run`) in its own session, detached from the
    terminal; return once it holds the pidfile. What prints before its log is set up goes to CONSOLE_NAME."""
    info = daemon_info(settings)
    if info.running:
        where = f" (pid {info.pid})" if info.pid else ""
        raise DaemonError(f"the finbuddy daemon is already running{where}; pidfile {info.pidfile}")
    log_dir = settings.paths.log_dir
    make_private_dir(log_dir)
    console_path = log_dir / CONSOLE_NAME
    with open(console_path, "wb") as console:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=console,
            start_new_session=True,
            close_fds=True,
            cwd="/",
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            detail = _last_line(console_path) or f"exit code {code}"
            raise DaemonError(f"the daemon did not start: {detail}")
        info = daemon_info(settings)
        if info.running and info.pid == proc.pid:
            return info
        time.sleep(0.05)
    raise DaemonError(
        f"the daemon (pid {proc.pid}) did not take its pidfile within {wait_seconds:.0f}s; see {log_path(settings)}"
    )


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    if not lines:
        return ""
    last = lines[-1]
    return last.removeprefix("finbuddy: ")


@dataclass(frozen=True)
class StopResult:
    was_running: bool
    pid: int | None
    removed_stale_pidfile: bool

    def to_json(self) -> dict[str, Any]:
        return {"stopped": self.was_running, "pid": self.pid, "removed_stale_pidfile": self.removed_stale_pidfile}


def stop_daemon(settings: Settings, timeout: float = 30.0) -> StopResult:
    """SIGTERM the daemon and wait until it has let go of its pidfile; a stale pidfile is removed."""
    info = daemon_info(settings)
    if not info.running:
        return StopResult(False, info.pid, remove_stale_pidfile(settings))
    if info.pid is None:
        raise DaemonError(f"a process holds {info.pidfile} but has not written its pid; try again")
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise DaemonError(f"not allowed to signal the daemon (pid {info.pid})") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not daemon_info(settings).running:
            remove_stale_pidfile(settings)
            return StopResult(True, info.pid, False)
        time.sleep(0.05)
    raise DaemonError(
        f"the daemon (pid {info.pid}) did not stop within {timeout:.0f}s (it finishes the AI calls in flight); "
        f"wait, or `kill -9 {info.pid}`: a killed batch resumes safely"
    )


# --- running in the foreground -------------------------------------------------------


class _LogFile(logging.handlers.RotatingFileHandler):
    """The rotating daemon log. A record it cannot write (a full disk) is dropped quietly: logging's default
    prints a traceback per record on stderr, which buried a full disk's one-line error under hundreds."""

    dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped += 1

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self.dropped += 1

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last buffered lines could not be written either
            self.dropped += 1


@contextmanager
def daemon_logging(
    settings: Settings, extra_handler: logging.Handler | None = None, name: str = LOG_NAME
) -> Iterator[Path]:
    """Log finbuddy's messages to the rotating daemon log (and optionally the console) while the block runs."""
    path = log_path(settings, name)
    try:
        make_private_dir(path.parent)
        handler = _LogFile(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:
        raise DaemonError(f"cannot open the daemon log {path}: {exc.strerror or exc}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s"))
    logger = logging.getLogger("finbuddy")
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    handlers = [handler] + ([extra_handler] if extra_handler is not None else [])
    for h in handlers:
        logger.addHandler(h)
    try:
        yield path
    finally:
        for h in handlers:
            logger.removeHandler(h)
        handler.close()
        logger.setLevel(previous_level)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT ask the loop to stop after the calls in flight; a second one abandons them at once.

    Abandoning is safe: the claims of a dead process are retaken by the next run, and its AI-call reservations
    are refunded by the reservation sweep.
    """

    def handle(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("%s again: abandoning the calls in flight (the next run redoes those users)", name)
            logging.shutdown()
            os._exit(128 + signum)
        log.info("%s: stopping after the calls in flight (send it again to abandon them)", name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ServingSide:
    """The warm server beside the daemon's jobs: `command` (the CLI's `daemon serve`) run as a child process.

    A process of its own, not a thread: the server forks a process per request, which is only safe from a process
    without other threads (the jobs run several). It gets a pipe's read end (`--lifeline FD`) and stops when the
    daemon is gone, even after a kill -9. It is started again at once when it exits with RESTART_EXIT (it found
    itself outdated: another finbuddy version installed, or the configuration file changed), after a growing
    pause when it fails, and not at all when it stopped cleanly (someone stopped it on purpose).
    """

    FIRST_PAUSE = 1.0
    LONGEST_PAUSE = 300.0

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.stopping = threading.Event()
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="finbuddy-warm-server", daemon=True)
        self._thread.start()

    def _spawn(self) -> tuple[subprocess.Popen, int] | None:
        with self._lock:
            if self.stopping.is_set():
                return None
            lifeline_r, lifeline_w = os.pipe()
            try:
                self._proc = subprocess.Popen(
                    [*self.command, "--lifeline", str(lifeline_r)],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(lifeline_r,),
                    close_fds=True,
                )
            except OSError:
                os.close(lifeline_w)
                raise
            finally:
                os.close(lifeline_r)
            return self._proc, lifeline_w

    def _supervise(self) -> None:
        from finbuddy.server import RESTART_EXIT

        pause = self.FIRST_PAUSE
        while not self.stopping.is_set():
            try:
                spawned = self._spawn()
            except OSError as exc:
                log.error("warm server: cannot start %s: %s", self.command[0], exc)
                spawned = None
                if self.stopping.wait(pause):
                    return
                pause = min(pause * 2, self.LONGEST_PAUSE)
                continue
            if spawned is None:
                return
            proc, lifeline = spawned
            log.info("warm server: started (pid %d)", proc.pid)
            code = proc.wait()
            os.close(lifeline)
            if self.stopping.is_set():
                return
            if code == RESTART_EXIT:
                self.restarts += 1
                pause = self.FIRST_PAUSE
                continue
            if code == 0:
                log.info("warm server (pid %d) stopped; commands run cold until the daemon restarts", proc.pid)
                return
            log.warning("warm server (pid %d) exited with %s; starting it again in %.0fs", proc.pid, code, pause)
            if self.stopping.wait(pause):
                return
            pause = min(pause * 2, self.LONGEST_PAUSE)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server after the requests it runs (SIGTERM), killing it if that takes longer than `timeout`:
        the requests' own processes go on and report to their clients (`daemon stop` waits 30 s in all)."""
        with self._lock:
            self.stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("warm server (pid %d) did not stop within %.0fs; killing it", proc.pid, timeout)
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(5)


def run_foreground(
    ctx: Context,
    stop: threading.Event,
    progress_for: Callable[[str], BatchProgress | None] | None = None,
    console_handler: logging.Handler | None = None,
    serve_command: list[str] | None = None,
) -> None:
    """`daemon run`: hold the pidfile, log to the rotating file, serve warm commands with `serve_command` (the CLI's
    `daemon serve`; None: not), loop until SIGTERM/SIGINT."""
    from finbuddy.daemon.scheduler import Daemon, JobRunner

    pidfile = PidFile(pidfile_path(ctx.settings))
    pidfile.acquire(ctx.now())
    try:
        with daemon_logging(ctx.settings, console_handler), stop_on_signals(stop):
            serving = ServingSide(serve_command) if serve_command else None
            if serving is not None:
                serving.start()
            try:
                runner = JobRunner(ctx, stop=stop, progress_for=progress_for)
                Daemon(runner).run_forever()
            finally:
                if serving is not None:
                    serving.stop()
    finally:
        pidfile.release()
