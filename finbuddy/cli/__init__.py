"""The command line: the only place that imports typer and rich. `run()` is the console script."""

from __future__ import annotations

import sys

_GLOBAL_WITH_VALUE = ("--user", "-u")


class CommandLine:
    """What must be known of a command line before Click parses it, from one scan of argv.

    - `version`: `finbuddy [global options] --version`, answered without importing Typer or SQLAlchemy;
    - `command`: the first word, naming the one command group to import (cli/app.py `app_for`);
    - `debug`, `json`: whether --debug / --json were asked, for an error raised before Click has parsed
      them (an unknown option, a missing argument). Once parsed, the options themselves decide
      (cli/state.py); nothing else reads argv.
    """

    __slots__ = ("command", "debug", "json", "version")

    def __init__(self, command: str | None, version: bool, debug: bool, json: bool) -> None:
        self.command = command
        self.version = version
        self.debug = debug
        self.json = json


def scan(argv: list[str]) -> CommandLine:
    """The global options before the first word (the command), and whether --json appears at all."""
    command = None
    version = debug = False
    only_global = True  # every argument so far is a global option finbuddy knows
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in _GLOBAL_WITH_VALUE:
            index += 2
            continue
        if not arg.startswith("-"):
            command = arg
            break
        if arg == "--version":
            version = version or only_global
        elif arg == "--debug":
            debug = True
        elif not arg.startswith(("--user=", "-u")):
            only_global = False
        index += 1
    return CommandLine(command=command, version=version, debug=debug, json="--json" in argv)


def main(argv: list[str] | None = None) -> int:
    """Run one finbuddy command; returns the exit code of SPEC.md.

    On the user's warm server if one answers (cli/client.py; the output and exit code are the same), else here.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    line = scan(args)
    if line.version:
        from finbuddy import __version__

        sys.stdout.write(f"finbuddy {__version__}\n")
        return 0
    from finbuddy.cli.client import run_warm

    code = run_warm(args, line.command)
    if code is not None:
        return code
    return run_here(args, line)


def run_here(argv: list[str], line: CommandLine | None = None) -> int:
    """Run one command in this process: the cold path, and what the warm server runs for every request."""
    from finbuddy.cli.boundary import invoke

    return invoke(argv, line)


def run() -> None:
    sys.exit(main())
