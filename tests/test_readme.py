"""The README's set-up commands stay true: CI runs the same test command; the example config is the packaged one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


def set_up_finbuddy_commands() -> list[str]:
    """The finbuddy commands of the README's first set-up command, as a newcomer runs them before the tour."""
    parts = [part.strip() for part in setup_blocks()[0].split("&&")]
    return [part for part in parts if part.startswith("finbuddy ")]


def test_readme_tour_runs(cli, tmp_path, monkeypatch):
    """The set-up's commands, then every command of the README's tour, in order, in an empty home (offline advisor)."""
    import shlex

    monkeypatch.chdir(tmp_path)
    lines = tour_lines()
    assert len(lines) >= 15
    assert set_up_finbuddy_commands(), "the set-up command runs no finbuddy command"
    for line in set_up_finbuddy_commands() + lines:
        args = shlex.split(line)
        assert args[0] == "finbuddy"
        result = cli(*args[1:])
        assert result.exit_code == 0, (line, result.stdout, result.stderr)
    assert (tmp_path / "backup.csv").exists()


def _path_without_finbuddy() -> str:
    """PATH as on a machine where finbuddy was never installed: no directory holding a finbuddy command or a venv."""
    keep = []
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        directory = Path(entry or ".")
        if (directory / "finbuddy").exists() or (directory.parent / "pyvenv.cfg").exists():
            continue
        keep.append(entry)
    return os.pathsep.join(keep)


@pytest.mark.slow
def test_readme_set_up_puts_finbuddy_on_path_for_the_tour(tmp_path):
    """A newcomer's run: a fresh copy, the README's first command verbatim in a fresh POSIX shell, then the
    tour in that same shell, as the README shows it (`finbuddy …`, not a path into the virtualenv)."""
    repo = tmp_path / "finbuddy"
    shutil.copytree(
        ROOT,
        repo,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "__pycache__", "*.egg-info", "build", ".mypy_cache", ".ruff_cache", ".pytest_cache"
        ),
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.pop("PYTEST_CURRENT_TEST", None)
    env["PATH"] = _path_without_finbuddy()
    assert shutil.which("python3", path=env["PATH"]), "no system python3 to run the set-up with"
    assert shutil.which("finbuddy", path=env["PATH"]) is None
    steps = [f"{setup_blocks()[0]} || exit 90", "mkdir tour && cd tour || exit 91"]
    for n, line in enumerate(tour_lines()):
        steps.append(f"{line} || {{ echo 'tour line {n} failed: exit '$? >&2; exit 92; }}")
    proc = subprocess.run(
        ["sh", "-c", "\n".join(steps)], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (repo / "tour" / "backup.csv").exists()
    # In a new shell later, the README's one step gets the command back.
    again = subprocess.run(
        ["sh", "-c", ". .venv/bin/activate && finbuddy list --json"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert ". .venv/bin/activate" in (ROOT / "README.md").read_text(encoding="utf-8")
