"""finbuddy is a library first: the README's example works without the CLI, and `import finbuddy` stays cheap."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import finbuddy


def test_every_public_name_resolves():
    for name in finbuddy.__all__:
        assert getattr(finbuddy, name) is not None, name


def test_importing_the_package_imports_nothing_heavy():
    code = (
        "import sys, finbuddy; heavy = [m for m in ('sqlalchemy', 'typer', 'rich', 'openai') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


def test_the_readme_example_records_summarises_asks_and_runs_the_batch(finbuddy_env, backend):
    import os

    with finbuddy.open_context("alice", env=dict(os.environ)) as ctx:
        finbuddy.record_entry(ctx, Decimal("12.50"), "groceries", merchant="Aldi")
        finbuddy.record_entry(ctx, Decimal("7.25"), "groceries")
        finbuddy.record_entry(ctx, Decimal("3000"), "salary", kind="income")
        summary = finbuddy.monthly_summary(ctx).to_json()
        # 12.50 + 7.25 = 19.75 spent; 3000.00 - 19.75 = 2980.25 net
        assert (summary["expenses"], summary["income"], summary["net"]) == ("19.75", "3000.00", "2980.25")
        answer = finbuddy.ask(ctx, "How am I doing this month?")
        assert answer.source == "offline" and answer.text
        batch = finbuddy.run_insight_batch(ctx)
        assert batch.done == 1
        assert finbuddy.latest_insight(ctx).user == "alice"


def test_library_errors_are_typed(finbuddy_env):
    import os

    import pytest

    with finbuddy.open_context("alice", env=dict(os.environ)) as ctx, pytest.raises(finbuddy.NotFound):
        finbuddy.delete_record(ctx, 42)


def test_the_readme_library_block_runs(finbuddy_env):
    import os
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- library:[^>]*-->\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    r = subprocess.run(
        [sys.executable, "-c", block.group(1)], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "12.50 groceries"
    assert lines[-1] == "1 insight(s) written"
