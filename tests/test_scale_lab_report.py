"""The scale lab: the AI bill (--quick, the real guard against the loopback fake) and its report (from fixtures)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scale import params, report, results
from finbuddy.config import DEFAULT_PRICES

ROOT = Path(__file__).resolve().parent.parent
MODES = ("no-cache", "cache", "cache+quota", "cache+quota+batch")


@pytest.fixture(scope="module")
def bill(tmp_path_factory) -> dict[str, Any]:
    """One `aibill.py --quick` run (a subprocess, as a person runs it), its results file in a temporary directory."""
    out = tmp_path_factory.mktemp("aibill")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale" / "aibill.py"), "--quick", "--results-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    print(done.stdout)
    document = json.loads((out / "aibill.json").read_text(encoding="utf-8"))
    assert document["experiment"] == "aibill"
    return document


def usage(figures: dict[str, Any], mode: str) -> dict[str, int]:
    return figures["modes"][mode]["ledger"]["usage_all"]


def test_aibill_quick_measures_every_mode_through_the_ledger(bill):
    figures = bill["figures"]
    assert set(figures["modes"]) == set(MODES)
    for mode in MODES:
        used = usage(figures, mode)
        # Every paid call reached the fake once, and nothing was left reserved or refunded.
        sent = figures["modes"][mode]["fake_requests"]
        assert used["calls"] == sent["chat"] + sent["batch_lines"] > 0
        assert used["in_flight"] == used["failed"] == 0
        assert used["tokens_in"] > 0 and used["tokens_out"] > 0
    assert figures["sample_users"] == 100
    assert figures["modes"]["cache+quota"]["insights"]["done"] == 100
    assert figures["modes"]["cache+quota+batch"]["insights"]["done"] == 100


def test_each_mechanism_makes_no_more_calls_than_the_one_before(bill):
    figures = bill["figures"]
    calls = [usage(figures, mode)["calls"] for mode in MODES]
    assert calls[0] >= calls[1] >= calls[2] >= calls[3]
    # Without the cache, every ask is a call; with it, the repeats are served free (and counted as hits).
    asks = figures["day"]["asks"]
    assert usage(figures, "no-cache")["cache_hits"] == 0
    assert usage(figures, "no-cache")["calls"] == figures["day"]["insights"] + asks
    assert usage(figures, "cache")["cache_hits"] == figures["modes"]["cache"]["asks_served_from_cache"]


def test_the_dollars_are_the_products_prices_times_the_counted_tokens(bill):
    figures = bill["figures"]
    prices = DEFAULT_PRICES["gpt-4o-mini"]
    used = usage(figures, "cache+quota")
    by_hand = used["tokens_in"] * prices["input"] + used["tokens_out"] * prices["output"]  # micro-USD
    # The ledger rounds each call to a micro-dollar: at most half a micro-dollar a call apart.
    assert abs(used["cost_micro_usd"] - by_hand) <= used["calls"] / 2
    # Batch mode: the insights at the Batch API's prices (half, as the product's price table has no batch entry).
    insight = figures["modes"]["cache+quota+batch"]["ledger"]["by_kind"]["insight"]
    by_hand = insight["tokens_in"] * prices["input"] / 2 + insight["tokens_out"] * prices["output"] / 2
    assert abs(insight["cost_micro_usd"] - by_hand) <= insight["calls"] / 2
    assert usage(figures, "cache+quota+batch")["cost_micro_usd"] < used["cost_micro_usd"]
    # Scaled: the sample's per-user dollars times the size.
    scaled = figures["scaled"]["sizes"]["100000"]["cache+quota"]["cost_usd"]
    assert scaled == pytest.approx(used["cost_micro_usd"] / 1e6 / 100 * 100_000, abs=0.01)


def test_aibill_states_its_formulas_and_every_tier(bill):
    durations = bill["figures"]["batch_duration"]
    assert "max(N / rpm" in durations["sync_formula"]
    assert "submit_lines_per_s" in durations["batch_formula"]
    assert set(durations["tiers"]) == {str(rpm) for rpm in params.DAY.provider_tiers_rpm}
    for tier in durations["tiers"].values():
        assert set(tier["sizes"]) == {str(size) for size in params.SIZES}
    assert "per-user rates of the 100-user replay" in bill["figures"]["scaled"]["formula"]


# --- the report, from fixture results ------------------------------------------------------------------------


def _step(concurrency: int, summary_p95: float, errors: int = 0) -> dict[str, Any]:
    def op(p95: float) -> dict[str, float]:
        return {"count": 100, "p50_ms": round(p95 / 3, 1), "p95_ms": p95, "p99_ms": p95 * 1.5}

    return {
        "concurrency": concurrency,
        "ops": 1000,
        "ops_per_s": 50.0 * concurrency,
        "operations": {
            "add": op(12.0),
            "summary": op(summary_p95),
            "summary_cold": op(summary_p95),
            "summary_cached": op(2.0),
            "ask": op(1300.0),
        },
        "errors": errors,
        "stale_reads": 0,
        "cache_hit_rate": 0.71,
        "db_cpu_s": 3.5,
    }


def write_fixtures(directory: Path, bill: dict[str, Any]) -> None:
    results.save(
        "population-sqlite-10000",
        {
            "backend": "sqlite",
            "users": 10_000,
            "rows": {"users": 10_000, "records": 285_023},
            "rows_total": 295_023,
            "rows_per_s": 32_483,
            "elapsed_s": {"total": 9.56},
            "database_bytes": 81_125_376,
            "database_mib": 77.4,
        },
        directory,
    )
    results.save(
        "replay-sqlite-10000",
        {
            "steps": [_step(1, 40.0), _step(2, 90.0), _step(4, 450.0)],
            "breaking_point": {
                "users": 10_000,
                "concurrency": 2,
                "requests_per_s": 100.0,
                "summary_p95_ms": 90.0,
                "saturated": "the single SQLite writer",
                "reason": "at 4 worker processes the workers wait on the one write lock",
            },
        },
        directory,
    )
    results.save(
        "replay-postgresql-1000000",
        {
            "steps": [_step(1, 60.0)],
            "breaking_point": {
                "users": 1_000_000,
                "concurrency": 1,
                "requests_per_s": 50.0,
                "summary_p95_ms": 60.0,
                "saturated": "CPU (the database)",
                "reason": "the cores were busy",
                "extrapolated": "from a 100,000-user clone, latency scaled by the records per user",
            },
        },
        directory,
    )
    (directory / "aibill.json").write_text(json.dumps(bill), encoding="utf-8")


def render_into(tmp_path: Path, results_dir: Path) -> tuple[str, str, Path]:
    doc = tmp_path / "docs" / "SCALING.md"
    doc.parent.mkdir()
    shutil.copyfile(report.SCALING, doc)
    original = doc.read_text(encoding="utf-8")
    report.render(results_dir, doc, doc.parent / "scaling")
    return original, doc.read_text(encoding="utf-8"), doc.parent / "scaling"


def outside_markers(text: str) -> tuple[str, str]:
    head, rest = text.split(report.BEGIN, 1)
    return head, rest.split(report.END, 1)[1]


def inside_markers(text: str) -> str:
    return text.split(report.BEGIN, 1)[1].split(report.END, 1)[0]


def test_report_rewrites_only_between_the_markers(tmp_path, bill):
    results_dir = tmp_path / "results"
    write_fixtures(results_dir, bill)
    original, rendered, _ = render_into(tmp_path, results_dir)
    assert outside_markers(rendered) == outside_markers(original)
    section = inside_markers(rendered)
    assert "## The scale lab: measured on this machine" in section
    # Rendering again from the same files changes nothing.
    (tmp_path / "again").mkdir()
    _, again, _ = render_into(tmp_path / "again", results_dir)
    assert inside_markers(again) == section


def test_report_renders_the_tables_sentences_and_missing_files(tmp_path, bill):
    results_dir = tmp_path / "results"
    write_fixtures(results_dir, bill)
    _, rendered, _ = render_into(tmp_path, results_dir)
    section = inside_markers(rendered)
    # The population row, and "not measured" for the sizes no file covers.
    assert "| sqlite | 10,000 | 295,023 | 285,023 | 32,483 | 9.6 s | 77 MiB |" in section
    assert "| postgresql | 100,000 | not measured |" in section
    # The replay's steps, its breaking point and the plain sentence.
    assert "| sqlite | 10,000 | 4 | 200.0 | 12.0 | 450.0 | 450.0 | 2.0 | 1,300.0 | 0 | 0 | 71% | 3.5 |" in section
    assert (
        "On this machine, phase 1 on SQLite (diskcache, one machine) carries 10,000 users at p95 < 200 ms "
        "(100.0 requests/s with 2 concurrent workers); the first thing to break at 10,000 users is the single "
        "SQLite writer"
    ) in section
    assert "Extrapolated: from a 100,000-user clone" in section
    assert "Phase 2 (PostgreSQL primary + read replica, Redis cache): not measured." in section
    # The AI bill: every mode, the scaling said, a dollar figure as the file has it.
    cost = usage(bill["figures"], "cache+quota")["cost_micro_usd"] / 1e6
    assert f"| {cost:,.4f} |" in section
    assert "Scaled from the 100-user replay" in section
    assert "### Phase 3 on paper" in section and "tests/test_sharding_ready.py" in section
    params_shown = "| day.askers_share | 0.25 |"
    assert params_shown in section


def test_report_writes_the_plots(tmp_path, bill):
    results_dir = tmp_path / "results"
    write_fixtures(results_dir, bill)
    _, rendered, plots = render_into(tmp_path, results_dir)
    for name in ("latency.png", "cost.png", "batch_duration.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000, name
        assert f"(scaling/{name})" in rendered


def test_report_with_no_results_says_not_measured(tmp_path):
    empty = tmp_path / "results"
    empty.mkdir()
    original, rendered, plots = render_into(tmp_path, empty)
    assert outside_markers(rendered) == outside_markers(original)
    section = inside_markers(rendered)
    assert "The AI bill: not measured" in section
    assert "Phase 1 on SQLite (diskcache, one machine): not measured." in section
    for name in ("latency.png", "cost.png", "batch_duration.png"):
        assert (plots / name).stat().st_size > 0


def test_lab_command_refuses_an_unknown_configuration(capsys):
    from benchmarks.scale import lab

    with pytest.raises(SystemExit) as exit_:
        lab.main(["run", "--configs", "sqlite,bogus", "--skip-population"])
    assert exit_.value.code == 2
    assert "unknown configuration(s): bogus" in capsys.readouterr().err
