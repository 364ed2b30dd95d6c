"""What one invocation knows: global options, output mode, and the lazily built library context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finbuddy.config import Settings
    from finbuddy.context import Context


@dataclass
class Invocation:
    argv: list[str]
    user: str | None = None
    debug: bool = False
    _context: Context | None = field(default=None, repr=False)

    @property
    def json_mode(self) -> bool:
        return "--json" in self.argv

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
        if self._context is not None:
            self._context.close()


_current: Invocation | None = None


def current() -> Invocation:
    if _current is None:  # pragma: no cover - commands always run under invoke()
        raise RuntimeError("no finbuddy invocation is running")
    return _current


def begin(argv: list[str]) -> Invocation:
    global _current
    _current = Invocation(argv=argv)
    return _current


def end() -> None:
    global _current
    if _current is not None:
        _current.close()
    _current = None
