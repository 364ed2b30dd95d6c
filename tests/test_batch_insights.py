"""Daily insights through the OpenAI Batch API (ai.insights_mode = batch), against the loopback fake's Batch API
endpoints, on SQLite and PostgreSQL: submitted once per day, ingested by custom_id, retried within attempts,
costed at batch prices, never swept or called synchronously while live."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import FIXED_NOW
from tests.fakes_daemon import insight_rows, seed_users
from tests.helpers_ledger import one_line_error, query

DAY = "2026-11-25"


@pytest.fixture
def api(monkeypatch, openai_server):
    """The fake's Batch API, with finbuddy's daily insights in batch mode."""
    monkeypatch.setenv("FINBUDDY_AI_INSIGHTS_MODE", "batch")
    return openai_server.batch_api


def daily(result) -> dict | None:
    """The daily-insights job's entry in `daemon run-once --json` (None: it was not due)."""
    assert result.exit_code in (0, 1), result.stderr
    return next((item for item in result.json["ran"] if item["job"] == "daily-insights"), None)


def at(monkeypatch, moment: str) -> None:
    monkeypatch.setenv("FINBUDDY_FAKE_NOW", moment)


def batches(db_url: str) -> list[dict]:
    return query(db_url, "SELECT * FROM ai_batches ORDER BY day, chunk")


def user_ids(db_url: str) -> dict[str, int]:
    return {row["name"]: row["id"] for row in query(db_url, "SELECT id, name FROM users")}


def ledger(db_url: str) -> list[dict]:
    return query(
        db_url,
        "SELECT u.name, c.day, c.kind, c.status, c.counts_quota, c.tokens_in, c.tokens_out, c.cost_micro_usd, "
        "c.latency_ms FROM ai_calls c JOIN users u ON u.id = c.user_id ORDER BY u.name, c.created_at, c.status",
    )


def global_used(db_url: str) -> int:
    rows = query(db_url, "SELECT day, used FROM ai_global_usage")
    return sum(row["used"] for row in rows if str(row["day"]) == DAY)


def posts(api, path: str) -> int:
    return sum(1 for method, seen in api.requests if method == "POST" and seen.split("?")[0] == path)


# --- once per day ------------------------------------------------------------------------------------


def test_batch_mode_submits_the_days_lines_once_and_a_second_run_submits_nothing(
    backend, cli, api, openai_server, db_url
):
    users = seed_users(4)
    first = daily(cli("daemon", "run-once", "--json"))
    assert first["status"] == "batched"
    result = first["result"]
    assert (result["mode"], result["submitted"], result["batches"], result["in_batches"]) == ("batch", 4, 1, 4)

    # One file, one batch, created as the API wants it; no chat-completions call at all.
    assert (posts(api, "/v1/files"), posts(api, "/v1/batches")) == (1, 1)
    assert openai_server.count == 0
    [batch] = api.batches.values()
    assert (batch["endpoint"], batch["completion_window"]) == ("/v1/chat/completions", "24h")
    [row] = batches(db_url)
    identity = query(db_url, "SELECT id FROM database_identity")[0]["id"]
    assert batch["metadata"] == {
        "finbuddy_batch": row["id"],
        "finbuddy_job": "daily-insights",
        "finbuddy_day": DAY,
        "finbuddy_chunk": "0",
        "finbuddy_database": identity,
    }
    assert (row["status"], row["batch_id"], row["lines"], str(row["day"])) == ("submitted", batch["id"], 4, DAY)
    ids = user_ids(db_url)
    lines = api.lines(batch["id"])
    assert sorted(line["custom_id"] for line in lines) == sorted(f"u{ids[u]}:{DAY}" for u in users)

    # A second run the same day polls the batch and submits nothing.
    second = daily(cli("daemon", "run-once", "--json"))
    assert second["status"] == "batched"
    assert (second["result"]["submitted"], second["result"]["batches"]) == (0, 0)
    assert (posts(api, "/v1/files"), posts(api, "/v1/batches"), len(api.batches)) == (1, 1, 1)
    assert ("GET", f"/v1/batches/{batch['id']}") in api.requests
    assert openai_server.count == 0


def test_a_batch_line_carries_the_request_the_sync_path_sends(backend, cli, api, openai_server, monkeypatch):
    seed_users(1, prefix="alpha")
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    [line] = api.all_lines()
    # Another user with the very same data, written synchronously (alpha is held by its batch): the server gets the
    # same request, which is the Batch API line's body.
    monkeypatch.setenv("FINBUDDY_AI_INSIGHTS_MODE", "sync")
    seed_users(1, prefix="beta")
    assert daily(cli("daemon", "run-once", "--json"))["result"]["calls"] == 1
    [sync_request] = openai_server.requests
    assert line["body"] == sync_request["body"]
    assert line["body"]["messages"][1]["content"].startswith("Write today's short budget insight")
    assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")


def test_a_lost_create_answer_and_a_failing_lookup_then_a_rerun_creates_no_second_batch(
    backend, cli, api, openai_server, db_url
):
    seed_users(3)
    api.drop_create = 1  # the batch is created, but its answer never comes back ...
    api.list_fails = True  # ... and it cannot be looked up either: the run ends between upload and recording
    first = daily(cli("daemon", "run-once", "--json"))
    assert first["status"] == "partial"
    assert any("listing batches" in error for error in first["result"]["errors"])
    assert len(api.batches) == 1
    [row] = batches(db_url)
    assert (row["status"], row["batch_id"]) == ("uploaded", None)
    assert row["input_file_id"] in api.files

    api.list_fails = False
    second = daily(cli("daemon", "run-once", "--json"))
    assert second["status"] == "batched"
    [batch] = api.batches.values()  # found by its metadata: still one batch, and no second upload
    assert (posts(api, "/v1/batches"), posts(api, "/v1/files")) == (1, 1)
    [row] = batches(db_url)
    assert (row["status"], row["batch_id"]) == ("submitted", batch["id"])

    api.complete()
    third = daily(cli("daemon", "run-once", "--json"))
    assert (third["status"], third["result"]["done"]) == ("ok", 3)
    assert [r["status"] for r in insight_rows()] == ["done"] * 3
    assert openai_server.count == 0


def test_a_submitter_killed_after_creating_its_batch_then_a_rerun_finds_it_by_metadata(
    backend, cli, api, openai_server, db_url
):
    seed_users(3)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "finbuddy", "daemon", "run-once", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # kill -9 the moment the batch exists at the provider, before the answer reaches the process.
    api.on_created = lambda _batch_id: os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    api.on_created = None
    assert len(api.batches) == 1
    [row] = batches(db_url)
    assert (row["status"], row["batch_id"]) == ("uploaded", None)

    rerun = daily(cli("daemon", "run-once", "--json"))
    assert rerun["status"] == "batched"
    [batch] = api.batches.values()
    assert posts(api, "/v1/batches") == 1
    [row] = batches(db_url)
    assert (row["status"], row["batch_id"], row["lines"]) == ("submitted", batch["id"], 3)
    assert openai_server.count == 0


# --- ingestion -------------------------------------------------------------------------------------


def test_every_users_insight_is_ingested_by_custom_id_whatever_the_output_order(
    backend, cli, api, openai_server, db_url
):
    users = seed_users(6)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    api.complete()
    [batch_id] = api.batches
    sent_order = [line["custom_id"] for line in api.lines(batch_id)]
    answered_order = [line["custom_id"] for line in api.output(batch_id)]
    assert sorted(answered_order) == sorted(sent_order) and answered_order != sent_order

    done = daily(cli("daemon", "run-once", "--json"))
    assert done["status"] == "ok"
    assert (done["result"]["done"], done["result"]["failed"], done["result"]["remaining"]) == (6, 0, 0)
    ids = user_ids(db_url)
    for user in users:
        shown = cli("--user", user, "insights", "--json")
        assert shown.exit_code == 0, shown.stderr
        insight = shown.json
        assert insight["text"] == f"Insight for u{ids[user]}:{DAY}: keep an eye on your budgets."
        assert (insight["date"], insight["source"], insight["model"]) == (DAY, "openai", "gpt-4o-mini")
        assert insight["figures"]["today"] == DAY  # the figures the line was built from
    assert [(r["status"], r["attempts"]) for r in insight_rows()] == [("done", 1)] * 6
    assert {row["status"] for row in ledger(db_url)} == {"succeeded"}
    [row] = batches(db_url)
    assert (row["status"], row["provider_status"], row["succeeded"], row["failed"]) == ("ingested", "completed", 6, 0)
    # The day is complete: nothing is due, nothing more is sent.
    assert daily(cli("daemon", "run-once", "--json")) is None
    assert (posts(api, "/v1/batches"), openai_server.count) == (1, 0)


def test_a_batch_completing_after_some_polls_is_ingested_by_the_run_that_sees_it_done(backend, cli, api, db_url):
    seed_users(2)
    api.polls_to_complete = 2
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    polled = daily(cli("daemon", "run-once", "--json"))  # poll 1: in progress
    assert (polled["status"], polled["result"]["done"]) == ("batched", 0)
    assert batches(db_url)[0]["provider_status"] == "in_progress"
    done = daily(cli("daemon", "run-once", "--json"))  # poll 2: completed, and ingested
    assert (done["status"], done["result"]["done"]) == ("ok", 2)


def test_a_failed_line_is_refunded_and_retried_by_the_next_batch_within_attempts(backend, cli, api, db_url):
    seed_users(2)
    seed_users(1, prefix="zed", category="poisoncat")
    api.fail_marker = "poisoncat"
    assert daily(cli("daemon", "run-once", "--json"))["result"]["submitted"] == 3
    api.complete()
    second = daily(cli("daemon", "run-once", "--json"))
    # Two written, zed's line failed: refunded, and sent again in the next batch by the same run.
    assert (second["status"], second["result"]["done"], second["result"]["failed"]) == ("batched", 2, 1)
    assert second["result"]["submitted"] == 1
    zed = next(r for r in insight_rows() if r["user"] == "zed0000")
    assert (zed["status"], zed["attempts"]) == ("batched", 2)
    assert [(b["chunk"], b["status"], b["lines"], b["succeeded"], b["failed"]) for b in batches(db_url)] == [
        (0, "ingested", 3, 2, 1),
        (1, "submitted", 1, 0, 0),
    ]
    assert [r["status"] for r in ledger(db_url) if r["name"] == "zed0000"] == ["batched", "refunded"]
    assert global_used(db_url) == 3  # two answered and zed's retry; the failed line was given back

    api.fail_marker = None  # the retry succeeds
    api.complete()
    third = daily(cli("daemon", "run-once", "--json"))
    assert (third["status"], third["result"]["done"]) == ("ok", 1)
    zed = next(r for r in insight_rows() if r["user"] == "zed0000")
    assert (zed["status"], zed["attempts"]) == ("done", 2)
    assert [r["status"] for r in ledger(db_url) if r["name"] == "zed0000"] == ["refunded", "succeeded"]


def test_a_line_that_always_fails_stops_after_the_days_attempts(backend, cli, api, db_url):
    seed_users(1)
    seed_users(1, prefix="zed", category="poisoncat")
    api.fail_marker = "poisoncat"
    statuses = []
    for _ in range(5):
        item = daily(cli("daemon", "run-once", "--json"))
        statuses.append(item["status"] if item else None)
        api.complete()
    zed = next(r for r in insight_rows() if r["user"] == "zed0000")
    assert (zed["status"], zed["attempts"]) == ("failed", 3)
    assert "batch line failed: HTTP 500" in zed["error"]
    # The first batch (both users), then two retries of zed alone; after the third failure, nothing more.
    assert [b["lines"] for b in batches(db_url)] == [2, 1, 1]
    assert statuses == ["batched", "batched", "batched", "ok", None]
    assert [r["status"] for r in ledger(db_url) if r["name"] == "zed0000"] == ["refunded"] * 3
    assert global_used(db_url) == 1


def test_an_expired_batch_keeps_its_answers_and_the_rest_is_retried(backend, cli, api, db_url):
    seed_users(3)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    api.expire(answered=1)
    item = daily(cli("daemon", "run-once", "--json"))
    assert (item["result"]["done"], item["result"]["failed"], item["result"]["submitted"]) == (1, 2, 2)
    first = batches(db_url)[0]
    assert (first["provider_status"], first["succeeded"], first["failed"]) == ("expired", 1, 2)
    assert first["error"] == "ended expired"
    assert sorted(r["status"] for r in insight_rows()) == ["batched", "batched", "done"]


def test_a_batch_still_running_past_its_window_is_cancelled_and_treated_as_expired(
    backend, cli, api, monkeypatch, db_url
):
    seed_users(2)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    at(monkeypatch, "2026-11-26T12:01:00+00:00")  # 24 h and a minute later, the batch still in progress
    item = daily(cli("daemon", "run-once", "--json"))
    assert api.statuses()[0] == "cancelled"
    first = batches(db_url)[0]
    assert (first["status"], first["provider_status"], first["failed"]) == ("ingested", "expired", 2)
    old = [r for r in insight_rows(dt.date(2026, 11, 25))]
    assert [(r["status"], r["attempts"]) for r in old] == [("failed", 1)] * 2
    assert "past its 24 h window" in old[0]["error"]
    assert [r["status"] for r in ledger(db_url) if str(r["day"]) == DAY] == ["refunded", "refunded"]
    # The new day's lines go in a batch of their own.
    assert item["result"]["day"] == "2026-11-26" and item["result"]["submitted"] == 2


def test_a_batch_the_provider_no_longer_knows_releases_its_lines_for_the_next_batch(backend, cli, api, db_url):
    seed_users(2)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    api.batches.clear()  # deleted at the provider (or made under another account): 404 from now on
    item = daily(cli("daemon", "run-once", "--json"))
    assert (item["result"]["failed"], item["result"]["submitted"]) == (2, 2)
    first, second = batches(db_url)
    assert (first["status"], first["provider_status"], first["failed"]) == ("ingested", "gone", 2)
    assert "HTTP 404" in first["error"]
    assert second["status"] == "submitted"
    assert [(r["status"], r["attempts"]) for r in insight_rows()] == [("batched", 2)] * 2


def test_two_runs_at_once_send_each_users_line_once(backend, api, db_url):
    import threading

    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.daemon.batch_insights import BatchInsightRun

    seed_users(5)
    start = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        ctx = Context(settings=load_settings())
        try:
            start.wait()
            results.append(BatchInsightRun(ctx).run())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            ctx.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    custom_ids = [line["custom_id"] for line in api.all_lines()]
    assert len(custom_ids) == len(set(custom_ids)) == 5
    assert sum(result.submitted for result in results) == 5
    assert global_used(db_url) == 5
    assert [b["status"] for b in batches(db_url)] == ["submitted"] * len(api.batches)


# --- prices, limits, files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_prices", "per_line"),
    [
        # half the synchronous 0.15 / 0.60 USD per million tokens: 1000 × 0.075 + 200 × 0.30 = 135 micro-USD
        ("", 135),
        # the price table's own batch prices: 1000 × 0.10 + 200 × 0.50 = 200 micro-USD
        ("batch_input = 0.10\nbatch_output = 0.50\n", 200),
    ],
    ids=["half-price", "configured"],
)
def test_batch_lines_are_recorded_at_batch_prices(backend, cli, api, finbuddy_env, db_url, batch_prices, per_line):
    finbuddy_env.mkdir(parents=True, exist_ok=True)
    (finbuddy_env / "config.toml").write_text(
        f'[ai.prices."gpt-4o-mini"]\ninput = 0.15\noutput = 0.60\n{batch_prices}', encoding="utf-8"
    )
    seed_users(2)
    api.usage = {"prompt_tokens": 1000, "completion_tokens": 200}
    cli("daemon", "run-once", "--json")
    assert {row["status"] for row in ledger(db_url)} == {"batched"}
    api.complete()
    item = daily(cli("daemon", "run-once", "--json"))
    assert (item["result"]["cost_micro_usd"], item["result"]["tokens"]) == (2 * per_line, 2 * 1200)
    rows = ledger(db_url)
    assert [
        (r["kind"], r["status"], r["counts_quota"], r["tokens_in"], r["tokens_out"], r["cost_micro_usd"]) for r in rows
    ] == [("insight", "succeeded", 0, 1000, 200, per_line)] * 2
    assert all(r["latency_ms"] is not None and r["latency_ms"] >= 0 for r in rows)
    usage = cli("usage", "--all", "--days", "1", "--json")
    assert usage.json["total"]["estimated_cost_usd"] == f"0.{2 * per_line:06d}"
    assert usage.json["total"]["calls"] == 2


def test_the_insight_share_of_the_global_limit_caps_the_lines_submitted(backend, cli, api, monkeypatch, db_url):
    monkeypatch.setenv("FINBUDDY_AI_GLOBAL_DAILY_LIMIT", "5")
    monkeypatch.setenv("FINBUDDY_AI_ASK_RESERVE", "0.2")  # insights may take 4 of the 5
    seed_users(6)
    item = daily(cli("daemon", "run-once", "--json"))
    assert item["status"] == "partial"
    assert (item["result"]["submitted"], item["result"]["stopped"]) == (4, "global limit for insights reached")
    assert global_used(db_url) == 4
    assert len(api.all_lines()) == 4
    # The asks' share is still there.
    assert cli("ask", "how am I doing?", "--json").exit_code == 0


def test_a_day_over_the_line_limit_is_split_into_files_of_at_most_that_many_lines(
    backend, cli, api, monkeypatch, db_url
):
    from finbuddy.advisor import batch as batch_module

    monkeypatch.setattr(batch_module, "MAX_LINES", 3)  # the real 50,000: test_the_real_limits_...
    seed_users(7)
    item = daily(cli("daemon", "run-once", "--json"))
    assert (item["result"]["submitted"], item["result"]["batches"]) == (7, 3)
    rows = batches(db_url)
    assert [(r["chunk"], r["lines"], r["status"]) for r in rows] == [
        (0, 3, "submitted"),
        (1, 3, "submitted"),
        (2, 1, "submitted"),
    ]
    assert [batch["request_counts"]["total"] for batch in api.batches.values()] == [3, 3, 1]
    custom_ids = [line["custom_id"] for line in api.all_lines()]
    assert len(set(custom_ids)) == 7
    api.complete()
    assert daily(cli("daemon", "run-once", "--json"))["result"]["done"] == 7


def test_the_real_limits_cut_files_at_50000_lines_and_under_200_mb():
    from finbuddy.advisor.batch import MAX_FILE_BYTES, MAX_LINES, split_lines

    assert MAX_LINES == 50_000
    assert [len(f) for f in split_lines(range(120_001), lambda _: 100)] == [50_000, 50_000, 20_001]
    # 4,000-byte lines: 190 MiB hold 49,807 of them, under the API's 200 MB even read as 200,000,000 bytes.
    files = [len(f) for f in split_lines(range(100_000), lambda _: 4000)]
    assert files == [49_807, 49_807, 386]
    assert 49_807 * 4000 <= MAX_FILE_BYTES < 200_000_000 < 49_808 * 4000 + 200_000_000


def test_a_file_of_the_maximum_lines_is_accepted_and_one_more_line_is_refused(api):
    from finbuddy.advisor import MAX_LINES, BatchClient, ProviderFailure
    from finbuddy.config import load_settings

    client = BatchClient(load_settings())
    assert client.upload("max.jsonl", b"{}\n" * MAX_LINES).startswith("file-")
    with pytest.raises(ProviderFailure, match="HTTP 400"):
        client.upload("over.jsonl", b"{}\n" * (MAX_LINES + 1))


# --- live lines: never swept, never called synchronously ------------------------------------------------


def test_a_reservation_in_a_live_batch_is_not_swept_until_its_window_has_passed(backend, cli, api, monkeypatch, db_url):
    from finbuddy.advisor import sweep_stale_reservations
    from finbuddy.clock import Clock
    from finbuddy.config import load_settings
    from finbuddy.context import Context

    seed_users(2)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    start = dt.datetime.fromisoformat(FIXED_NOW)

    def sweep(after: dt.timedelta) -> int:
        ctx = Context(settings=load_settings(), clock=Clock(start + after))
        try:
            return sweep_stale_reservations(ctx)
        finally:
            ctx.close()

    # Far older than any call can take (a plain reservation is swept after ~2 minutes), but the batch is live.
    assert sweep(dt.timedelta(hours=2)) == 0
    assert sweep(dt.timedelta(hours=25)) == 0
    assert [r["status"] for r in ledger(db_url)] == ["batched", "batched"]
    assert global_used(db_url) == 2
    # Once its window (and the time to submit and to read it) has surely passed, the lines are given back.
    assert sweep(dt.timedelta(hours=26, minutes=1)) == 2
    assert [r["status"] for r in ledger(db_url)] == ["refunded", "refunded"]
    assert global_used(db_url) == 0


def test_no_synchronous_call_is_made_for_a_user_whose_line_is_in_a_live_batch(
    backend, cli, api, openai_server, monkeypatch, db_url
):
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.daemon.insights import HELD, worker_identity, write_insight

    users = seed_users(2)
    assert daily(cli("daemon", "run-once", "--json"))["status"] == "batched"
    # A queue worker's entry point: the user is held by the batch.
    ctx = Context(settings=load_settings())
    try:
        assert write_insight(ctx, users[0], dt.date(2026, 11, 25), worker_identity()).status == HELD
    finally:
        ctx.close()
    # Switched back to sync mode: the paced batch leaves them to their batch, and still ingests it.
    monkeypatch.setenv("FINBUDDY_AI_INSIGHTS_MODE", "sync")
    item = daily(cli("daemon", "run-once", "--json"))
    assert (item["status"], item["result"]["calls"], item["result"]["remaining"]) == ("partial", 0, 2)
    api.complete()
    item = daily(cli("daemon", "run-once", "--json"))
    assert item["status"] == "ok"
    assert [r["status"] for r in insight_rows()] == ["done", "done"]
    assert openai_server.count == 0


def test_an_unsubmitted_batch_is_retried_then_given_up_after_the_deadline_and_its_lines_released(
    backend, cli, api, monkeypatch, db_url
):
    seed_users(2)
    api.upload_fails = True
    first = daily(cli("daemon", "run-once", "--json"))
    assert first["status"] == "partial" and "uploading batch file" in first["result"]["errors"][0]
    assert [(b["status"], b["lines"]) for b in batches(db_url)] == [("preparing", 2)]
    assert [r["status"] for r in insight_rows()] == ["batched", "batched"]  # held by the intent, not called

    at(monkeypatch, "2026-11-25T12:30:00+00:00")  # still failing: the intent is tried again, nothing new planned
    daily(cli("daemon", "run-once", "--json"))
    assert [b["status"] for b in batches(db_url)] == ["preparing"]

    api.upload_fails = False
    at(monkeypatch, "2026-11-25T13:01:00+00:00")  # past the deadline: given up, its lines released and planned anew
    item = daily(cli("daemon", "run-once", "--json"))
    assert [(b["chunk"], b["status"]) for b in batches(db_url)] == [(0, "abandoned"), (1, "submitted")]
    assert item["result"]["submitted"] == 2
    assert [r["status"] for r in ledger(db_url)] == ["refunded", "batched", "refunded", "batched"]
    assert [(r["status"], r["attempts"]) for r in insight_rows()] == [("batched", 2)] * 2
    assert len(api.batches) == 1


# --- status and configuration -------------------------------------------------------------------------


def test_daemon_status_shows_the_days_batches_and_their_state(backend, cli, api):
    seed_users(3)
    cli("daemon", "run-once", "--json")
    status = cli("daemon", "status", "--json")
    assert status.exit_code == 0, status.stderr
    [shown] = status.json["insight_batches"]
    assert (shown["day"], shown["chunk"], shown["status"], shown["lines"]) == (DAY, 0, "submitted", 3)
    assert shown["batch_id"] in api.batches and shown["provider_status"] == "validating"
    assert shown["expires_at"] == "2026-11-26T12:00:00+00:00"
    api.complete()
    cli("daemon", "run-once", "--json")
    [shown] = cli("daemon", "status", "--json").json["insight_batches"]
    assert (shown["status"], shown["provider_status"], shown["succeeded"], shown["failed"]) == (
        "ingested",
        "completed",
        3,
        0,
    )
    human = cli("daemon", "status")
    assert human.exit_code == 0
    assert "insight batches (OpenAI Batch API)" in human.stdout
    assert "ingested" in human.stdout and "completed" in human.stdout


def test_insights_mode_is_sync_by_default_and_must_be_sync_or_batch(cli, monkeypatch):
    shown = cli("config", "show", "--json")
    assert shown.json["settings"]["ai"]["insights_mode"] == "sync"
    monkeypatch.setenv("FINBUDDY_AI_INSIGHTS_MODE", "bulk")
    bad = cli("quota")
    assert bad.exit_code == 2
    line = one_line_error(bad.stderr)
    assert "FINBUDDY_AI_INSIGHTS_MODE='bulk'" in line and "sync" in line and "batch" in line


def test_a_batch_price_that_is_not_a_number_is_refused(cli, finbuddy_env):
    finbuddy_env.mkdir(parents=True, exist_ok=True)
    (finbuddy_env / "config.toml").write_text(
        '[ai.prices."gpt-4o-mini"]\ninput = 0.15\noutput = 0.60\nbatch_input = "cheap"\n', encoding="utf-8"
    )
    bad = cli("quota")
    assert bad.exit_code == 2
    assert "batch_input must be a non-negative number" in one_line_error(bad.stderr)


def test_status_json_of_an_install_without_batches_lists_none(cli):
    status = cli("daemon", "status", "--json")
    assert status.json["insight_batches"] == []
    assert json.dumps(status.json)  # one JSON document


# --- each user's own local day --------------------------------------------------------------------------


def test_batch_mode_sends_each_users_line_for_their_local_day_and_ingests_it_into_that_days_row(
    backend, cli, api, openai_server, monkeypatch, db_url
):
    """At 2026-11-25T23:30Z it is 26 November in Auckland and still the 25th in Los Angeles and in the install's
    zone (UTC): one run's batch holds alice's line for the 26th and bob's for the 25th (see tests/test_profile.py)."""
    from tests.test_profile import AUCKLAND, LOS_ANGELES, NEAR_MIDNIGHT, two_zones

    at(monkeypatch, NEAR_MIDNIGHT)
    two_zones(cli)
    for user in ("alice", "bob"):
        assert cli("--user", user, "add", "10", "food").exit_code == 0
    ids = user_ids(db_url)
    days = {"alice": "2026-11-26", "bob": "2026-11-25"}
    assert query(db_url, "SELECT name, timezone FROM users ORDER BY name") == [
        {"name": "alice", "timezone": AUCKLAND},
        {"name": "bob", "timezone": LOS_ANGELES},
    ]

    first = daily(cli("daemon", "run-once", "--json"))
    assert first["status"] == "batched"
    assert (first["result"]["day"], first["result"]["submitted"], first["result"]["in_batches"]) == (DAY, 2, 2)
    [batch] = api.batches.values()
    lines = {line["custom_id"]: line for line in api.lines(batch["id"])}
    assert sorted(lines) == sorted(f"u{ids[user]}:{day}" for user, day in days.items())
    # Each request was built in its user's own day: the figures say so.
    for user, day in days.items():
        assert f'"today":"{day}"' in lines[f"u{ids[user]}:{day}"]["body"]["messages"][1]["content"]
    # The batch row keeps the planning day (the install's); the insight rows and ledger rows have the users' days.
    [row] = batches(db_url)
    assert (str(row["day"]), row["lines"]) == (DAY, 2)
    assert {r["user"]: (str(r["day"])[:10], r["status"]) for r in insight_rows()} == {
        user: (day, "batched") for user, day in days.items()
    }
    assert {r["name"]: (str(r["day"])[:10], r["status"]) for r in ledger(db_url)} == {
        user: (day, "batched") for user, day in days.items()
    }

    # Submitting again the same day sends nothing more.
    again = daily(cli("daemon", "run-once", "--json"))
    assert (again["status"], again["result"]["submitted"], again["result"]["in_batches"]) == ("batched", 0, 2)
    assert (posts(api, "/v1/files"), posts(api, "/v1/batches")) == (1, 1)

    api.complete()
    done = daily(cli("daemon", "run-once", "--json"))
    assert done["status"] == "ok"
    assert (done["result"]["done"], done["result"]["failed"], done["result"]["remaining"]) == (2, 0, 0)
    assert {r["user"]: (str(r["day"])[:10], r["status"], r["attempts"]) for r in insight_rows()} == {
        user: (day, "done", 1) for user, day in days.items()
    }
    for user, day in days.items():
        shown = cli("--user", user, "insights", "--json")
        assert shown.exit_code == 0, shown.stderr
        assert (shown.json["date"], shown.json["text"]) == (
            day,
            f"Insight for u{ids[user]}:{day}: keep an eye on your budgets.",
        )
    assert {row["status"] for row in ledger(db_url)} == {"succeeded"}
    # The day is complete: nothing is due, nothing more is sent, no synchronous call was made.
    assert daily(cli("daemon", "run-once", "--json")) is None
    assert (posts(api, "/v1/files"), posts(api, "/v1/batches"), openai_server.count) == (1, 1, 0)
