"""The generated reference pages match the code: every command's --help and every configuration key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_docs_are_current():
    # A separate process: the generator sets COLUMNS/NO_COLOR for itself and imports the whole CLI.
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr or r.stdout


def test_every_command_is_in_the_cli_reference():
    from typer.main import get_command

    from finbuddy.cli.app import build_app

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")

    def walk(command, path=()):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    missing = [p for p in walk(get_command(build_app())) if f"## `{' '.join(('finbuddy', *p))}`" not in text]
    assert missing == []


def test_every_configuration_key_is_in_the_configuration_page():
    from finbuddy.config import KEYS

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert [key.dotted for key in KEYS if f"| `{key.dotted}` |" not in text] == []


PHASE2_KEYS = (
    "database.reporting_url",
    "database.timeout",
    "cache.url",
    "cache.prefix",
    "queue.url",
    "queue.name",
    "ai.insights_mode",
    "ai.requests_per_minute",
    "ai.ask_reserve",
    "ai.global_daily_limit",
    "daemon.workers",
)


def test_the_scaling_guide_covers_the_phase2_keys_names_only_real_ones_and_is_linked():
    import re

    from finbuddy.config import KEYS

    text = (ROOT / "docs" / "SCALING.md").read_text(encoding="utf-8")
    known = {key.dotted for key in KEYS}
    sections = {dotted.split(".")[0] for dotted in known}
    named = {m for m in re.findall(r"`([a-z_]+\.[a-z_]+)`", text) if m.split(".")[0] in sections}
    assert sorted(named - known) == []  # no key that does not exist
    assert [key for key in PHASE2_KEYS if f"`{key}`" not in text] == []
    # The scale lab writes its measured sections between these markers: one pair, in order, after the guide.
    assert text.count("<!-- lab:begin -->") == 1 and text.count("<!-- lab:end -->") == 1
    assert text.index("## What each failure does") < text.index("<!-- lab:begin -->") < text.index("<!-- lab:end -->")
    assert "](docs/SCALING.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](SCALING.md)" in (ROOT / "docs" / "README.md").read_text(encoding="utf-8")


def test_the_worker_unit_runs_finbuddy_worker_with_options_it_accepts():
    import re

    unit = (ROOT / "contrib" / "finbuddy-worker.service").read_text(encoding="utf-8")
    [exec_start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    match = re.fullmatch(r"ExecStart=\S+/finbuddy worker --processes (\d+) --threads (\d+)", exec_start)
    assert match is not None, exec_start
    assert all(1 <= int(n) <= 64 for n in match.groups())  # finbuddy worker's bounds
    assert "KillSignal=SIGTERM" in unit and "Restart=on-failure" in unit
    assert "contrib/finbuddy-worker.service" in (ROOT / "docs" / "SCALING.md").read_text(encoding="utf-8")
