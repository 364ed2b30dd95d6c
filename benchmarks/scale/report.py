"""The lab's report: docs/SCALING.md's measured section and the plots in docs/scaling/, from the results files.

    python benchmarks/scale/report.py            # (or: python benchmarks/scale/lab.py report)

Reads every benchmarks/scale/results/*.json (results.load_all()), rewrites ONLY the part of docs/SCALING.md between
`<!-- lab:begin -->` and `<!-- lab:end -->` (the rest stays byte for byte) and draws three PNGs with matplotlib's
Agg backend: latency vs users per configuration, cost per day vs users per mechanism, the daily batch's duration vs
provider tier. A results file that is missing renders as a "not measured" line; nothing here runs an experiment.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.scale import params, results  # noqa: E402

SCALING = ROOT / "docs" / "SCALING.md"
PLOTS = ROOT / "docs" / "scaling"
BEGIN, END = "<!-- lab:begin -->", "<!-- lab:end -->"
NOT_MEASURED = "not measured"

BACKENDS = ("sqlite", "postgresql")
CONFIGS = {
    "sqlite": "phase 1 on SQLite (diskcache, one machine)",
    "postgresql": "phase 1 on PostgreSQL (diskcache)",
    "postgresql-noindex": "phase 1 on PostgreSQL without the indexes",
    "phase2": "phase 2 (PostgreSQL primary + read replica, Redis cache)",
}
OPS = ("add", "summary", "summary_cold", "summary_cached", "ask")
MODES = ("no-cache", "cache", "cache+quota", "cache+quota+batch")
PLOT_FILES = {"latency": "latency.png", "cost": "cost.png", "batch": "batch_duration.png"}


# --- reading the documents tolerantly: a figure that is absent is shown as absent, never guessed ---------------


def _pick(mapping: dict[str, Any] | None, *names: str) -> Any:
    """The first of `names` present in `mapping` (experiments name a figure in slightly different ways)."""
    if not mapping:
        return None
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


def _num(value: Any, places: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,.{places}f}" if places or isinstance(value, float) else f"{value:,}"
    return str(value)


def _users(value: Any) -> str:
    return f"{int(value):,}" if isinstance(value, int | float) else _num(value)


def _sized(documents: dict[str, dict[str, Any]], prefix: str) -> list[tuple[int, dict[str, Any]]]:
    """(users, document) of every `<prefix>-<users>` file, smallest first."""
    found = []
    for name, document in documents.items():
        head, _, tail = name.rpartition("-")
        if head == prefix and tail.isdigit():
            found.append((int(tail), document))
    return sorted(found, key=lambda item: item[0])


def _figures(document: dict[str, Any]) -> dict[str, Any]:
    figures = document.get("figures")
    return figures if isinstance(figures, dict) else {}


def _extrapolated(figures: dict[str, Any]) -> str | None:
    """What an experiment says it extrapolated (any `extrapolated` field, at the top or in the breaking point)."""
    for where in (figures, figures.get("breaking_point") or {}):
        said = where.get("extrapolated") if isinstance(where, dict) else None
        if said:
            return said if isinstance(said, str) else "extrapolated, not measured at this size"
    return None


def _p(op: dict[str, Any] | None, which: str) -> Any:
    return _pick(op, f"{which}_ms", which)


def _operations(step: dict[str, Any]) -> dict[str, Any]:
    """A step's per-operation latencies (`operations`, or `ops` when that is the mapping)."""
    for name in ("operations", "ops"):
        found = step.get(name)
        if isinstance(found, dict):
            return found
    return {}


# --- the section's parts ------------------------------------------------------------------------


def machine_part(documents: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["### The machine and the workload model", ""]
    machines = [(name, doc.get("machine") or {}, doc.get("measured_at")) for name, doc in documents.items()]
    if not machines:
        lines += [f"Machine: {NOT_MEASURED} (no results file yet).", ""]
    else:
        name, machine, _ = machines[0]
        lines += [
            f"Every figure below was measured on one machine: {_num(machine.get('cpus'))} CPUs, "
            f"{_num(machine.get('memory_gib'))} GiB, {machine.get('platform', '?')}, "
            f"Python {machine.get('python', '?')}"
            + (f", {machine['postgresql_client']}" if machine.get("postgresql_client") else "")
            + ". It was shared with other work while the lab ran (the load average is in each results file).",
            "",
            "| results file | measured at (UTC) | load average |",
            "| --- | --- | --- |",
        ]
        for name, machine, when in machines:
            load = machine.get("load_average") or []
            lines.append(f"| `{name}.json` | {when or '—'} | {' '.join(f'{x:.1f}' for x in load) or '—'} |")
        lines.append("")
    model = params.as_dict()
    lines += [
        "The workload model (`benchmarks/scale/params.py`; change it there and rerun):",
        "",
        "| parameter | value |",
        "| --- | --- |",
    ]
    for section in ("population", "day"):
        for key, value in model[section].items():
            if key == "categories":
                value = ", ".join(f"{c['name']} {c['share']:.0%} (median {c['median_eur']:g})" for c in value)
            elif isinstance(value, list | tuple):
                value = ", ".join(str(v) for v in value)
            lines.append(f"| {section}.{key} | {value} |")
    lines.append(f"| sizes | {', '.join(f'{s:,}' for s in model['sizes'])} |")
    return [*lines, ""]


def _population_files(documents: dict[str, dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """{(backend label, users): document} of `population-<backend>-<users>[-noindex]`."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for name, document in documents.items():
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "population" and parts[2].isdigit():
            label = parts[1] + (" (no indexes)" if parts[3:] == ["noindex"] else "")
            found[(label, int(parts[2]))] = document
    return found


def population_part(documents: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "### Building the population",
        "",
        "| backend | users | rows (all tables) | records | rows/s | elapsed | database size | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    found = _population_files(documents)
    keys = sorted(set(found) | {(backend, size) for backend in BACKENDS for size in params.SIZES})
    for backend, size in keys:
        if (backend, size) not in found:
            lines.append(f"| {backend} | {size:,} | {NOT_MEASURED} | | | | | |")
            continue
        f = _figures(found[(backend, size)])
        rows = f.get("rows")
        total = _pick(f, "rows_total") or (sum(rows.values()) if isinstance(rows, dict) else rows)
        records = rows.get("records") if isinstance(rows, dict) else None
        elapsed = _pick(f, "elapsed_s", "seconds", "total_s")
        if isinstance(elapsed, dict):
            elapsed = elapsed.get("total")
        size_mib = _pick(f, "database_mib", "db_size_mib")
        if size_mib is None and _pick(f, "database_bytes", "db_size_bytes", "db_bytes") is not None:
            size_mib = _pick(f, "database_bytes", "db_size_bytes", "db_bytes") / 2**20
        lines.append(
            f"| {backend} | {_users(_pick(f, 'users') or size)} | {_num(total)} | {_num(records)} "
            f"| {_num(_pick(f, 'rows_per_s'), 0)} | {_num(elapsed, 1)} s "
            f"| {_num(size_mib, 0)} MiB | {_extrapolated(f) or ''} |"
        )
    return [*lines, ""]


def _breaking(f: dict[str, Any]) -> dict[str, Any]:
    point = f.get("breaking_point")
    return point if isinstance(point, dict) else {}


def sentence(config: str, documents: dict[str, dict[str, Any]]) -> str:
    """The plain sentence for one configuration: the largest population it carried, and what broke first."""
    label = CONFIGS[config]
    found = _sized(documents, f"replay-{config}")
    if not found:
        return f"{label[0].upper()}{label[1:]}: {NOT_MEASURED}."
    limit = params.DAY.summary_p95_limit_ms
    carried = [(size, _breaking(_figures(doc))) for size, doc in found if _breaking(_figures(doc)).get("users")]
    largest, largest_doc = found[-1]
    point = _breaking(_figures(largest_doc))
    if carried:
        size, good = carried[-1]
        text = (
            f"On this machine, {label} carries {_users(good.get('users') or size)} users at p95 < {limit:g} ms"
            f" ({_num(good.get('requests_per_s'), 1)} requests/s with {_num(good.get('concurrency'))} "
            "concurrent workers)"
        )
    else:
        text = f"On this machine, {label} did not keep p95 < {limit:g} ms at any load for {largest:,} users"
    what, reason = point.get("saturated"), point.get("reason")
    if what and what != "none reached":
        text += f"; the first thing to break at {largest:,} users is {what}" + (f": {reason}" if reason else "")
    else:
        text += f"; nothing broke within the ramp at {largest:,} users" + (f": {reason}" if reason else "")
    said = _extrapolated(_figures(largest_doc))
    text = text.rstrip(".")
    return text + (f". Extrapolated: {said}." if said else ".")


def replay_part(documents: dict[str, dict[str, Any]], plots: str) -> list[str]:
    limit = params.DAY.summary_p95_limit_ms
    lines = [
        "### A day of usage, replayed: the breaking points",
        "",
        f"Each configuration is driven at increasing concurrency until p95 of `summary` passes {limit:g} ms or "
        "errors appear. Latencies are p95 in ms.",
        "",
        "| configuration | users | concurrency | ops/s | add | summary | summary cold | summary cached | ask "
        "| errors | stale reads | cache hit rate | db CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for config in CONFIGS:
        found = dict(_sized(documents, f"replay-{config}"))
        for size in sorted(set(params.SIZES) | set(found)):
            if size not in found:
                lines.append(f"| {config} | {size:,} | {NOT_MEASURED} | | | | | | | | | | |")
                continue
            f = _figures(found[size])
            for step in f.get("steps") or []:
                ops = _operations(step)
                rate = step.get("cache_hit_rate")
                lines.append(
                    f"| {config} | {size:,} | {_num(step.get('concurrency'))} | {_num(step.get('ops_per_s'), 1)} | "
                    + " | ".join(_num(_p(ops.get(op), "p95"), 1) for op in OPS)
                    + f" | {_num(step.get('errors'))} | {_num(step.get('stale_reads'))} | "
                    f"{'—' if rate is None else f'{rate:.0%}'} | {_num(step.get('db_cpu_s'), 1)} |"
                )
    lines += [
        "",
        "| configuration | users | carried: concurrency | requests/s | summary p95 ms | saturated | why |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for config in CONFIGS:
        found = _sized(documents, f"replay-{config}")
        if not found:
            lines.append(f"| {config} | {NOT_MEASURED} | | | | | |")
        for size, document in found:
            f = _figures(document)
            point = _breaking(f)
            why = point.get("reason") or ""
            said = _extrapolated(f)
            lines.append(
                f"| {config} | {_users(point.get('users') or size)} | {_num(point.get('concurrency'))} | "
                f"{_num(point.get('requests_per_s'), 1)} | {_num(point.get('summary_p95_ms'), 1)} | "
                f"{point.get('saturated') or '—'} | {why}{' (extrapolated: ' + said + ')' if said else ''} |"
            )
    lines += ["", *(f"- {sentence(config, documents)}" for config in CONFIGS), ""]
    lines += [f"![summary p95 vs users]({plots}/{PLOT_FILES['latency']})", ""]
    return lines


def _mode_usage(figures: dict[str, Any], mode: str) -> dict[str, Any] | None:
    found = (figures.get("modes") or {}).get(mode)
    return ((found or {}).get("ledger") or {}).get("usage_all")


def aibill_part(documents: dict[str, dict[str, Any]], plots: str) -> list[str]:
    lines = ["### The AI bill", ""]
    document = documents.get("aibill")
    if document is None:
        return [*lines, f"The AI bill: {NOT_MEASURED} (no `aibill.json`).", ""]
    f = _figures(document)
    sample = f.get("sample_users")
    day = f.get("day") or {}
    lines += [
        f"Measured by replay, not assumed: a day of {sample:,} sampled users ({_num(day.get('askers'))} askers, "
        f"{_num(day.get('asks'))} asks, {_num(day.get('insights'))} daily insights) through the real advisor guard "
        "(answer cache → per-user quota → global limit → provider → usage ledger) against the loopback fake "
        "OpenAI server, once per mode on a fresh copy of the data and an empty cache (`benchmarks/scale/aibill.py`). "
        "Calls, tokens and dollars are the product's own usage ledger (`finbuddy usage --all`) at its default "
        "`ai.prices`; the fake's request count matched the ledger in every mode. Tokens are the fake's count "
        "(characters ÷ 4) of the real prompts and of a scripted "
        f"{_num(f.get('answer_chars'))}-character answer.",
        "",
        "| mode | what is on | AI calls | cache hits | asks refused (quota) | prompt tokens | completion tokens "
        "| $ a day |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    explained = f.get("modes_explained") or {}
    for mode in MODES:
        usage = _mode_usage(f, mode)
        if usage is None:
            lines.append(f"| {mode} | {NOT_MEASURED} | | | | | | |")
            continue
        refused = ((f.get("modes") or {}).get(mode) or {}).get("asks_refused")
        lines.append(
            f"| {mode} | {explained.get(mode, '')} | {usage['calls']:,} | {usage['cache_hits']:,} | {_num(refused)} | "
            f"{usage['tokens_in']:,} | {usage['tokens_out']:,} | {usage['cost_micro_usd'] / 1e6:,.4f} |"
        )
    scaled = f.get("scaled") or {}
    sizes = scaled.get("sizes") or {}
    lines += [
        "",
        f"Scaled from the {sample:,}-user replay (per-user rates × users; `{scaled.get('formula', '')}`), "
        "not replayed at these sizes:",
        "",
        "| users | " + " | ".join(f"{mode}: calls / $ a day" for mode in MODES) + " |",
        "| ---: | " + " | ".join("---:" for _ in MODES) + " |",
    ]
    for size, modes in sizes.items():
        cells = []
        for mode in MODES:
            m = modes.get(mode)
            cells.append(NOT_MEASURED if m is None else f"{m['calls']:,} / ${m['cost_usd']:,.2f}")
        lines.append(f"| {int(size):,} | " + " | ".join(cells) + " |")
    lines += ["", *savings_lines(f), ""]
    lines += [f"![cost per day vs users]({plots}/{PLOT_FILES['cost']})", ""]
    lines += duration_lines(f, plots)
    return lines


def savings_lines(f: dict[str, Any]) -> list[str]:
    """What each mechanism saves, from the measured modes."""
    costs = {mode: (_mode_usage(f, mode) or {}).get("cost_micro_usd") for mode in MODES}
    refused = ((f.get("modes") or {}).get("cache+quota") or {}).get("asks_refused")
    calls = {mode: (_mode_usage(f, mode) or {}).get("calls") for mode in MODES}
    out = []
    steps = (
        ("no-cache", "cache", "the answer cache"),
        ("cache", "cache+quota", "the per-user quota of 5"),
        ("cache+quota", "cache+quota+batch", "batch mode for the daily insights"),
    )
    for before, after, what in steps:
        if not costs[before] or costs[after] is None:
            out.append(f"- {what}: {NOT_MEASURED}.")
            continue
        saved = 1 - costs[after] / costs[before]
        extra = ""
        if after == "cache+quota" and refused is not None:
            extra = (
                f"; it refused {refused} ask(s): it counts calls, not asks, so a cached repeat costs none of it, "
                "and an ask is refused only at its asker's 6th new question of the day: a ceiling for heavy users, "
                "not a saving"
            )
        out.append(
            f"- {what} saves {saved:.1%} of the dollars ({calls[before]:,} → {calls[after]:,} calls in the "
            f"sample{extra})."
        )
    first, last = costs["no-cache"], costs["cache+quota+batch"]
    if first and last is not None:
        out.append(f"- all together: {1 - last / first:.1%} less than no mechanism at all.")
    cache = (f.get("modes") or {}).get("cache") or {}
    if cache.get("asks"):
        out.append(
            f"- the cache served {cache.get('asks_served_from_cache', 0):,} of the sample's {cache['asks']:,} asks "
            f"({cache.get('asks_served_from_cache', 0) / cache['asks']:.0%}); asks are "
            f"{cache['asks'] / max(1, cache['asks'] + (f.get('day') or {}).get('insights', 0)):.0%} of the day's "
            "AI requests, which is why it moves the dollars so little."
        )
    out.append(
        "- The daily insight is the bill: one call per user with data every day, which neither the cache (an "
        "insight is of its day) nor the quota (insights do not count against it) touches; only batch mode's prices "
        "move it. The cache and the quota only act on asks."
    )
    return out


def _figures_mode(f: dict[str, Any], mode: str) -> dict[str, Any] | None:
    found = ((f.get("modes") or {}).get(mode) or {}).get("insights")
    return found if isinstance(found, dict) else None


def duration_lines(f: dict[str, Any], plots: str) -> list[str]:
    d = f.get("batch_duration") or {}
    tiers = d.get("tiers") or {}
    lines = ["How long the daily insights take (hours), by provider tier:", ""]
    if not tiers:
        return [*lines, f"Batch duration: {NOT_MEASURED}.", ""]
    lines += [
        f"- synchronous: `{d.get('sync_formula')}`; measured s_per_insight = {d.get('s_per_insight')} s of CPU "
        f"(wall time on the shared machine: {(_figures_mode(f, 'cache+quota') or {}).get('wall_s_per_insight')} s).",
        f"- batch mode: `{d.get('batch_formula')}`; measured {d.get('submit_lines_per_s')} lines submitted and "
        f"{d.get('ingest_lines_per_s')} ingested per CPU second (at {f.get('sample_users'):,} users).",
        "",
        "| provider tier | threads needed | "
        + " | ".join(f"{int(s):,} users (1 / 2 processes)" for s in params.SIZES)
        + " |",
        "| ---: | ---: | " + " | ".join("---" for _ in params.SIZES) + " |",
    ]
    for rpm, tier in sorted(tiers.items(), key=lambda item: int(item[0])):
        cells = []
        for size in params.SIZES:
            rows = (tier.get("sizes") or {}).get(str(size))
            if not rows:
                cells.append(NOT_MEASURED)
                continue
            cells.append(f"{rows['1']['hours']} h / {rows['2']['hours']} h ({rows['1']['bound_by']})")
        lines.append(f"| {int(rpm):,}/min | {tier.get('threads_needed')} | " + " | ".join(cells) + " |")
    batch = d.get("batch") or {}
    cells = [f"{batch[str(s)]['our_work_hours']} h + window" if str(s) in batch else NOT_MEASURED for s in params.SIZES]
    lines.append("| Batch API | — | " + " | ".join(cells) + " |")
    return [*lines, "", f"![daily batch duration vs provider tier]({plots}/{PLOT_FILES['batch']})", ""]


def phase3_part(documents: dict[str, dict[str, Any]]) -> list[str]:
    """What the figures imply for 1M users: sharding by user_id, the queue, AI as an isolated service."""
    million = params.SIZES[-1]
    f = _figures(documents.get("aibill") or {})
    scaled = ((f.get("scaled") or {}).get("sizes") or {}).get(str(million)) or {}
    d = f.get("batch_duration") or {}
    lines = ["### Phase 3 on paper", ""]
    postgres = _sized(documents, "replay-postgresql")
    if postgres:
        size, document = postgres[-1]
        point = _breaking(_figures(document))
        lines.append(
            f"- **One PostgreSQL is the ceiling.** The largest phase-1 PostgreSQL replay ({size:,} users) carried "
            f"{_num(point.get('requests_per_s'), 1)} requests/s before {point.get('saturated') or 'its limit'}; "
            "phase 2 moves reads to a replica, but every write still lands on one primary. Sharding by `user_id` "
            "(Citus: every user-owned table distributed on `user_id`, `users` too) splits the writes and the data: "
            "a user's reads and writes all route to one shard, so capacity grows with the number of workers."
        )
    else:
        lines.append(
            f"- **One PostgreSQL is the ceiling.** Its breaking point is {NOT_MEASURED} yet; whatever it is, every "
            "write lands on one primary until the data is sharded by `user_id` (Citus), which routes each "
            "user's statements to one shard."
        )
    if scaled:
        sync, batch = scaled.get("cache+quota"), scaled.get("cache+quota+batch")
        lines.append(
            f"- **AI is the cost, and an isolated service.** At {million:,} users the AI bill scaled from the "
            f"replay is ${sync['cost_usd']:,.0f} a day with the cache and the quota (${sync['cost_usd'] * 30:,.0f} a "
            f"month) and ${batch['cost_usd']:,.0f} with batch mode, for {sync['calls']:,} calls a day. That "
            "traffic is the guard's (cache → quota → global limit → provider → ledger) and nothing else's: run it "
            "as its own service, with its own rate (the provider's tier), so the dashboards never wait for it."
        )
    else:
        lines.append(f"- **AI as an isolated service**: the bill at {million:,} users is {NOT_MEASURED}.")
    tier = (d.get("tiers") or {}).get(str(max(params.DAY.provider_tiers_rpm))) or {}
    rows = (tier.get("sizes") or {}).get(str(million))
    if rows:
        lines.append(
            f"- **The queue.** At {million:,} users even the {max(params.DAY.provider_tiers_rpm):,}/min tier "
            f"leaves the daily insights bound by {rows['1']['bound_by']}: {rows['1']['hours']} h in one process, "
            f"{rows['2']['hours']} h in two (this machine's cores). The queue (RabbitMQ, `finbuddy worker`) spreads "
            "them over worker machines: enough processes to bring our work under the provider's rate, each "
            "thread-sized to `rpm × latency ÷ 60`. Batch mode needs no queue and halves the price, at the cost of "
            "up to 24 h."
        )
        too_slow = [
            int(rpm)
            for rpm, tier in (d.get("tiers") or {}).items()
            if ((tier.get("sizes") or {}).get(str(million)) or {}).get("2", {}).get("hours", 0) > 24
        ]
        if too_slow:
            lines.append(
                f"- **A day is 24 hours.** At {', '.join(f'{r:,}/min' for r in sorted(too_slow))} the day's "
                f"{million:,} insights take longer than a day whatever the workers: that tier cannot carry "
                "synchronous insights at this size; a higher tier or batch mode can."
            )
    sharding = _figures(documents.get("sharding") or {})
    if sharding:
        routing = sharding.get("distinct_by_routing") or {}
        gaps = sharding.get("schema_gaps") or {}
        lines.append(
            f"- **What the sharding test recorded** (`sharding.json`, {sharding.get('source', '')}): "
            f"{_num(sharding.get('statements_recorded'))} statements from {_num(sharding.get('commands_toured'))} "
            f"commands, {_num(sharding.get('distinct_statements'))} distinct: "
            + ", ".join(f"{count} {kind}" for kind, count in routing.items())
            + f"; {_num(sharding.get('violations'))} violations."
            + "".join(f" {table}: {why}." for table, why in gaps.items())
        )
    lines += [
        "- **Kept ready by a test.** `tests/test_sharding_ready.py` keeps the schema Citus-ready: every user-owned "
        "table's primary key and unique constraints lead with `user_id`, and every statement the test suite sends "
        "to a user-owned table filters on one `user_id`, so each query would route to one shard. Citus itself "
        "cannot be installed on this machine: this part is on paper.",
        "",
    ]
    return lines


def lab_section(documents: dict[str, dict[str, Any]], plots: str = "scaling") -> str:
    """The markdown between the markers (the markers excluded)."""
    lines = [
        "## The scale lab: measured on this machine",
        "",
        "Generated by `python benchmarks/scale/lab.py report` from `benchmarks/scale/results/*.json`: do not edit "
        "by hand (rerun the experiments with `python benchmarks/scale/lab.py run`).",
        "",
        *machine_part(documents),
        *population_part(documents),
        *replay_part(documents, plots),
        *aibill_part(documents, plots),
        *phase3_part(documents),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def splice(document: str, section: str) -> str:
    """`document` with the text between the markers replaced by `section`; everything else byte for byte."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END, start)
    return document[:start] + "\n" + section + document[end:]


# --- the plots ------------------------------------------------------------------------------------


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    return plt, fig, ax


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _empty(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: {NOT_MEASURED}", ha="center", va="center", transform=ax.transAxes, fontsize=13)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_latency(documents: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax, ramp) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
    limit = params.DAY.summary_p95_limit_ms
    drawn = False
    for config, label in CONFIGS.items():
        found = _sized(documents, f"replay-{config}")
        xs, ys = [], []
        for size, document in found:
            # The first step's (the least load): the latency one user sees at this size, comparable across sizes.
            steps = _figures(document).get("steps") or []
            value = _p(_operations(steps[0]).get("summary"), "p95") if steps else None
            if value is not None:
                xs.append(size)
                ys.append(value)
        if not xs:
            continue
        drawn = True
        (line,) = ax.plot(xs, ys, marker="o", label=label)
        size, document = found[-1]
        steps = _figures(document).get("steps") or []
        points = [(s.get("concurrency"), _p(_operations(s).get("summary"), "p95")) for s in steps]
        points = [(c, p) for c, p in points if c is not None and p is not None]
        if points:
            ramp.plot(*zip(*points, strict=True), marker="o", color=line.get_color(), label=f"{config}, {size:,} users")
    if not drawn:
        _empty(ax, "summary p95 vs users")
        _empty(ramp, "summary p95 vs load")
    else:
        for axis in (ax, ramp):
            axis.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"{limit:g} ms limit")
            axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_xlim(params.SIZES[0] / 2, params.SIZES[-1] * 2)
        ax.set_xticks(list(params.SIZES), [f"{s:,}" for s in params.SIZES])
        ax.set_xticks([], minor=True)
        ax.legend(fontsize=7, loc="best")
        ax.set_xlabel("users in the database")
        ax.set_ylabel("summary p95 at the ramp's first step (ms)")
        ax.set_title("summary p95 vs users, per configuration (least load)", fontsize=10)
        ramp.set_xscale("log", base=2)
        ramp.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ramp.set_xlabel("concurrent worker processes")
        ramp.set_ylabel("summary p95 (ms)")
        ramp.set_title("The ramp at the largest population measured", fontsize=10)
    _save(plt, fig, path)


def plot_cost(documents: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    f = _figures(documents.get("aibill") or {})
    sizes = (f.get("scaled") or {}).get("sizes") or {}
    if not sizes:
        _empty(ax, "AI cost per day")
        _empty(bars, "by kind")
        _save(plt, fig, path)
        return
    xs = sorted(int(s) for s in sizes)
    styles = ("-", "--", ":", "-.")
    for mode, style in zip(MODES, styles, strict=True):
        ys = [sizes[str(x)].get(mode, {}).get("cost_usd") for x in xs]
        if all(y is not None for y in ys):
            ax.plot(xs, ys, marker="o", linestyle=style, label=f"{mode} (${ys[-1]:,.0f}/day at {xs[-1]:,})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs, [f"{x:,}" for x in xs])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("users")
    ax.set_ylabel("AI cost per day (USD)")
    ax.set_title(f"Cost per day (scaled from a {f.get('sample_users', 0):,}-user replay)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    # Where the money goes in the sample: asks vs the daily insights, per mode.
    sample = f.get("sample_users") or 1
    scale = xs[-1] / sample
    asks, insights, shown = [], [], []
    for mode in MODES:
        by_kind = (((f.get("modes") or {}).get(mode) or {}).get("ledger") or {}).get("by_kind") or {}
        if not by_kind:
            continue
        shown.append(mode.replace("+", "+\n"))
        asks.append((by_kind.get("ask") or {}).get("cost_micro_usd", 0) / 1e6 * scale)
        insights.append((by_kind.get("insight") or {}).get("cost_micro_usd", 0) / 1e6 * scale)
    bars.bar(shown, insights, label="daily insights")
    bars.bar(shown, asks, bottom=insights, label="asks")
    bars.set_ylabel(f"USD per day at {xs[-1]:,} users")
    bars.set_title("Asks vs daily insights", fontsize=10)
    bars.tick_params(axis="x", labelsize=7)
    bars.legend(fontsize=7, loc="upper right")
    bars.grid(True, axis="y", alpha=0.3)
    _save(plt, fig, path)


def plot_batch(documents: dict[str, dict[str, Any]], path: Path) -> None:
    plt, fig, ax = _figure()
    d = _figures(documents.get("aibill") or {}).get("batch_duration") or {}
    tiers = d.get("tiers") or {}
    if not tiers:
        _empty(ax, "daily batch duration")
    else:
        rpms = sorted(int(r) for r in tiers)
        for size in params.SIZES:
            rows = [((tiers[str(r)].get("sizes") or {}).get(str(size)) or {}) for r in rpms]
            ones = [row.get("1", {}).get("hours") for row in rows]
            twos = [row.get("2", {}).get("hours") for row in rows]
            if any(y is None for y in ones + twos):
                continue
            (line,) = ax.plot(rpms, ones, marker="o", label=f"{size:,} users, 1 process")
            color = line.get_color()
            ax.plot(rpms, twos, marker="s", linestyle="-.", color=color, label=f"{size:,} users, 2 processes")
            ax.plot(rpms, [size / r / 60 for r in rpms], linestyle=":", color=color, alpha=0.7)
            batch = (d.get("batch") or {}).get(str(size))
            if batch:
                ax.plot([rpms[-1] * 1.25], [batch["our_work_hours"]], marker="*", markersize=11, color=color)
        ax.plot([], [], linestyle=":", color="gray", label="the provider's floor: N / rpm")
        ax.plot([], [], marker="*", linestyle="", color="gray", label="batch mode: our work (+ up to 24 h window)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(rpms, [f"{r:,}/min" for r in rpms])
        ax.set_xticks([], minor=True)
        ax.set_xlim(rpms[0] / 1.5, rpms[-1] * 1.6)
        ax.set_xlabel("provider tier (requests per minute)")
        ax.set_ylabel("hours for the day's insights")
        ax.set_title("Daily insights: duration vs provider tier (synchronous, threads sized to the tier)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    _save(plt, fig, path)


# --- running it -----------------------------------------------------------------------------------


def render(results_dir: Path = results.RESULTS, doc: Path = SCALING, plots_dir: Path = PLOTS) -> dict[str, Any]:
    """Rewrite `doc`'s lab section and draw the plots into `plots_dir` from every results file."""
    documents = results.load_all(results_dir) if results_dir.exists() else {}
    plots_dir.mkdir(parents=True, exist_ok=True)
    relative = Path(os.path.relpath(plots_dir.resolve(), doc.resolve().parent))
    text = doc.read_text(encoding="utf-8")
    doc.write_text(splice(text, lab_section(documents, relative.as_posix())), encoding="utf-8")
    plot_latency(documents, plots_dir / PLOT_FILES["latency"])
    plot_cost(documents, plots_dir / PLOT_FILES["cost"])
    plot_batch(documents, plots_dir / PLOT_FILES["batch"])
    return {"results": sorted(documents), "doc": str(doc), "plots": [str(plots_dir / p) for p in PLOT_FILES.values()]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=results.RESULTS)
    parser.add_argument("--doc", type=Path, default=SCALING)
    parser.add_argument("--plots-dir", type=Path, default=PLOTS)
    args = parser.parse_args(argv)
    done = render(args.results_dir, args.doc, args.plots_dir)
    print(f"report: {len(done['results'])} results file(s) → {done['doc']} and {', '.join(done['plots'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
