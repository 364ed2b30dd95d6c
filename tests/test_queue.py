"""Phase 2's queue on the real RabbitMQ and Redis: the daily job plans, `finbuddy worker` processes write.

Workers are real processes (`python -m finbuddy worker`), stopped with real signals; the AI is the loopback fake
of tests/fakes_daemon.py, in this process, which sees every request any worker sends.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import _free_port
from tests.fakes_daemon import insight_rows, seed_users, start_fake

DAY = dt.date(2026, 11, 25)  # conftest's FIXED_NOW


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


class WorkerProcess:
    """`finbuddy worker` in a process group of its own (so that it and its children can be killed together)."""

    def __init__(self, tmp_path: Path, *args: str, name: str = "worker") -> None:
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        self.log = tmp_path / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finbuddy", "worker", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            start_new_session=True,
            text=True,
        )

    @property
    def stderr(self) -> str:
        return self.log.read_text()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the parent (which forwards it to its children); its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole process group: the parent and every child."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(tmp_path, *args, name=f"worker{len(started) + 1}")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def settle(fake, quiet: float = 1.0) -> None:
    """Until the fake has received no request for `quiet` seconds."""
    last, since = fake.count, time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.1)
        if fake.count != last:
            last, since = fake.count, time.monotonic()


def done_rows() -> list[dict]:
    return [row for row in insight_rows(DAY) if row["status"] == "done"]


def plan(cli) -> dict:
    r = cli("daemon", "run-once", "--json")
    assert r.exit_code == 0, r.stderr + r.stdout
    [outcome] = [o for o in r.json["ran"] if o["job"] == "daily-insights"]
    return outcome


def consumers(cli) -> int:
    return cli("daemon", "status", "--json").json["queue"]["consumers"] or 0


def queued_users(messages: list[dict]) -> list[str]:
    return sorted(user for message in messages for user in message["args"][1])


# --- planning and writing ----------------------------------------------------------------------------


def test_planner_calls_no_ai_one_worker_writes_all_12_sigterm_exits_0_and_planning_again_enqueues_nothing(
    cli, backend, queue_services, monkeypatch, tmp_path, workers
):
    fake = start_fake(monkeypatch, tmp_path)
    try:
        users = seed_users(12)
        outcome = plan(cli)
        assert outcome["status"] == "queued"
        result = outcome["result"]
        assert (result["users"], result["planned"], result["messages"], result["chunk"]) == (12, 12, 2, 10)
        assert fake.count == 0  # planning calls no AI
        assert queue_services.counts() == {"waiting": 2, "delayed": 0, "dead_letters": 0}
        rows = insight_rows(DAY)
        assert [(row["user"], row["status"], row["attempts"]) for row in rows] == [(u, "queued", 0) for u in users]

        again = plan(cli)["result"]  # the same day, before any worker ran
        assert (again["planned"], again["messages"], again["in_hand"]) == (0, 0, 12)
        assert queue_services.counts()["waiting"] == 2

        worker = workers("--processes", "1", "--threads", "4")
        wait_until(lambda: len(done_rows()) == 12, 60, "12 insights")
        assert worker.terminate() == 0, worker.stderr
        assert "started, 4 threads" in worker.stderr and "stopped" in worker.stderr
        assert fake.count == 12
        assert sorted(row["user"] for row in done_rows()) == users

        last = plan(cli)
        assert last["status"] == "ok"
        assert (last["result"]["planned"], last["result"]["messages"], last["result"]["done"]) == (0, 0, 12)
        assert fake.count == 12
        assert queue_services.counts() == {"waiting": 0, "delayed": 0, "dead_letters": 0}
        r = cli("daemon", "status", "--json")
        [job] = [j for j in r.json["jobs"] if j["job"] == "daily-insights"]
        assert (job["last_status"], job["last_day"], job["due"]) == ("ok", DAY.isoformat(), False)
    finally:
        fake.stop()


def test_planning_again_enqueues_only_failed_users_with_attempts_left_lost_messages_and_new_users(
    cli, backend, queue_services, monkeypatch
):
    import sqlalchemy as sa

    from finbuddy.config import load_settings
    from finbuddy.db.tables import insights, users

    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T09:00:00+00:00")
    names = seed_users(5)
    assert plan(cli)["result"]["planned"] == 5
    queue_services.take_messages()  # as if workers had them
    engine = sa.create_engine(load_settings().database_url)
    with engine.begin() as conn:
        ids = dict(conn.execute(sa.select(users.c.name, users.c.id)).all())
        later = dt.datetime(2026, 11, 25, 10, 20, tzinfo=dt.UTC)

        def set_row(name: str, **values) -> None:
            conn.execute(sa.update(insights).where(insights.c.user_id == ids[name]).values(**values))

        set_row(names[0], status="failed", attempts=1, updated_at=later)  # attempts left
        set_row(names[1], status="failed", attempts=3, updated_at=later)  # out of attempts today
        set_row(names[2], status="done", attempts=1, text="written", updated_at=later)
        set_row(names[3], updated_at=later)  # queued recently: its message is on its way
        # names[4] stays queued since 09:00: at 10:30 its message counts as lost
    engine.dispose()
    newcomer = seed_users(1, prefix="late")[0]

    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T10:30:00+00:00")
    result = plan(cli)["result"]
    assert (result["planned"], result["messages"], result["done"], result["out_of_attempts"]) == (3, 1, 1, 1)
    assert result["in_hand"] == 1 and result["remaining"] == 4
    assert queued_users(queue_services.take_messages()) == sorted([names[0], names[4], newcomer])
    assert plan(cli)["result"]["planned"] == 0  # and not again
    assert queue_services.take_messages() == []


def test_chunks_are_sized_for_every_worker_to_get_one_and_never_one_message_per_user():
    from finbuddy.worker.planner import chunk_size

    assert [chunk_size(n) for n in (1, 12, 2_000, 20_000, 100_000, 1_000_000)] == [10, 10, 20, 200, 500, 500]


def test_a_user_planned_and_then_the_queue_switched_off_is_written_by_the_in_process_batch(
    cli, backend, queue_services, monkeypatch
):
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    seed_users(3)
    assert plan(cli)["result"]["planned"] == 3
    monkeypatch.delenv("FINBUDDY_QUEUE_URL")
    outcome = plan(cli)
    assert (outcome["status"], outcome["result"]["done"]) == ("ok", 3)
    assert len(done_rows()) == 3


def test_planning_while_rabbitmq_refuses_is_exit_1_in_one_line_and_marks_nobody(cli, backend, monkeypatch):
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", f"amqp://guest:hunter2@127.0.0.1:{_free_port()}/%2F")
    monkeypatch.setenv("FINBUDDY_CACHE_URL", "redis://127.0.0.1:6379/0")
    seed_users(3)
    r = cli("daemon", "run-once")
    assert r.exit_code == 1
    [line] = [line for line in r.stderr.splitlines() if "RabbitMQ" in line]
    assert "refused or did not answer" in line and "hunter2" not in r.stderr
    assert insight_rows(DAY) == []


# --- each user's own local day ------------------------------------------------------------------------------


def test_the_planner_enqueues_each_user_for_their_local_day_and_the_worker_writes_it_there(
    cli, backend, queue_services, monkeypatch, tmp_path, workers
):
    """At 2026-11-25T23:30Z it is 26 November in Auckland (alice) and still the 25th in Los Angeles (bob) and in the
    install's zone (UTC): one plan, one message per day, each insight written on its user's day (see
    tests/test_profile.py)."""
    from tests.test_profile import NEAR_MIDNIGHT, two_zones

    monkeypatch.setenv("FINBUDDY_FAKE_NOW", NEAR_MIDNIGHT)
    fake = start_fake(monkeypatch, tmp_path)
    try:
        two_zones(cli)
        for user in ("alice", "bob"):
            assert cli("--user", user, "add", "10", "food").exit_code == 0
        days = {"alice": "2026-11-26", "bob": "2026-11-25"}

        outcome = plan(cli)
        assert outcome["status"] == "queued"
        result = outcome["result"]
        assert (result["day"], result["users"], result["planned"], result["messages"]) == (DAY.isoformat(), 2, 2, 2)
        assert fake.count == 0
        assert {r["user"]: (str(r["day"])[:10], r["status"]) for r in insight_rows()} == {
            user: (day, "queued") for user, day in days.items()
        }
        again = plan(cli)["result"]  # the same day, before any worker ran: nothing more
        assert (again["planned"], again["messages"], again["in_hand"]) == (0, 0, 2)
        assert queue_services.counts()["waiting"] == 2

        worker = workers("--threads", "2")
        wait_until(lambda: sum(r["status"] == "done" for r in insight_rows()) == 2, 60, "2 insights")
        assert worker.terminate() == 0, worker.stderr
        assert "dropped" not in worker.stderr
        assert {r["user"]: (str(r["day"])[:10], r["status"]) for r in insight_rows()} == {
            user: (day, "done") for user, day in days.items()
        }
        assert fake.count == 2
        # Each prompt was built in its user's own day.
        assert sorted(p.split('"today":"')[1][:10] for p in fake.prompts()) == sorted(days.values())

        last = plan(cli)
        assert last["status"] == "ok"
        assert (last["result"]["planned"], last["result"]["done"]) == (0, 2)
        assert fake.count == 2
        assert queue_services.counts() == {"waiting": 0, "delayed": 0, "dead_letters": 0}
    finally:
        fake.stop()


def test_a_message_is_dropped_only_for_the_users_whose_day_has_ended(cli, backend, monkeypatch):
    """A message for 25 November at 23:30Z: alice's 25th (Auckland) has ended, bob's (Los Angeles) has not."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.worker.chunks import ChunkWriter
    from tests.test_profile import NEAR_MIDNIGHT, two_zones

    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", NEAR_MIDNIGHT)
    two_zones(cli)
    for user in ("alice", "bob"):
        assert cli("--user", user, "add", "10", "food").exit_code == 0
    ctx = Context(settings=load_settings())
    try:
        outcome = ChunkWriter(ctx, None, threading.Event()).write(DAY, ["alice", "bob"])
        assert (outcome.done, outcome.skipped, outcome.follow_ups()) == (1, 1, [])
        # Auckland's 26th is alice's today: a message for it is written.
        tomorrow = ChunkWriter(ctx, None, threading.Event()).write(DAY + dt.timedelta(days=1), ["alice"])
        assert (tomorrow.done, tomorrow.skipped) == (1, 0)
    finally:
        ctx.close()
    assert [(r["user"], str(r["day"])[:10], r["status"]) for r in insight_rows()] == [
        ("alice", "2026-11-26", "done"),
        ("bob", "2026-11-25", "done"),
    ]


# --- stopping and killing workers ------------------------------------------------------------------


def test_sigterm_mid_chunk_finishes_the_call_in_flight_hands_the_rest_back_and_exits_0(
    cli, queue_services, monkeypatch, tmp_path, workers
):
    fake = start_fake(monkeypatch, tmp_path, latency=0.5)
    try:
        names = seed_users(10)
        assert plan(cli)["result"]["messages"] == 1
        worker = workers("--threads", "1")
        wait_until(lambda: fake.count >= 3, 60, "the third call")
        assert worker.terminate() == 0, worker.stderr
        done = sorted(row["user"] for row in done_rows())
        # Every call that started was finished and kept; none was cut off.
        assert fake.count == len(done) >= 3
        assert all(row["status"] in ("done", "queued") for row in insight_rows(DAY))
        handed_back = queued_users(queue_services.take_messages())
        assert handed_back == sorted(set(names) - set(done))
    finally:
        fake.stop()


@pytest.mark.postgres
def test_a_worker_killed_with_kill_9_mid_batch_costs_at_most_the_calls_in_flight(
    cli, pg_database, queue_services, monkeypatch, tmp_path, workers
):
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database)
    fake = start_fake(monkeypatch, tmp_path, latency=0.5)
    try:
        names = seed_users(16)
        assert plan(cli)["result"]["planned"] == 16
        first = workers("--processes", "2", "--threads", "2")
        wait_until(lambda: len(done_rows()) >= 4, 60, "4 insights")
        first.kill()  # kill -9, the parent and its children
        settle(fake)  # a request a killed thread had written may still be read by the server
        calls_before = fake.count
        in_flight = calls_before - len(done_rows())  # sent, and not recorded as written
        assert 0 <= in_flight <= 4  # at most one per thread

        second = workers("--processes", "1", "--threads", "4")
        wait_until(lambda: len(done_rows()) == 16, 60, "16 insights")
        assert second.terminate() == 0, second.stderr
        rows = insight_rows(DAY)
        assert sorted(row["user"] for row in rows) == names  # one row per user
        assert all(row["status"] == "done" for row in rows)
        assert fake.count <= 16 + in_flight
        assert queue_services.counts() == {"waiting": 0, "delayed": 0, "dead_letters": 0}
    finally:
        fake.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_keep_one_global_rate_and_never_provoke_a_429(
    cli, pg_database, queue_services, monkeypatch, tmp_path, workers
):
    """40 users at 30 a minute take ~80 s: two workers pacing themselves alone would send 58 a minute."""
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    monkeypatch.setenv("FINBUDDY_DATABASE_URL", pg_database)
    fake = start_fake(monkeypatch, tmp_path, per_minute=30)
    monkeypatch.setenv("FINBUDDY_AI_REQUESTS_PER_MINUTE", "30")
    try:
        seed_users(40)
        pair = [workers("--threads", "4"), workers("--threads", "4")]
        # Both attached before the plan, as workers wait for the daily job: RabbitMQ deals the 4 chunks out in turn.
        wait_until(lambda: consumers(cli) == 2, 60, "both workers' consumers")
        assert plan(cli)["result"]["messages"] == 4
        wait_until(lambda: len(done_rows()) == 40, 150, "40 insights")
        assert [worker.terminate() for worker in pair] == [0, 0], pair[0].stderr + pair[1].stderr
        assert fake.rejected_429 == 0
        assert fake.count == 40
        # Both workers wrote insights (the claim names the process that wrote each).
        writers = {row["claimed_by"].split(":")[1] for row in done_rows()}
        assert len(writers) == 2
    finally:
        fake.stop()


# --- the global rate ---------------------------------------------------------------------------------


def test_the_global_rate_spaces_every_slot_of_every_process_at_least_one_interval_apart(queue_services):
    from finbuddy.worker.rate import GlobalRate

    key = f"{queue_services.name}:ai-rate"
    # Two limiters as two worker processes would hold them, four threads each.
    limiters = [GlobalRate(queue_services.redis_url, key, per_minute=6000) for _ in range(2)]
    stop = threading.Event()

    def take(limiter: GlobalRate) -> None:
        for _ in range(10):
            assert limiter.acquire(stop)

    threads = [threading.Thread(target=take, args=(limiter,)) for limiter in limiters for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    slots = sorted(slot for limiter in limiters for slot in limiter.slots)
    assert len(slots) == 80
    assert min(b - a for a, b in zip(slots, slots[1:], strict=False)) >= limiters[0].interval_us
    # Spaced for 95 % of the configured rate: a request leaves some time after its slot.
    assert limiters[0].interval_us >= 60_000_000 / (6000 * 0.95)
    assert limiters[0].granted_total() == 80
    for limiter in limiters:
        limiter.close()


def test_the_global_rate_takes_no_slot_after_a_stop_or_past_a_deadline(queue_services):
    from finbuddy.worker.rate import GlobalRate

    key = f"{queue_services.name}:ai-rate"
    limiter = GlobalRate(queue_services.redis_url, key, per_minute=1)  # one slot a minute
    stop = threading.Event()
    assert limiter.acquire(stop)  # the first is now
    assert not limiter.acquire(stop, deadline=time.monotonic() + 0.5)  # the next is a minute away
    stop.set()
    assert not limiter.acquire(stop)
    assert limiter.granted == 1 and limiter.granted_total() == 1
    limiter.close()


def test_the_global_rate_with_redis_down_is_a_queue_error_and_no_slot():
    from finbuddy.errors import QueueError
    from finbuddy.worker.rate import GlobalRate

    limiter = GlobalRate(f"redis://127.0.0.1:{_free_port()}/0", "fbtest:ai-rate", per_minute=60)
    with pytest.raises(QueueError, match="no AI call starts without a slot"):
        limiter.acquire(threading.Event())
    assert limiter.granted == 0


def test_a_worker_whose_rate_redis_is_down_says_so_in_one_line_and_calls_nothing(
    cli, backend, queue_services, monkeypatch, tmp_path, workers
):
    fake = start_fake(monkeypatch, tmp_path)
    try:
        seed_users(2)
        assert plan(cli)["status"] == "queued"
        # The worker's global rate (cache.url) on a closed port: no slot, so no call; the message is retried.
        monkeypatch.setenv("FINBUDDY_CACHE_URL", f"redis://127.0.0.1:{_free_port()}/0")
        worker = workers("--processes", "1", "--threads", "2")
        wait_until(lambda: "retried later" in worker.stderr, 60, "the worker's one-line warning")
        assert worker.terminate() == 0, worker.stderr
        assert fake.count == 0
        assert "Traceback" not in worker.stderr, worker.stderr
        warnings = [line for line in worker.stderr.splitlines() if "not written now" in line]
        assert warnings and all("no AI call starts without a slot" in line for line in warnings)
        assert [row["status"] for row in insight_rows(DAY)] == ["queued", "queued"]  # no attempt used
    finally:
        fake.stop()


# --- a chunk in one worker --------------------------------------------------------------------------


def test_a_chunk_skips_written_users_without_a_slot_and_hands_back_what_a_stop_or_its_budget_leaves(
    backend, queue_services, monkeypatch
):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.worker.chunks import ChunkWriter
    from finbuddy.worker.rate import GlobalRate

    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    names = seed_users(4)
    ctx = Context(settings=load_settings())
    rate = GlobalRate(queue_services.redis_url, f"{queue_services.name}:ai-rate", per_minute=6000)
    stop = threading.Event()
    try:
        first = ChunkWriter(ctx, rate, stop).write(DAY, names[:2])
        assert (first.done, first.skipped, first.rest) == (2, 0, [])
        assert rate.granted == 2
        again = ChunkWriter(ctx, rate, stop).write(DAY, names)
        assert (again.done, again.skipped) == (2, 2)
        assert rate.granted == 4  # no slot for the two written already

        out_of_time = ChunkWriter(ctx, rate, stop, budget_s=0).write(DAY, ["x", "y"])
        assert (out_of_time.done, out_of_time.rest) == (0, ["x", "y"])
        stop.set()
        stopped = ChunkWriter(ctx, rate, stop).write(DAY, ["x", "y"])
        assert stopped.rest == ["x", "y"] and stopped.follow_ups() == [(["x", "y"], 0.0)]
        yesterday = ChunkWriter(ctx, rate, threading.Event()).write(DAY - dt.timedelta(days=1), names)
        assert (yesterday.skipped, yesterday.done, yesterday.follow_ups()) == (4, 0, [])
        assert rate.granted == 4
    finally:
        rate.close()
        ctx.close()


def test_a_failed_call_is_retried_in_a_delayed_message_of_its_own_until_attempts_run_out(
    backend, queue_services, monkeypatch, tmp_path
):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.worker.chunks import ChunkWriter
    from finbuddy.worker.config import worker_settings

    fake = start_fake(monkeypatch, tmp_path, fail_marker="groceries")
    names = seed_users(2)
    ctx = Context(settings=worker_settings(load_settings()))
    try:
        delays = []
        for _attempt in (1, 2, 3):
            outcome = ChunkWriter(ctx, None, threading.Event()).write(DAY, names)
            assert outcome.failed == 2
            delays.append(outcome.follow_ups())
        assert delays[0] == [(names, 10.0)] and delays[1] == [(names, 20.0)]
        assert delays[2] == []  # the third failure was the day's last attempt
        assert fake.count == 6  # one request per attempt: the worker's calls are not retried by the SDK
        last = ChunkWriter(ctx, None, threading.Event()).write(DAY, names)
        assert (last.skipped, fake.count) == (2, 6)
    finally:
        ctx.close()
        fake.stop()


# --- status and configuration ------------------------------------------------------------------------


def test_status_shows_the_queue_depth_and_its_dead_letters(cli, queue_services, monkeypatch):
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "offline")
    seed_users(12)
    plan(cli)
    queue_services.publish(f"{queue_services.queue}.XQ", {"args": ["2026-11-24", ["gone"]]})
    r = cli("daemon", "status", "--json")
    assert r.exit_code == 0, r.stderr
    queue = r.json["queue"]
    assert (queue["queue"], queue["waiting"], queue["delayed"], queue["dead_letters"]) == (
        queue_services.queue,
        2,
        0,
        1,
    )
    assert queue["error"] is None and queue["url"] == "amqp://guest:****@127.0.0.1:5672/%2F"
    r = cli("daemon", "status")
    assert r.exit_code == 0
    [line] = [line for line in r.stdout.splitlines() if line.startswith("queue ")]
    assert "2 messages waiting" in line and "1 dead letters" in line


def test_status_says_in_one_line_that_rabbitmq_is_unreachable_and_shows_the_rest(cli, monkeypatch):
    r = cli("daemon", "status", "--json")
    assert r.exit_code == 0 and "queue" not in r.json  # without queue.url, no queue
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", f"amqp://guest:hunter2@127.0.0.1:{_free_port()}/%2F")
    monkeypatch.setenv("FINBUDDY_CACHE_URL", "redis://127.0.0.1:6379/0")
    r = cli("daemon", "status", "--json")
    assert r.exit_code == 0, r.stderr
    assert "unreachable" in r.json["queue"]["error"] and r.json["queue"]["waiting"] is None
    assert [job["job"] for job in r.json["jobs"]] == [
        "daily-insights",
        "budget-alerts",
        "cache-maintenance",
        "reservation-sweep",
    ]
    r = cli("daemon", "status")
    assert r.exit_code == 0
    lines = [line for line in r.stdout.splitlines() if "RabbitMQ" in line]
    assert len(lines) == 1 and lines[0].startswith("queue ") and "unreachable" in lines[0]
    assert "hunter2" not in r.stdout + r.stderr
    assert "daily-insights" in r.stdout


@pytest.mark.parametrize("args", [("worker",), ("daemon", "run-once"), ("daemon", "run"), ("daemon", "start")])
def test_a_queue_without_cache_url_is_a_config_error_naming_what_is_missing(cli, monkeypatch, args):
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    seed_users(1)
    r = cli(*args)
    assert r.exit_code == 2, r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "queue.url is set but cache.url is not" in line and "Redis" in line
    assert insight_rows(DAY) == []


def test_the_worker_without_a_queue_is_a_config_error(cli):
    r = cli("worker")
    assert r.exit_code == 2
    assert "queue.url is not set" in r.stderr


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("::::", "must be a URL: amqp://"),
        ("http://guest:hunter2@h:5672/", "scheme http:// is not supported"),
        ("amqp://guest:hunter2@h:99999/%2F", "port that is not a number"),
        ("amqp:///%2F", "has no host"),
    ],
)
def test_a_bad_queue_url_is_one_line_exit_2_with_the_password_masked(cli, monkeypatch, url, why):
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", url)
    for args in (("list",), ("worker",), ("daemon", "status")):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stderr)
        [line] = r.stderr.strip().splitlines()
        assert "FINBUDDY_QUEUE_URL" in line and why in line and "hunter2" not in line


@pytest.mark.parametrize("name", ["a b", ".hidden", "x" * 101, "naïve"])
def test_a_bad_queue_name_is_one_line_exit_2(cli, monkeypatch, name):
    monkeypatch.setenv("FINBUDDY_QUEUE_NAME", name)
    r = cli("list")
    assert r.exit_code == 2
    assert "FINBUDDY_QUEUE_NAME" in r.stderr and "letters, digits" in r.stderr


def test_the_worker_without_the_scale_extra_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv("FINBUDDY_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    monkeypatch.setenv("FINBUDDY_CACHE_URL", "redis://127.0.0.1:6379/0")
    hide_dramatiq = (
        "import sys; sys.modules['dramatiq'] = None; from finbuddy.cli import run; sys.argv[0] = 'finbuddy'; run()"
    )
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    for args in (["worker"], ["daemon", "run-once"]):
        proc = subprocess.run(
            [sys.executable, "-c", hide_dramatiq, *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        assert "dramatiq, which is not installed: pip install 'finbuddy[scale]'" in proc.stderr
        assert "Traceback" not in proc.stderr
