"""The daemon's jobs in-process: catch-up on an injected clock, the insight batch's claims, pacing, and the CLI."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest

from finbuddy.clock import Clock
from finbuddy.config import load_settings
from finbuddy.context import Context
from finbuddy.daemon.jobs import Daily, JobResult, JobSpec, default_jobs
from finbuddy.daemon.pacing import Pacer
from finbuddy.daemon.scheduler import Daemon, JobRunner
from tests.fakes.openai_server import TEST_API_KEY, bad_key, insufficient_quota
from tests.fakes_daemon import (
    FULL_DISK_TABLES,
    database_refuses_writes,
    dead_worker_identity,
    insight_rows,
    live_worker_identity,
    seed_users,
    start_fake,
)

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else dt.datetime.fromisoformat(text)


@pytest.fixture
def make_ctx():
    made = []

    def make(now: str = "2026-11-25T12:00:00") -> Context:
        ctx = Context(settings=load_settings(), clock=Clock(at(now)))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    servers = []

    def start(**options):
        server = start_fake(monkeypatch, tmp_path, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def counting_job(name: str, schedule, calls: list) -> JobSpec:
    def func(ctx, control):
        calls.append(ctx.now())
        return JobResult("ok", {"n": len(calls)}, completed_day=ctx.today())

    return JobSpec(name, schedule, func, "counts its runs")


# --- scheduling and catch-up ---------------------------------------------------------


def test_missed_days_are_caught_up_once_not_once_per_day(backend, make_ctx):
    ctx = make_ctx("2026-11-24T08:00:00")
    calls: list = []
    runner = JobRunner(ctx, jobs=[counting_job("daily", Daily.parse("07:00"), calls)])
    assert [o.status for o in runner.run_due("start-up")] == ["ok"]
    assert runner.run_due("catch-up") == []  # same day: not again

    # The daemon is down for three days; at start-up the missed run happens once, and ticks do not repeat it.
    ctx.clock.fixed = at("2026-11-27T09:30:00")
    daemon = Daemon(runner)
    outcomes = runner.run_due("start-up")
    assert [o.job for o in outcomes] == ["daily"]
    assert "missed run, last completed 2026-11-24" in outcomes[0].reason
    daemon.check_due()
    daemon.check_due()
    assert len(calls) == 2
    assert runner.runs()["daily"].last_day == dt.date(2026, 11, 27)

    # The next day's 07:00 is due at 07:00 on the injected clock, once (the loop firing it: the test below).
    ctx.clock.fixed = at("2026-11-28T06:59:00")
    daemon.check_due()
    assert len(calls) == 2
    assert runner.views()[0].next_run == at("2026-11-28T07:00:00")
    ctx.clock.fixed = at("2026-11-28T07:00:00")
    assert runner.views()[0].due
    daemon.check_due()
    daemon.check_due()
    assert len(calls) == 3


def test_the_loop_runs_a_job_when_its_scheduled_check_fires_after_the_slot(backend, make_ctx, caplog):
    """The schedule.Scheduler's job is what runs a due job while the daemon loops (no start-up catch-up here)."""
    caplog.set_level(logging.INFO, logger="finbuddy")
    ctx = make_ctx("2026-11-27T08:00:00")
    calls: list = []
    runner = JobRunner(ctx, jobs=[counting_job("daily", Daily.parse("07:00"), calls)])
    runner.run_due("start-up")
    ctx.clock.fixed = at("2026-11-28T07:00:05")  # the next slot has passed on the injected clock
    daemon = Daemon(runner, tick_seconds=1)
    tick = daemon.scheduler.jobs[0]
    loop = threading.Thread(target=daemon.loop)
    loop.start()
    try:
        deadline = time.monotonic() + 20  # a bound for a loaded machine, not a timing assertion
        while len(calls) < 2 and loop.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        first_check = tick.last_run
        # One more scheduled check must not run it again.
        while tick.last_run == first_check and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop.set()
        loop.join(10)
    assert len(calls) == 2
    assert runner.runs()["daily"].last_day == dt.date(2026, 11, 28)
    assert "job daily: starting (scheduled)" in caplog.text


def test_a_run_missed_yesterday_caught_up_before_todays_slot_is_not_repeated_at_the_slot(backend, make_ctx):
    ctx = make_ctx("2026-11-23T07:05:00")
    calls: list = []
    runner = JobRunner(ctx, jobs=[counting_job("daily", Daily.parse("07:00"), calls)])
    runner.run_due("start-up")
    ctx.clock.fixed = at("2026-11-25T06:00:00")  # asleep through the 24th's 07:00
    assert len(runner.run_due("catch-up")) == 1
    ctx.clock.fixed = at("2026-11-25T07:00:00")
    assert runner.run_due("catch-up") == []
    assert len(calls) == 2
    view = runner.views()[0]
    assert view.next_run == at("2026-11-26T07:00:00")


def test_the_daily_slot_is_local_to_the_configured_zone(monkeypatch, make_ctx):
    monkeypatch.setenv("FINBUDDY_USER_TIMEZONE", "Asia/Tokyo")
    ctx = make_ctx("2026-11-25T12:00:00")  # 21:00 in Tokyo
    calls: list = []
    runner = JobRunner(ctx, jobs=[counting_job("daily", Daily.parse("07:00"), calls)])
    runner.run_due("start-up")
    assert runner.views()[0].next_run == at("2026-11-26T07:00:00+09:00")


def test_a_failing_job_is_recorded_and_the_loop_lives_on(backend, make_ctx, caplog):
    ctx = make_ctx()
    calls: list = []

    def broken(ctx, control):
        raise RuntimeError("disk on fire")

    runner = JobRunner(
        ctx,
        jobs=[
            JobSpec("broken", Daily.parse("07:00"), broken, "always fails"),
            counting_job("fine", Daily.parse("07:00"), calls),
        ],
    )
    daemon = Daemon(runner)
    outcomes = runner.run_due("start-up")
    assert [(o.job, o.status) for o in outcomes] == [("broken", "error"), ("fine", "ok")]
    assert "disk on fire" in outcomes[0].result["error"]
    assert "job broken: failed" in caplog.text
    run = runner.runs()["broken"]
    assert run.last_status == "error" and run.last_day is None
    # Not hammered: retried after the back-off, not on every tick.
    daemon.check_due()
    assert runner.runs()["broken"].last_finished_at == run.last_finished_at
    ctx.clock.fixed = at("2026-11-25T12:11:00")
    daemon.check_due()
    assert runner.runs()["broken"].last_finished_at == at("2026-11-25T12:11:00")
    assert len(calls) == 1


def test_interval_jobs_catch_up_after_downtime(backend, make_ctx):
    ctx = make_ctx()
    runner = JobRunner(ctx)  # the real registry, offline provider
    first = {o.job: o.status for o in runner.run_due("start-up")}
    assert first == {
        "daily-insights": "ok",
        "budget-alerts": "ok",
        "cache-maintenance": "ok",
        "reservation-sweep": "ok",
    }
    ctx.clock.fixed = at("2026-11-25T12:30:00")
    assert [o.job for o in runner.run_due("catch-up")] == ["reservation-sweep"]
    ctx.clock.fixed = at("2026-11-25T15:00:00")
    assert [o.job for o in runner.run_due("catch-up")] == ["cache-maintenance", "reservation-sweep"]


# --- the insight batch --------------------------------------------------------------


def test_run_once_writes_one_insight_per_user_and_a_second_run_makes_no_request(backend, cli, fake, make_ctx):
    server = fake()
    users = seed_users(4)
    result = cli("daemon", "run-once", "--json")
    assert result.exit_code == 0, result.stderr
    ran = {item["job"]: item for item in result.json["ran"]}
    batch = ran["daily-insights"]["result"]
    assert ran["daily-insights"]["status"] == "ok"
    assert (batch["done"], batch["failed"], batch["calls"]) == (4, 0, 4)
    assert batch["tokens"] > 0
    assert server.count == 4
    rows = insight_rows()
    assert [(r["user"], r["status"], r["attempts"]) for r in rows] == [(u, "done", 1) for u in users]

    again = cli("daemon", "run-once", "--json")
    assert again.exit_code == 0
    assert "daily-insights" not in {item["job"] for item in again.json["ran"]}
    # Even forced, the batch finds every user done: no request reaches the server.
    from finbuddy.daemon.insights import run_insight_batch

    summary = run_insight_batch(make_ctx())
    assert (summary.done, summary.skipped, summary.calls) == (0, 4, 0)
    assert server.count == 4


def test_one_failing_user_does_not_stop_the_batch_and_is_retried_next_run(backend, cli, fake, monkeypatch):
    server = fake(fail_marker="poisoncat")
    seed_users(3)
    seed_users(1, prefix="zed", category="poisoncat")
    seed_users(2, prefix="late")
    first = cli("daemon", "run-once", "--json")
    assert first.exit_code == 0
    item = next(i for i in first.json["ran"] if i["job"] == "daily-insights")
    assert item["status"] == "partial"
    assert (item["result"]["done"], item["result"]["failed"]) == (5, 1)
    failed = [r for r in insight_rows() if r["status"] != "done"]
    assert [(r["user"], r["status"], r["attempts"]) for r in failed] == [("zed0000", "failed", 1)]
    assert "500" in failed[0]["error"] or "unavailable" in failed[0]["error"]

    # The provider recovers; the next run (after the retry back-off) writes only the failed user's insight.
    server.fail_marker = None
    before = server.count
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", "2026-11-25T12:15:00+00:00")
    second = cli("daemon", "run-once", "--json")
    item = next(i for i in second.json["ran"] if i["job"] == "daily-insights")
    assert item["status"] == "ok"
    assert (item["result"]["done"], item["result"]["skipped"]) == (1, 5)
    assert server.count == before + 1
    assert all(r["status"] == "done" for r in insight_rows())
    assert next(r for r in insight_rows() if r["user"] == "zed0000")["attempts"] == 2


def test_run_once_retries_users_still_missing_todays_insight_without_waiting(backend, cli, fake, make_ctx):
    """`finbuddy insights` says "run `finbuddy daemon run-once` to write it now": it must, even right after a
    partial run; only the daemon's own loop backs off."""
    server = fake(fail_marker="poisoncat")
    seed_users(2)
    seed_users(1, prefix="zed", category="poisoncat")
    first = cli("daemon", "run-once", "--json")
    item = next(i for i in first.json["ran"] if i["job"] == "daily-insights")
    assert (item["status"], item["result"]["failed"]) == ("partial", 1)
    daily = next(v for v in JobRunner(make_ctx()).views() if v.name == "daily-insights")
    assert not daily.due  # the loop waits before hammering a failing provider again

    server.fail_marker = None
    again = cli("daemon", "run-once", "--json")  # the same minute
    assert again.exit_code == 0
    assert "daily-insights" not in {i["job"] for i in again.json["not_due"]}
    item = next(i for i in again.json["ran"] if i["job"] == "daily-insights")
    assert (item["status"], item["result"]["done"], item["result"]["skipped"]) == ("ok", 1, 2)
    assert {r["user"]: (r["status"], r["attempts"]) for r in insight_rows()}["zed0000"] == ("done", 2)


@pytest.mark.parametrize(
    ("refusal", "says"),
    [
        (insufficient_quota(), "run out of credit (429 insufficient_quota)"),
        (bad_key(TEST_API_KEY), "rejected the API key (HTTP 401)"),
    ],
    ids=["insufficient_quota", "401"],
)
def test_a_billing_or_auth_refusal_stops_the_batch_and_run_once_exits_1_with_it(
    backend, cli, fake, make_ctx, monkeypatch, refusal, says
):
    monkeypatch.setenv("FINBUDDY_DAEMON_WORKERS", "1")
    server = fake()
    server.always(refusal)
    seed_users(5)
    result = cli("daemon", "run-once", "--json")
    assert result.exit_code == 1
    assert result.json["error"]["type"] == "advisor_unavailable"
    assert says in result.json["error"]["message"]
    assert TEST_API_KEY[-8:] not in result.stdout + result.stderr
    assert server.count == 1  # not once per user
    # The refusal is not the user's failure: no attempt used; nobody else was claimed.
    assert [(r["user"], r["status"], r["attempts"]) for r in insight_rows()] == [("user0000", "failed", 0)]
    run = JobRunner(make_ctx()).runs()["daily-insights"]
    assert run.last_status == "error" and says in run.last_result["stopped"]

    human = cli("daemon", "run-once")
    assert human.exit_code == 1
    assert human.stderr.splitlines()[-1].startswith("finbuddy: AI advisor unavailable: ")
    assert server.count == 2


@pytest.mark.parametrize("tables", [("insights",), FULL_DISK_TABLES], ids=["insights", "every-table"])
def test_a_full_disk_ends_run_once_with_one_line_and_exit_1(backend, cli, finbuddy_env, tables):
    """Issue 8: a full disk made `daemon run-once` print 827 lines with 36 tracebacks. The database refuses
    writes and the log file cannot be written (it is /dev/full): one line, exit 1, details for the log."""
    for amount in ("5", "6", "7"):
        assert cli("--user", f"u{amount}", "add", amount, "coffee").exit_code == 0
    logs = finbuddy_env / "logs"
    logs.mkdir(parents=True)
    (logs / "daemon.log").symlink_to("/dev/full")
    with database_refuses_writes(tables):
        human = cli("daemon", "run-once")
        as_json = cli("daemon", "run-once", "--json")
    expected = "disk is full" if backend == "sqlite" else "No space left on device"
    assert human.exit_code == 1
    assert human.stdout == ""
    assert len(human.stderr.splitlines()) == 1, human.stderr
    assert human.stderr.startswith("finbuddy: database error on ") and expected in human.stderr
    assert as_json.exit_code == 1
    assert as_json.json["error"]["type"] == "storage_error" and expected in as_json.json["error"]["message"]
    assert insight_rows() == []


def test_a_model_name_longer_than_its_column_is_stored_clamped_and_every_insight_written(backend, fake, make_ctx):
    """Issue 8: a model name over 64 characters broke every insight on PostgreSQL."""
    from finbuddy.daemon.insights import latest_insight, run_insight_batch

    model = "ft:gpt-4o-mini-2024-07-18:acme-personal-finance:daily-insights-v2:9ZxKq1b2c3d4e5f6"
    assert len(model) > 64
    fake(reported_model=model)  # asked for gpt-4o-mini, it reports serving this
    users = seed_users(2)
    ctx = make_ctx()
    summary = run_insight_batch(ctx)
    assert (summary.done, summary.failed, summary.stopped) == (2, 0, None)
    assert [latest_insight(ctx, user).model for user in users] == [model[:64]] * 2


def test_insights_count_toward_the_global_limit_not_the_ask_quota(backend, fake, make_ctx):
    from finbuddy.advisor import quota_status
    from finbuddy.daemon.insights import run_insight_batch

    fake()
    users = seed_users(3)
    ctx = make_ctx()
    summary = run_insight_batch(ctx)
    assert summary.done == 3
    for user in users:
        status = quota_status(ctx, user)
        assert (status.used, status.remaining) == (0, 5)
    assert quota_status(ctx, users[0]).global_used == 3


def test_the_global_limit_ends_the_batch_and_leaves_the_rest_for_later(backend, fake, make_ctx, monkeypatch):
    from finbuddy.daemon.insights import run_insight_batch

    monkeypatch.setenv("FINBUDDY_AI_GLOBAL_DAILY_LIMIT", "2")
    monkeypatch.setenv("FINBUDDY_DAEMON_WORKERS", "1")
    server = fake()
    seed_users(4)
    summary = run_insight_batch(make_ctx())
    assert (summary.done, summary.remaining, summary.stopped) == (2, 2, "global limit reached")
    assert server.count == 2
    rows = insight_rows()
    assert [r["status"] for r in rows] == ["done", "done", "failed"]
    assert rows[2]["attempts"] == 0  # the limit is not the user's failure: no attempt used up


def test_two_concurrent_batches_never_call_twice_for_one_user(backend, fake, make_ctx):
    from finbuddy.daemon.insights import run_insight_batch

    server = fake(latency=0.2)
    seed_users(6)
    summaries = []
    threads = [threading.Thread(target=lambda: summaries.append(run_insight_batch(make_ctx()))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert server.count == 6
    assert sum(s.done for s in summaries) == 6
    assert [r["attempts"] for r in insight_rows()] == [1] * 6


def test_a_claim_held_by_a_dead_process_is_retaken_at_once_but_a_live_one_is_not(backend, make_ctx):
    from finbuddy.daemon.insights import run_insight_batch
    from finbuddy.db.insights import claim_insight
    from finbuddy.db.users import find_user_id

    seed_users(2)
    ctx = make_ctx()
    now = ctx.now()
    with live_worker_identity() as live:
        with ctx.db.write() as conn:
            for name, owner in (("user0000", dead_worker_identity()), ("user0001", live)):
                claim_insight(conn, find_user_id(conn, name), ctx.today(), owner, now, now, 3)
        summary = run_insight_batch(ctx)  # offline provider
    assert (summary.done, summary.skipped, summary.remaining) == (1, 1, 1)
    assert {r["user"]: r["status"] for r in insight_rows()} == {"user0000": "done", "user0001": "claimed"}


def test_a_claim_owner_is_dead_only_when_its_process_is_gone_from_this_host_and_pid_namespace():
    from finbuddy.daemon.insights import owner_is_dead, worker_identity

    assert owner_is_dead(dead_worker_identity())
    with live_worker_identity() as live:
        assert not owner_is_dead(live)
    assert owner_is_dead(live)

    ours = worker_identity()
    host, pid, namespace, started, token, batch = ours.split(":")
    assert len(ours) <= 64
    assert owner_is_dead(ours)  # ours, but no worker of this process is inside write_insight with it
    # A container with our host name and our pid, in its own pid namespace: alive as far as we can tell.
    assert not owner_is_dead(":".join((host, pid, "0ther0ns", started, "beef00", batch)))
    # A process that had our pid in our namespace before us: gone.
    assert owner_is_dead(":".join((host, pid, namespace, started, "beef00", batch)))
    # Another host, or an owner we cannot read: left to the time-based staleness.
    assert not owner_is_dead(":".join(("elsewhere", pid, namespace, started, token, batch)))
    assert not owner_is_dead(f"{host}:{pid}:aa")


def test_select_due_tries_new_retryable_and_abandoned_rows_and_counts_the_rest():
    from finbuddy.daemon.insights import MAX_ATTEMPTS, select_due
    from finbuddy.db.insights import InsightState

    now = at("2026-11-25T12:00:00")
    stale_before = now - dt.timedelta(minutes=10)

    def state(user, status=None, attempts=0, owner=None, claimed_at=None):
        return InsightState(len(user), user, status, attempts, owner, claimed_at)

    states = [
        state("new"),
        state("retry", "failed", 1),
        state("spent", "failed", MAX_ATTEMPTS),
        state("stale", "claimed", 1, "elsewhere:1:aa", now - dt.timedelta(hours=1)),
        state("busy", "claimed", 1, "elsewhere:1:bb", now - dt.timedelta(seconds=5)),
        state("written", "done", 1),
    ]
    selection = select_due(states, stale_before)
    assert [s.user for s in selection.todo] == ["new", "retry", "stale"]
    assert (selection.skipped, selection.held) == (2, 1)


def test_batch_summary_counts_each_users_result():
    from finbuddy.daemon.insights import DONE, FAILED, HELD, SKIPPED, BatchSummary, UserInsight

    summary = BatchSummary(day=dt.date(2026, 11, 25))
    for result in (
        UserInsight("a", DONE),
        UserInsight("b", FAILED, error="provider down"),
        UserInsight("c", HELD),
        UserInsight("d", SKIPPED),
    ):
        summary.add(result)
    assert (summary.done, summary.failed, summary.skipped, summary.remaining) == (1, 1, 2, 2)
    assert summary.errors == ["b: provider down"]
    assert not summary.complete


def test_write_insight_for_one_user_and_day_calls_the_ai_once_whoever_asks(backend, fake, make_ctx):
    """The per-user step the batch (and phase 2's queue workers) call: idempotent through the database claim."""
    from finbuddy.daemon.insights import DONE, HELD, SKIPPED, write_insight
    from finbuddy.db.insights import claim_insight
    from finbuddy.db.users import find_user_id

    server = fake()
    seed_users(2)
    ctx = make_ctx()
    day = ctx.today()
    first = write_insight(ctx, "user0000", day, "worker-a")
    assert (first.status, server.count) == (DONE, 1)
    assert first.answer is not None and first.answer.text.startswith("Fake advice")
    again = write_insight(ctx, "user0000", day, "worker-b")
    assert (again.status, server.count) == (SKIPPED, 1)
    # A live claim of another worker is left to it.
    with ctx.db.write() as conn:
        claim_insight(conn, find_user_id(conn, "user0001"), day, "elsewhere:1:cc", ctx.now(), ctx.now(), 3)
    held = write_insight(ctx, "user0001", day, "worker-a")
    assert (held.status, server.count) == (HELD, 1)
    rows = {r["user"]: (r["status"], r["claimed_by"]) for r in insight_rows()}
    assert rows == {"user0000": ("done", "worker-a"), "user0001": ("claimed", "elsewhere:1:cc")}
    with pytest.raises(ValueError, match="1 to 64 characters"):
        write_insight(ctx, "user0001", day, "w" * 65)  # would not fit insights.claimed_by


def test_pacer_spaces_calls_from_many_threads():
    pacer = Pacer(per_minute=1200)  # ~51.5 ms apart with the headroom
    starts: list[float] = []
    lock = threading.Lock()

    def take():
        for _ in range(3):
            pacer.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    # Load can only make threads later, never earlier: 12 starts span at least 11 intervals.
    assert starts[-1] - began >= 11 * pacer.interval - 0.01


def test_pacer_hands_out_one_evenly_spaced_slot_per_call_whatever_the_threads():
    """Deterministic: with the clock standing still, 12 calls from 4 threads take 12 distinct slots
    exactly one interval apart (wall-clock gaps between threads are not asserted: load skews them)."""
    pacer = Pacer(per_minute=600_000, monotonic=lambda: 100.0)  # ~0.1 ms apart: the real sleeps are tiny
    threads = [threading.Thread(target=lambda: [pacer.acquire() for _ in range(3)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pacer._next_slot == pytest.approx(100.0 + 12 * pacer.interval)
    assert pacer.slots == 12
    assert pacer.min_spacing == pytest.approx(pacer.interval)
    assert pacer.decided_per_minute() == pytest.approx(600_000 * 0.97)


def test_pacer_wait_ends_when_stopped():
    pacer = Pacer(per_minute=1)
    stop = threading.Event()
    assert pacer.acquire(stop)
    threading.Timer(0.1, stop.set).start()
    began = time.monotonic()
    assert pacer.acquire(stop) is False
    assert time.monotonic() - began < 5


# --- commands ------------------------------------------------------------------------


def test_insights_command_shows_the_latest_insight_with_its_date(backend, cli):
    missing = cli("insights")
    assert missing.exit_code == 1
    assert "no daily insight for alice yet" in missing.stderr
    assert cli("add", "42", "groceries").exit_code == 0
    assert cli("daemon", "run-once").exit_code == 0
    shown = cli("insights", "--json")
    assert shown.exit_code == 0
    data = shown.json
    assert (data["user"], data["date"], data["source"]) == ("alice", "2026-11-25", "offline")
    assert "No LLM was used" in data["text"]
    assert data["figures"]["this_month"]["expenses"] == "42.00"
    human = cli("insights")
    assert human.stdout.startswith("Daily insight for alice, 2026-11-25 (offline):")


def test_run_once_human_output_and_status_json(cli):
    assert cli("add", "5", "coffee").exit_code == 0
    once = cli("daemon", "run-once")
    assert once.exit_code == 0
    assert "daily-insights: ok — done 1, skipped 0, failed 0, calls 0, tokens 0" in once.stdout
    assert "daily insights" in once.stderr  # the progress bar, on stderr
    status = cli("daemon", "status", "--json")
    assert status.exit_code == 0
    data = status.json
    assert (data["running"], data["pid"], data["started_at"]) == (False, None, None)
    jobs = {job["job"]: job for job in data["jobs"]}
    assert set(jobs) == {job.name for job in default_jobs(load_settings())}
    daily = jobs["daily-insights"]
    assert daily["next_run"] == "2026-11-26T07:00:00+00:00"
    assert (daily["last_day"], daily["last_status"], daily["due"]) == ("2026-11-25", "ok", False)
    assert daily["last_result"]["done"] == 1
    assert jobs["cache-maintenance"]["next_run"] == "2026-11-25T13:00:00+00:00"
    assert cli("daemon", "status").stdout.startswith("finbuddy daemon: not running")
