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
