"""Regenerate the generated parts of docs/: the CLI reference (docs/cli.md) from every command's --help,
the table of configuration keys in docs/configuration.md from finbuddy.config, and the --json examples of
docs/json.md from a scripted session in an empty home.

    python scripts/gen_docs.py            # rewrite the files
    python scripts/gen_docs.py --check    # exit 1 if a file is out of date (tests/test_docs.py runs this)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI_DOC = ROOT / "docs" / "cli.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
JSON_DOC = ROOT / "docs" / "json.md"
JSON_BEGIN = "<!-- generated: examples (scripts/gen_docs.py) -->"
JSON_END = "<!-- end generated: examples -->"

# The scenario whose --json output docs/json.md shows: a fixed clock, an empty home, the offline advisor.
EXAMPLES: list[tuple[str, list[str]]] = [
    (
        "record (`add`, `edit`)",
        ["add", "12.50", "groceries", "weekly shop", "--merchant", "Aldi", "--date", "2026-11-20", "--json"],
    ),
    ("", ["add", "3200", "salary", "--income", "--date", "2026-11-01"]),
    ("", ["add", "48.90", "dining", "--merchant", "Sushi Zen", "--date", "2026-10-24"]),
    ("", ["budget", "set", "groceries", "400"]),
    ("", ["portfolio", "add", "VWCE", "12", "--cost", "98.50"]),
    ("", ["portfolio", "price", "VWCE", "104.20"]),
    ("list (`list --json`: an array of records)", ["list", "--json", "--limit", "2"]),
    ("budgets (`budget list --json`)", ["budget", "list", "--json"]),
    ("summary (`summary --json`)", ["summary", "--json"]),
    ("portfolio (`portfolio show --json`)", ["portfolio", "show", "--json"]),
    ("ask (`ask --json`)", ["ask", "Can I afford a weekend trip for 300?", "--json"]),
    ("quota (`quota --json`)", ["quota", "--json"]),
    ("usage (`usage --json`)", ["usage", "--days", "2", "--json"]),
    ("profile (`profile show --json`)", ["profile", "show", "--json"]),
    ("export (`export --format json`)", ["export", "--format", "json"]),
    ("", ["add", "52.10", "dining", "--merchant", "Sushi Zen", "--date", "2026-11-15"]),
    ('quick entry (`add "…" --json`: a record)', ["add", "sushi 23.50 at Sushi Zen yesterday", "--json"]),
    ("rules (`rules list --json`)", ["rules", "list", "--json"]),
    ("categorize (`categorize --dry-run --json`)", ["categorize", "--dry-run", "--json"]),
    ("an error (`--json`, exit 2)", ["add", "12.345", "food", "--json"]),
]
BEGIN = "<!-- generated: keys (scripts/gen_docs.py) -->"
END = "<!-- end generated: keys -->"
WIDTH = "100"


def _walk(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def cli_reference() -> str:
    """Every command's --help, as a person sees it at 100 columns without colour."""
    os.environ.update({"COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"})
    os.environ.pop("FORCE_COLOR", None)
    from typer.main import get_command

    from finbuddy.cli import main
    from finbuddy.cli.app import build_app

    parts = [
        "# Command reference\n",
        "Generated from `--help` by `python scripts/gen_docs.py`; `tests/test_docs.py` keeps it current.",
        "Exit codes and JSON shapes: [json.md](json.md). Configuration: [configuration.md](configuration.md).\n",
    ]
    for path, _command in _walk(get_command(build_app())):
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            code = main([*path, "--help"])
        if code != 0:
            raise SystemExit(f"`finbuddy {' '.join(path)} --help` exited {code}")
        title = " ".join(("finbuddy", *path))
        text = "\n".join(line.rstrip() for line in buffer.getvalue().strip("\n").splitlines())
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def _meanings() -> dict[str, str]:
    """What each key means, from the comments of the documented example config (one source of truth)."""
    from finbuddy.config import example_config_text

    meanings: dict[str, str] = {}
    section = ""
    above: list[str] = []
    for raw in example_config_text().splitlines():
        line = raw.strip()
        match = re.fullmatch(r"\[([a-z_]+)\]", line)
        if match:
            section, above = match.group(1), []
            continue
        match = re.fullmatch(r"#?\s*([a-z_]+)\s*=\s*[^#]*?(?:#\s*(.*))?", line)
        if match and section:
            name, inline = match.group(1), match.group(2)
            text = inline or " ".join(above)
            meanings.setdefault(f"{section}.{name}", text.strip())
            above = []
        elif line.startswith("#"):
            above.append(line.lstrip("# ").strip())
        else:
            above = []
    return meanings


def config_table() -> str:
    """One row per key: its environment variable, default and meaning."""
    from finbuddy.config import KEYS, defaults

    values = defaults()
    shown_default = {
        "database.url": "a SQLite file in the data dir",
        "cache.dir": "the user cache dir",
        "user.name": "your login name",
        "user.timezone": "the system zone",
        "ai.prices": "gpt-4o-mini, gpt-4o",
    }
    meanings = _meanings()
    rows = ["| key | environment variable | default | meaning |", "| --- | --- | --- | --- |"]
    for key in KEYS:
        if key.dotted in shown_default:
            default = shown_default[key.dotted]
        else:
            value = values.get(key.dotted)
            default = "(none)" if value is None else f"`{value}`"
        env = f"`{key.env}`" if key.env_ok else "(file only)"
        meaning = meanings.get(key.dotted, "").replace("|", "\\|")
        if key.dotted == "ai.prices":
            meaning = '`[ai.prices."MODEL"]` tables: `input` and `output` in USD per million tokens, for cost estimates'
        if not meaning:
            raise SystemExit(f"{key.dotted} has no comment in config.example.toml: document it there")
        rows.append(f"| `{key.dotted}` | {env} | {default} | {meaning} |")
    return "\n".join(rows)


def json_examples() -> str:
    """Run the scenario in a fresh home and show each --json document as the command printed it."""
    import json
    import tempfile

    from finbuddy.cli import main as finbuddy

    parts: list[str] = []
    with tempfile.TemporaryDirectory() as home:
        for name in [n for n in os.environ if n.startswith(("FINBUDDY_", "OPENAI_"))]:
            del os.environ[name]
        os.environ.update(
            {
                "FINBUDDY_HOME": home,
                "FINBUDDY_USER": "alice",
                "FINBUDDY_USER_TIMEZONE": "UTC",
                "FINBUDDY_FAKE_NOW": "2026-11-25T12:00:00+00:00",
                "FINBUDDY_AI_PROVIDER": "offline",
                "FINBUDDY_NO_SERVER": "1",
                "NO_COLOR": "1",
            }
        )
        for title, argv in EXAMPLES:
            buffer = io.StringIO()
            with redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
                code = finbuddy(argv)
            if not title:
                continue
            if not buffer.getvalue().strip():
                raise SystemExit(f"`finbuddy {' '.join(argv)}` printed no JSON (exit {code})")
            document = json.dumps(json.loads(buffer.getvalue()), indent=2, ensure_ascii=False)
            command = " ".join(("finbuddy", *(a if " " not in a else repr(a) for a in argv)))
            parts.append(f"### {title}\n\n`{command}` (exit {code})\n\n```json\n{document}\n```\n")
    return "\n".join(parts)


def _between(text: str, begin: str, end: str, content: str, path: Path) -> str:
    if begin not in text or end not in text:
        raise SystemExit(f"{path} lacks the markers {begin!r} … {end!r}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{content}\n{end}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args()
    wanted = {
        CLI_DOC: cli_reference() + "\n",
        CONFIG_DOC: _between(CONFIG_DOC.read_text(encoding="utf-8"), BEGIN, END, config_table(), CONFIG_DOC),
        JSON_DOC: _between(JSON_DOC.read_text(encoding="utf-8"), JSON_BEGIN, JSON_END, json_examples(), JSON_DOC),
    }
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
