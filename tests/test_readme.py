"""The README's set-up commands stay true: CI runs the same test command; the example config is the packaged one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("## Set up", 1)[1]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", after, flags=re.S)]


def test_readme_opens_with_two_set_up_commands():
    blocks = setup_blocks()
    assert len(blocks) >= 2
    install, tests = blocks[0], blocks[1]
    assert "\n" not in install and "\n" not in tests
    assert "pip install" in install and "finbuddy" in install
    assert "pytest" in tests and "[test]" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = setup_blocks()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    assert "FINBUDDY_TEST_REQUIRE_POSTGRES=1" in ci


def test_root_example_config_is_the_packaged_one():
    root = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    packaged = (ROOT / "finbuddy" / "data" / "config.example.toml").read_text(encoding="utf-8")
    assert root == packaged


def test_readme_tour_commands_exist():
    from typer.main import get_command

    from finbuddy.cli.app import app

    names = set(get_command(app).commands)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"^finbuddy (?:--user \w+ )?([a-z-]+)", text, flags=re.M))
    assert used, "the README shows no commands"
    assert used <= names, used - names


def tour_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- tour:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_tour_runs(cli, tmp_path, monkeypatch):
    """Every command of the README's tour works, in order, in an empty home (offline advisor)."""
    import shlex

    monkeypatch.chdir(tmp_path)
    lines = tour_lines()
    assert len(lines) >= 15
    for line in lines:
        args = shlex.split(line)
        assert args[0] == "finbuddy"
        result = cli(*args[1:])
        assert result.exit_code == 0, (line, result.stdout, result.stderr)
    assert (tmp_path / "backup.csv").exists()
