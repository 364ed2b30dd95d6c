"""Every command and sub-command documents itself: non-empty --help text, reachable from the real CLI."""

from __future__ import annotations

import pytest


def walk(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def all_commands():
    from typer.main import get_command

    from finbuddy.cli.app import app

    return list(walk(get_command(app)))


COMMANDS = all_commands()


def test_the_tree_has_the_ledger_commands():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {
        "add",
        "list",
        "edit",
        "delete",
        "budget set",
        "budget list",
        "budget rm",
        "config show",
        "config path",
        "config init",
        "db upgrade",
    } <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(("finbuddy", *p)) for p, _ in COMMANDS])
def test_every_command_has_help_text(cli, path, command):
    text = (command.help or command.short_help or "").strip()
    assert text, f"`finbuddy {' '.join(path)}` has no help text"
    r = cli(*path, "--help")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip()
    assert text.splitlines()[0][:40] in " ".join(r.stdout.split())
    for param in command.params:
        if getattr(param, "hidden", False) or param.name in ("help",):
            continue
        assert (getattr(param, "help", None) or "").strip(), f"`finbuddy {' '.join(path)}` {param.name} has no help"
