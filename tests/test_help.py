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


def test_every_command_is_routed_to_the_module_that_registers_it():
    """`app_for` builds only one command group; a command missing from the map would fall back to
    the full (slower) app, and a wrong entry would make the command unknown."""
    from typer.main import get_command

    from finbuddy.cli.app import COMMAND_MODULES, build_app

    full = get_command(build_app())
    assert set(full.commands) == set(COMMAND_MODULES)
    for name, module in COMMAND_MODULES.items():
        assert name in get_command(build_app((module,))).commands, (name, module)
