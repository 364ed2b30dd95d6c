"""The one place where errors become exit codes and one-line messages (SPEC.md "Exit codes")."""

from __future__ import annotations

import os
import sys
import traceback

from finbuddy.cli import CommandLine, scan, state
from finbuddy.cli.output import emit_error
from finbuddy.errors import FinbuddyError, UsageError


def _under_tests() -> bool:
    # Unexpected exceptions re-raise under tests, so no test passes by accident.
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("FINBUDDY_RAISE") == "1"


def invoke(argv: list[str], line: CommandLine | None = None) -> int:
    """Run one command line; every outcome becomes an exit code, and every error one line on stderr."""
    line = scan(argv) if line is None else line
    with state.running(argv, line) as invocation:
        return _guarded(argv, line, invocation)


def _guarded(argv: list[str], line: CommandLine, invocation: state.Invocation) -> int:
    import typer
    from typer.main import get_command

    from finbuddy.cli.app import app_for

    try:
        command = get_command(app_for(line.command))
        result = command.main(args=argv, prog_name="finbuddy", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except FinbuddyError as exc:
        if invocation.wants_traceback:
            traceback.print_exc()
        emit_error(exc.kind, exc.message, invocation.json_mode)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        emit_error("aborted", "aborted", invocation.json_mode)
        return 1
    except typer.TyperException as exc:
        # Click-level usage errors: unknown option, missing argument, bad choice.
        code = getattr(exc, "exit_code", 2)
        ctx = getattr(exc, "ctx", None)
        if exc.__class__.__name__ == "NoArgsIsHelpError":
            # `finbuddy`, `finbuddy portfolio`: the help is the exception's message. Typer's Rich help is
            # printed while the exception is built (and its message is then empty): print it only once.
            text = exc.format_message()
            if text:
                sys.stdout.write(text + "\n")
            return 0
        message = exc.format_message() or "invalid command line"
        hint = ""
        if ctx is not None:
            hint = f" (see `{ctx.command_path} --help`)"
        emit_error(UsageError.kind, message + hint, invocation.json_mode)
        return code if code else 2
    except KeyboardInterrupt:
        sys.stderr.write("finbuddy: interrupted\n")
        return 130
    except BrokenPipeError:
        # `finbuddy list | head`: the reader went away; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 0
    except Exception as exc:
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
