"""Shared fixtures: every test runs in its own FINBUDDY_HOME, on SQLite and (where asked) the real PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXED_NOW = "2026-11-25T12:00:00+00:00"
PG_ADMIN_URL = os.environ.get("FINBUDDY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("FINBUDDY_TEST_REQUIRE_POSTGRES") == "1"
# The other services of phase 2 (Redis, ...): tests that need them skip without them, unless this is set.
REQUIRE_SERVICES = os.environ.get("FINBUDDY_TEST_REQUIRE_SERVICES") == "1"
REDIS_TEST_URL = os.environ.get("FINBUDDY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(autouse=True, scope="session")
def _record_sql():
    """FINBUDDY_TEST_RECORD_SQL=<dir>: every statement this run sends to PostgreSQL (this process and the finbuddy
    processes it starts) into a file per process in <dir>, for `python -m tests.sharding_check <dir>`. Off by
    default: the suite then pays nothing."""
    directory = os.environ.get("FINBUDDY_TEST_RECORD_SQL")
    if not directory:
        yield
        return
    from tests.sharding_check import Recorder

    root = Path(__file__).resolve().parent
    paths = [str(root / "sqlrecord"), str(root.parent), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)  # child processes record too
    recorder = Recorder(stream_to=Path(directory)).install()
    yield
    recorder.uninstall()


@pytest.fixture(autouse=True)
def finbuddy_env(tmp_path, monkeypatch):
    """A private home for every test; no setting leaks in from the machine."""
    for name in list(os.environ):
        if name.startswith(("FINBUDDY_", "OPENAI_")) and name not in (
            "FINBUDDY_TEST_POSTGRES_URL",
            "FINBUDDY_TEST_REQUIRE_POSTGRES",
            "FINBUDDY_TEST_REQUIRE_SERVICES",
            "FINBUDDY_TEST_REDIS_URL",
            "FINBUDDY_TEST_RECORD_SQL",
        ):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("FINBUDDY_HOME", str(home))
    monkeypatch.setenv("FINBUDDY_USER", "alice")
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", "UTC")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", FIXED_NOW)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    return home


def run_cli(args: list[str], capsys, input: str | None = None) -> Result:
    """Run finbuddy in-process through its real entry point and error boundary."""
    from finbuddy.cli import main

    capsys.readouterr()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(input or "")
    try:
        code = main([str(a) for a in args])
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return Result(code, out, err)


def drop_pg_database(conn: Any, name: str) -> None:
    """Drop a temporary PostgreSQL database (`conn`: an AUTOCOMMIT admin connection), ending its sessions first."""
    conn.exec_driver_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def openai_server(monkeypatch, tmp_path):
    """A started FakeOpenAI (tests/fakes/openai_server.py); finbuddy (in-process and subprocesses) points at it
    through OPENAI_BASE_URL, with a test key, ai.timeout 2 s and ai.max_retries 2. The fake itself imports no
    pytest, so benchmarks/ start it from a plain install."""
    from tests.fakes.openai_server import TEST_API_KEY, FakeOpenAI

    server = FakeOpenAI(record_file=tmp_path / "openai-requests.jsonl").start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "openai")
    monkeypatch.setenv("FINBUDDY_AI_TIMEOUT", "2")
    monkeypatch.setenv("FINBUDDY_AI_MAX_RETRIES", "2")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli(capsys):
    def invoke(*args: Any, input: str | None = None) -> Result:
        return run_cli(list(args), capsys, input=input)

    return invoke


def run_process(args: list[str], env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60):
    """Run `python -m finbuddy` as a separate process (for concurrency and real exit codes)."""
    full_env = dict(os.environ)
    full_env.pop("PYTEST_CURRENT_TEST", None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "finbuddy", *map(str, args)],
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# --- PostgreSQL -------------------------------------------------------------------


def _pg_reachable() -> str | None:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return "psycopg is not installed"
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def require_postgres() -> None:
    """Skip the test (fail it under FINBUDDY_TEST_REQUIRE_POSTGRES=1) when PostgreSQL is not reachable."""
    problem = _pg_reachable()
    if problem:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}"
        if REQUIRE_PG:
            pytest.fail(message + " (FINBUDDY_TEST_REQUIRE_POSTGRES=1 makes this mandatory)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session (per xdist worker), migrated, dropped afterwards."""
    require_postgres()
    import sqlalchemy as sa

    name = f"finbuddy_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from finbuddy.db import Database
    from finbuddy.db.migrate import upgrade

    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        drop_pg_database(conn, name)
    admin.dispose()


def _truncate_pg(url: str) -> None:
    import sqlalchemy as sa

    from finbuddy.db.tables import metadata

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # The database's identity is not data: it stays, like the schema.
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "database_identity")
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, monkeypatch, finbuddy_env) -> str:
    """Run the test on SQLite (a file in the test's home) and on the real PostgreSQL server."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
        monkeypatch.setenv("FINBUDDY_DATABASE_URL", url)
        return "postgresql"
    return "sqlite"


@pytest.fixture
def db_url(backend, finbuddy_env) -> str:
    """The database URL the current test's finbuddy uses."""
    from finbuddy.config import load_settings

    return load_settings().database_url


def sqlite_file(home: Path) -> Path:
    return home / "data" / "finbuddy.db"


# --- a private PostgreSQL primary with a streaming hot standby -----------------------------


@dataclass
class ReplicaPair:
    """A throwaway primary and hot standby on loopback (see `pg_replica`); `url` is a finbuddy database
    on the primary, `replica_url` the same database read through the standby."""

    base: Path
    bindir: Path
    primary_port: int
    standby_port: int
    url: str
    replica_url: str

    def pg(self, *args: str) -> subprocess.CompletedProcess:
        """Run a PostgreSQL binary as the `postgres` OS user (the server refuses to run as root)."""
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def sql(self, port: int, statement: str, database: str = "finbuddy") -> Any:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={database}", autocommit=True) as conn:
            cursor = conn.execute(statement)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]

    def start_standby(self) -> None:
        log = str(self.base / "standby.log")
        self.pg("pg_ctl", "-D", str(self.base / "standby"), "-l", log, "-w", "-t", "30", "start")

    def stop_standby(self) -> None:
        self.pg("pg_ctl", "-D", str(self.base / "standby"), "-m", "immediate", "-w", "-t", "30", "stop")

    def standby_running(self) -> bool:
        return (self.base / "standby" / "postmaster.pid").exists()

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the standby streams and has replayed everything the primary has written."""
        import time

        target = self.sql(self.primary_port, "SELECT pg_current_wal_lsn()::text", "postgres")
        give_up = time.monotonic() + timeout
        while True:
            try:
                if self.sql(self.standby_port, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn", "postgres"):
                    return
            except Exception:
                pass  # starting up
            if time.monotonic() > give_up:
                raise RuntimeError(f"the standby did not replay up to {target} in {timeout} s")
            time.sleep(0.02)


def _postgresql_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if all((candidate / name).exists() for name in ("initdb", "pg_ctl", "pg_basebackup", "postgres")):
            return candidate
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_replica():
    """A private primary + hot standby, started once per test session (per xdist worker) in ~2-4 s and
    stopped afterwards, also when a test or the start-up fails. Skips without the PostgreSQL server
    binaries (fails instead with FINBUDDY_TEST_REQUIRE_POSTGRES=1)."""
    import pwd
    import shutil
    import tempfile

    bindir = _postgresql_bindir()
    problem = None
    if bindir is None:
        problem = "the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
    elif os.geteuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        problem = "running as root needs runuser(1) and a `postgres` OS user to start PostgreSQL"
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem + " (FINBUDDY_TEST_REQUIRE_POSTGRES=1 makes this mandatory)")
        pytest.skip(problem)
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="fb-pgrepl-", dir="/tmp"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    primary_port, standby_port = _free_port(), _free_port()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/finbuddy"
    pair = ReplicaPair(base, bindir, primary_port, standby_port, url, url.replace(str(primary_port), str(standby_port)))
    primary = base / "primary"
    try:
        pair.pg("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
        with open(primary / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {primary_port}\nunix_socket_directories = '{base}'\n"
                "wal_level = replica\nmax_wal_senders = 5\nmax_replication_slots = 5\nhot_standby = on\n"
                "hot_standby_feedback = on\nfsync = off\nshared_buffers = 32MB\nmax_connections = 40\n"
            )
        pair.pg("pg_ctl", "-D", str(primary), "-l", str(base / "primary.log"), "-w", "-t", "30", "start")
        pair.pg(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres", "-D", str(base / "standby"),
            "-R", "-C", "-S", "fb_standby", "-X", "stream", "-c", "fast", "--no-sync",
        )  # fmt: skip
        with open(base / "standby" / "postgresql.conf", "a") as conf:
            conf.write(f"port = {standby_port}\ncluster_name = 'fb_standby'\n")
        pair.start_standby()
        pair.sql(primary_port, "CREATE DATABASE finbuddy", "postgres")
        from finbuddy.db import Database
        from finbuddy.db.migrate import upgrade

        db = Database(url)
        try:
            upgrade(db)
        finally:
            db.dispose()
        pair.wait_replayed()
        yield pair
    finally:
        for name in ("standby", "primary"):
            if (base / name / "postmaster.pid").exists():
                try:
                    pair.pg("pg_ctl", "-D", str(base / name), "-m", "immediate", "-w", "-t", "30", "stop")
                except Exception:
                    pass
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# --- Redis: the shared one (a random key prefix per test) and private ones to kill -------------


def service_missing(message: str) -> None:
    """Skip the test for a missing service, or fail it when FINBUDDY_TEST_REQUIRE_SERVICES=1 (.ci/run)."""
    if REQUIRE_SERVICES:
        pytest.fail(message + " (FINBUDDY_TEST_REQUIRE_SERVICES=1 makes this mandatory)")
    pytest.skip(message)


def _redis_problem(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (pip install -e '.[test]')"
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: redis-py 8's default (10, with backoff) takes ~4 s to report a closed port.
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
        return None
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        client.close()


@pytest.fixture(scope="session")
def _redis_reachable() -> str | None:
    return _redis_problem(REDIS_TEST_URL)


@pytest.fixture
def redis_url(_redis_reachable) -> str:
    """The machine's shared Redis (FINBUDDY_TEST_REDIS_URL, default 127.0.0.1:6379): skips when it is
    unreachable, fails instead under FINBUDDY_TEST_REQUIRE_SERVICES=1. Use it with `redis_prefix`."""
    if _redis_reachable:
        service_missing(f"Redis not reachable at {REDIS_TEST_URL}: {_redis_reachable}")
    return REDIS_TEST_URL


@pytest.fixture
def redis_prefix(redis_url) -> Any:
    """A random key prefix on the shared Redis for this test; its keys are deleted afterwards."""
    import redis

    prefix = f"fbtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass
class PrivateRedis:
    """A redis-server of this test's own on a free loopback port, to stop, hang and kill."""

    port: int
    proc: subprocess.Popen
    directory: Path
    url: str = ""

    def __post_init__(self) -> None:
        self.url = self.url or f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        """Hang it (SIGSTOP): connections are still accepted by the kernel, nothing answers."""
        import signal

        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        import signal

        os.kill(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        """Gone: its port is closed."""
        import signal

        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_private_redis(
    directory: Path, port: int | None = None, listen: tuple[str, ...] = (), url: str = ""
) -> PrivateRedis:
    """Start one; `listen` replaces the plain TCP port (e.g. a unix socket or a TLS port) and `url` is then
    how to reach it."""
    import shutil
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server is not installed (needed to start a private Redis)")
    try:
        import redis  # noqa: F401
    except ImportError:
        service_missing("the redis client is not installed (pip install -e '.[test]')")
    assert binary is not None
    port = port or _free_port()
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [binary, *(listen or ("--port", str(port))), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--logfile", str(directory / "redis.log"), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = PrivateRedis(port, proc, directory, url)
    give_up = time.monotonic() + 10
    while _redis_problem(server.url) is not None:
        if proc.poll() is not None or time.monotonic() > give_up:
            server.kill()
            log = (directory / "redis.log").read_text() if (directory / "redis.log").exists() else ""
            raise RuntimeError(f"private redis-server on port {port} did not start: {log[-500:]}")
        time.sleep(0.02)
    return server


@pytest.fixture
def private_redis(tmp_path) -> Any:
    """A private redis-server (never the shared one) for outage tests; killed afterwards."""
    server = start_private_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def closed_port_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    return f"redis://127.0.0.1:{_free_port()}/0"


# --- RabbitMQ (phase 2's queue), with the shared Redis for its global rate ------------------------

AMQP_URL = os.environ.get("FINBUDDY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0] or type(exc).__name__


@dataclass
class QueueServices:
    """The machine's RabbitMQ and Redis, with a queue name (and key prefix) of this test's own."""

    amqp_url: str
    redis_url: str
    name: str  # queue.name, and the prefix of every Redis key the test makes

    @property
    def queue(self) -> str:
        return f"{self.name}.insights"

    def queues(self) -> tuple[str, str, str]:
        return (self.queue, f"{self.queue}.DQ", f"{self.queue}.XQ")

    def _channel(self):
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        return connection, connection.channel()

    def counts(self) -> dict[str, int]:
        """Messages ready in the queue, its delayed queue (.DQ) and its dead letters (.XQ), by passive declares."""
        from pika.exceptions import ChannelClosedByBroker

        connection, channel = self._channel()
        counts = {}
        try:
            for key, name in zip(("waiting", "delayed", "dead_letters"), self.queues(), strict=True):
                try:
                    counts[key] = channel.queue_declare(queue=name, passive=True).method.message_count
                except ChannelClosedByBroker:
                    counts[key] = 0
                    channel = connection.channel()
        finally:
            connection.close()
        return counts

    def take_messages(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Every message ready in the queue, taken off it (decoded Dramatiq messages)."""
        connection, channel = self._channel()
        messages = []
        try:
            while True:
                method, _properties, body = channel.basic_get(queue=queue or self.queue, auto_ack=True)
                if method is None:
                    break
                messages.append(json.loads(body))
        finally:
            connection.close()
        return messages

    def publish(self, queue: str, body: dict[str, Any]) -> None:
        connection, channel = self._channel()
        try:
            channel.basic_publish(exchange="", routing_key=queue, body=json.dumps(body).encode())
        finally:
            connection.close()

    def cleanup(self) -> None:
        try:
            connection, channel = self._channel()
            try:
                for name in self.queues():
                    channel.queue_delete(queue=name)
            finally:
                connection.close()
        except Exception:
            pass
        try:
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
            for key in client.scan_iter(f"{self.name}*", count=1000):
                client.delete(key)
            client.close()
        except Exception:
            pass


@pytest.fixture
def queue_services(monkeypatch, finbuddy_env) -> Any:
    """RabbitMQ and Redis on this machine, and finbuddy pointed at them (queue.url, queue.name, cache.url,
    cache.prefix) with a random queue name and key prefix; the queues and keys are deleted afterwards.
    Skips with the reason when a service (or the `scale` extra) is missing; fails instead with
    FINBUDDY_TEST_REQUIRE_SERVICES=1."""
    try:
        import pika
        import redis
    except ImportError as exc:
        service_missing(f"{exc.name} is not installed (pip install -e '.[test]')")
    try:
        params = pika.URLParameters(AMQP_URL)
        params.connection_attempts = 1
        params.socket_timeout = 3
        params.stack_timeout = 5
        pika.BlockingConnection(params).close()
    except Exception as exc:
        service_missing(f"RabbitMQ not reachable at {AMQP_URL}: {_first_line(exc)}")
    try:
        client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        service_missing(f"Redis not reachable at {REDIS_TEST_URL}: {_first_line(exc)}")
    services = QueueServices(AMQP_URL, REDIS_TEST_URL, f"fbtest_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", services.amqp_url)
    monkeypatch.setenv("FINBUDDY_QUEUE_NAME", services.name)
    monkeypatch.setenv("FINBUDDY_CACHE_URL", services.redis_url)
    monkeypatch.setenv("FINBUDDY_CACHE_PREFIX", services.name)  # the shared Redis cache's key prefix, where known
    try:
        yield services
    finally:
        services.cleanup()
