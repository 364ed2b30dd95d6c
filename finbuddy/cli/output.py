"""stdout is data, stderr is talk: one helper emits JSON or renders for people."""

from __future__ import annotations

import errno
import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_CONTROL = {i: f"\\x{i:02x}" for i in list(range(0, 32)) + list(range(127, 160))}
_CONTROL_KEEP_NEWLINES = {k: v for k, v in _CONTROL.items() if k != 10}


def printable(text: str | None, keep_newlines: bool = False) -> str:
    """User text for a terminal: verbatim, except control characters (e.g. ESC) are shown escaped, never interpreted."""
    if text is None:
        return ""
    return text.translate(_CONTROL_KEEP_NEWLINES if keep_newlines else _CONTROL)


# json.dumps escapes C0 controls (ESC becomes \u001b) but passes DEL and the C1 range (e.g. CSI, U+009B)
# through: escape those too. They can only stand inside JSON strings, so the document means the same.
_JSON_CONTROL = {i: f"\\u{i:04x}" for i in range(127, 160)}


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2).translate(_JSON_CONTROL)


def emit_json(data: Any) -> None:
    sys.stdout.write(dump_json(data) + "\n")


def emit(data: Any, json_mode: bool, render: Callable[[], None]) -> None:
    """Print exactly one JSON document in --json mode, else let `render` draw for people."""
    if json_mode:
        emit_json(data)
    else:
        render()


def say(line: str) -> None:
    """A plain line for people on stdout (no Rich import on the fast paths); control characters escaped."""
    sys.stdout.write(printable(line, keep_newlines=True) + "\n")


def confirm(question: str) -> bool:
    """Ask a yes/no question on stderr; only "y"/"yes" on stdin confirms (no input or EOF is "no").

    Not typer.confirm: click writes the space after the prompt to stdout, which is data.
    """
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):
        answer = ""
    if not answer.endswith("\n"):
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def emit_error(kind: str, message: str, json_mode: bool) -> None:
    """The one line of an error on stderr (and its JSON document on stdout with --json). Messages quote
    what the user typed or a file held (a CSV header, a --map column, a file name): escaped, never
    interpreted by the terminal."""
    one_line = " ".join(message.split("\n"))
    if json_mode:
        emit_json({"error": {"type": kind, "message": one_line}})
    sys.stderr.write(f"finbuddy: {printable(one_line)}\n")


def warn(message: str) -> None:
    one_line = " ".join(message.split("\n"))
    sys.stderr.write(f"finbuddy: warning: {printable(one_line)}\n")


def console(stderr: bool = False) -> Console:
    """A Rich console that honours NO_COLOR and plain (non-terminal) output.

    Markup and emoji codes are off: a string printed through it (a table title or cell, a user name)
    shows as written, so "[/x]" or "[link=...]" in user text can neither crash a renderer nor become
    a hyperlink. Styles go on rich.text.Text objects instead.
    """
    return _console_class()(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class FinbuddyConsole(Console):
        def on_broken_pipe(self) -> None:
            # Rich's default exits 1 here; a reader that went away (`finbuddy list | head -1`) is the
            # boundary's to answer (exit 0, quietly), as it is for every other write to stdout.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")

    return FinbuddyConsole
