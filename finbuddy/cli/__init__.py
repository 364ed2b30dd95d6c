"""The command line: the only place that imports typer and rich. `run()` is the console script."""

from __future__ import annotations

import sys

_GLOBAL_WITH_VALUE = {"--user", "-u"}
_GLOBAL_FLAGS = {"--debug"}


def _wants_version_only(argv: list[str]) -> bool:
    """`finbuddy [global options] --version`: answered without importing Typer or SQLAlchemy."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--version":
            return True
        if arg in _GLOBAL_WITH_VALUE:
            index += 2
            continue
        if arg in _GLOBAL_FLAGS or arg.startswith("--user="):
            index += 1
            continue
        return False
    return False


def main(argv: list[str] | None = None) -> int:
    """Run one finbuddy command; returns the exit code of SPEC.md."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _wants_version_only(args):
        from finbuddy import __version__

        sys.stdout.write(f"finbuddy {__version__}\n")
        return 0
    from finbuddy.cli.boundary import invoke

    return invoke(args)


def run() -> None:
    sys.exit(main())
