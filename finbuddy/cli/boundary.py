"""The one place where errors become exit codes and one-line messages (SPEC.md "Exit codes")."""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING

from finbuddy.cli import CommandLine, scan, state
from finbuddy.cli.output import emit_error
from finbuddy.errors import FinbuddyError, UsageError

if TYPE_CHECKING:
    from typer import TyperException


def _under_tests() -> bool:
    # Unexpected exceptions re-raise under tests, so no test passes by accident.
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("FINBUDDY_RAISE") == "1"


def _run(argv: list[str], command_name: str | None) -> int:
    from finbuddy.cli.app import command_for

    command = command_for(command_name)
    # Click's make_context + invoke rather than command.main(): main() turns Ctrl-C into a silent exit 130
    # and a closed stdout into exit 1, both of which are this boundary's to answer.
    with command.make_context("finbuddy", list(argv)) as ctx:
        result = command.invoke(ctx)
    # A reader that went away (`finbuddy export | head -1`) shows up here rather than at interpreter exit.
    sys.stdout.flush()
    return result if isinstance(result, int) else 0


def _detach_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that nothing written later fails on the closed
    pipe, not even the interpreter's final flush (the recipe of the Python docs' "Note on SIGPIPE")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests capture stdout)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def invoke(argv: list[str], line: CommandLine | None = None) -> int:
    """Run one command line; every outcome becomes an exit code, and every error one line on stderr."""
    line = scan(argv) if line is None else line
    with state.running(argv, line) as invocation:
        try:
            return _run(argv, line.command)
        except FinbuddyError as exc:
            if invocation.wants_traceback:
                traceback.print_exc()
            emit_error(exc.kind, exc.message, invocation.json_mode)
            return exc.exit_code
        except KeyboardInterrupt:
            sys.stderr.write("finbuddy: interrupted\n")
            return 130
        except BrokenPipeError:
            # `finbuddy export | head -1`: the reader has what it wanted; that is not an error.
            _detach_stdout()
            return 0
        except EOFError:  # a prompt met the end of its input
            emit_error("aborted", "aborted", invocation.json_mode)
            return 1
        except Exception as exc:
            # Typer is first imported inside the try (by _run), so that Ctrl-C during start-up is answered
            # too; its exceptions are told apart here.
            import typer

            if isinstance(exc, typer.Exit):
                return exc.exit_code
            if isinstance(exc, typer.Abort):
                emit_error("aborted", "aborted", invocation.json_mode)
                return 1
            if isinstance(exc, typer.TyperException):
                return _usage_error(exc, invocation)
            if _under_tests():
                raise
            if invocation.wants_traceback:
                traceback.print_exc()
            detail = str(exc).splitlines()[0] if str(exc) else ""
            emit_error(
                "internal_error",
                f"internal error: {type(exc).__name__}: {detail} (run with --debug for the traceback)",
                invocation.json_mode,
            )
            return 1


def _usage_error(exc: TyperException, invocation: state.Invocation) -> int:
    """Click-level errors: unknown option, missing argument, bad choice, or no arguments at all."""
    ctx = getattr(exc, "ctx", None)
    if exc.__class__.__name__ == "NoArgsIsHelpError":
        # `finbuddy`, `finbuddy portfolio`: the help is the exception's message. Typer's Rich help is
        # printed while the exception is built (and its message is then empty): print it only once.
        text = exc.format_message()
        if text:
            sys.stdout.write(text + "\n")
        return 0
    message = exc.format_message() or "invalid command line"
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    emit_error(UsageError.kind, message + hint, invocation.json_mode)
    code = getattr(exc, "exit_code", 2)
    return code if code else 2
