"""Daemon test helpers: the loopback OpenAI fake with a provider-style rate limit and per-user failures; seeding."""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI, Reply, rate_limited, server_error


class DaemonFakeOpenAI(FakeOpenAI):
    """FakeOpenAI that (optionally) answers after a fixed latency, enforces N requests per sliding window (a minute
    by default) with a 429 beyond, like a real provider, and fails every request whose prompt contains a marker."""

    def __init__(
        self,
        record_file: Path | None = None,
        latency: float = 0.0,
        per_minute: int | None = None,
        fail_marker: str | None = None,
        window_seconds: float = 60.0,
        gate: threading.Event | None = None,
        reported_model: str | None = None,
    ) -> None:
        super().__init__(record_file=record_file)
        self.gate = gate  # when given, every answer waits until it is set
        # The model name answers report, as a provider that serves a dated or fine-tuned name longer than the
        # one asked for; None: the model asked for.
        self.reported_model = reported_model
        self.latency = latency
        self.per_minute = per_minute
        self.fail_marker = fail_marker
        self.window_seconds = window_seconds
        self.rejected_429 = 0
        self.failed_marker = 0
        self._window: collections.deque[float] = collections.deque()
        self._window_lock = threading.Lock()
        self._current = threading.local()  # the request being served on this handler thread

    def _record(self, path, headers, body):
        self._current.body = body
        number = super()._record(path, headers, dict(body) if isinstance(body, dict) else body)
        if self.reported_model is not None and isinstance(body, dict):
            body["model"] = self.reported_model  # the answer echoes the request's model
        return number

    def _next_reply(self) -> Reply:
        body = getattr(self._current, "body", None) or {}
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        if self.fail_marker and self.fail_marker in prompt:
            with self._window_lock:
                self.failed_marker += 1
            return server_error()
        if self.per_minute is not None:
            now = time.monotonic()
            with self._window_lock:
                while self._window and self._window[0] <= now - self.window_seconds:
                    self._window.popleft()
                if len(self._window) >= self.per_minute:
                    self.rejected_429 += 1
                    return rate_limited()
                self._window.append(now)
        reply = super()._next_reply()
        if self.gate is not None:
            self.gate.wait(60)
        if self.latency and reply.status == 200 and not reply.delay:
            reply = Reply(200, delay=self.latency, text=reply.text, headers=reply.headers)
        return reply


def start_fake(monkeypatch, tmp_path, **options) -> DaemonFakeOpenAI:
    """Start a DaemonFakeOpenAI and point finbuddy (in-process and child processes) at it, as `openai_server` does."""
    from tests.fakes.openai_server import TEST_API_KEY

    server = DaemonFakeOpenAI(record_file=tmp_path / "openai-requests.jsonl", **options).start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "openai")
    monkeypatch.setenv("FINBUDDY_AI_TIMEOUT", "5")
    monkeypatch.setenv("FINBUDDY_AI_MAX_RETRIES", "2")
    # Tests that are not about pacing should not wait for it (the default is 60 a minute).
    monkeypatch.setenv("FINBUDDY_AI_REQUESTS_PER_MINUTE", "6000")
    return server


def seed_users(count: int, prefix: str = "user", category: str = "groceries") -> list[str]:
    """`count` users with one expense each, written through the ledger (as `finbuddy add` would)."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.records import record_entry

    settings = load_settings()
    base = Context(settings=settings)
    names = [f"{prefix}{i:04d}" for i in range(count)]
    try:
        for i, name in enumerate(names):
            ctx = Context(settings=settings, clock=base.clock, user=name)
            ctx.__dict__["db"] = base.db
            record_entry(ctx, Decimal("10.00") + i, category)
    finally:
        base.close()
    return names


def insight_rows(day=None) -> list[dict]:
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.db.insights import insight_rows as query

    ctx = Context(settings=load_settings())
    try:
        with ctx.db.read() as conn:
            return [dict(row) for row in query(conn, day)]
    finally:
        ctx.close()


_PRINT_IDENTITY = (
    "import sys, time; from finbuddy.daemon.insights import worker_identity; "
    "print(worker_identity(), flush=True); time.sleep(float(sys.argv[1]))"
)


def dead_worker_identity() -> str:
    """The claim owner a real process made, once that process has exited."""
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_IDENTITY, "0"], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


@contextmanager
def live_worker_identity() -> Iterator[str]:
    """The claim owner of a real process that stays alive while the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", _PRINT_IDENTITY, "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait(10)


FULL_DISK_TABLES = ("insights", "job_runs")


@contextmanager
def database_refuses_writes(tables: tuple[str, ...] = FULL_DISK_TABLES) -> Iterator[None]:
    """Every write to `tables` fails as on a full disk (SQLite's "database or disk is full", PostgreSQL's
    disk_full "No space left on device"), through triggers; reads still work, as they do on a full disk."""
    import sqlalchemy as sa

    from finbuddy.config import load_settings

    engine = sa.create_engine(load_settings().database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file \"base/16384/16403\": No space left on device' "
                "USING ERRCODE = 'disk_full'; END $$"
            )
        for table in tables:
            if postgres:
                conn.exec_driver_sql(
                    f"CREATE TRIGGER test_disk_full BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION test_disk_full()"
                )
            else:
                for op in ("INSERT", "UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER test_disk_full_{table}_{op.lower()} BEFORE {op} ON {table} "
                        "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END"
                    )
    try:
        yield
    finally:
        with engine.begin() as conn:
            for table in tables:
                if postgres:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS test_disk_full ON {table}")
                else:
                    for op in ("insert", "update", "delete"):
                        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS test_disk_full_{table}_{op}")
        engine.dispose()
