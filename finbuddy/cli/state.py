"""What one invocation knows: global options, output mode, and the lazily built library context.

The boundary (cli/boundary.py) opens one `Invocation` per command with `running()`; the root callback
records the parsed global options in it and every `--json` option records its parsed value, so once
Click has parsed the command line nothing reads argv again. Before that (or when parsing fails) the
values come from the one scan of argv in `finbuddy.cli.scan`.

Commands find their invocation with `current()`. It lives in a context variable, which is what
`click.get_current_context()` does with a thread-local: Typer (0.26 and later) vendors Click and exports
no public way to reach the current Click context. A context variable is per thread and per asyncio task
and `running()` resets it, so two invocations in one process (tests, a long-lived server) never see each
other's user, output mode or database connections.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finbuddy.cli import CommandLine
    from finbuddy.config import Settings
    from finbuddy.context import Context


@dataclass
class Invocation:
    argv: list[str]
    user: str | None = None
    debug: bool = False
    json_mode: bool = False
    _context: Context | None = field(default=None, repr=False)

    @property
    def wants_traceback(self) -> bool:
        """--debug, or FINBUDDY_DEBUG=1 in the environment: errors also print their traceback."""
        return self.debug or os.environ.get("FINBUDDY_DEBUG") == "1"

    @property
    def context(self) -> Context:
        if self._context is None:
            from finbuddy.cli.output import warn
            from finbuddy.config import load_settings
            from finbuddy.context import Context

            settings = load_settings(overrides={"user.name": self.user}, warn=warn)
            self._context = Context(settings=settings, warn=warn)
        return self._context

    @property
    def settings(self) -> Settings:
        return self.context.settings

    def close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            context.close()


_running: ContextVar[Invocation] = ContextVar("finbuddy_invocation")


@contextmanager
def running(argv: list[str], line: CommandLine) -> Iterator[Invocation]:
    """The invocation of one command: current() inside the block, closed (and forgotten) after it."""
    invocation = Invocation(argv=list(argv), debug=line.debug, json_mode=line.json)
    token = _running.set(invocation)
    try:
        yield invocation
    finally:
        _running.reset(token)
        invocation.close()


def current() -> Invocation:
    """The invocation of the command running now (commands and option callbacks only)."""
    try:
        return _running.get()
    except LookupError:
        raise RuntimeError("no finbuddy invocation is running") from None
