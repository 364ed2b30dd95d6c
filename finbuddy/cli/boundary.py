"""The one place where errors become exit codes and one-line messages (SPEC.md "Exit codes")."""

from __future__ import annotations

import os
import sys
import traceback

from finbuddy.cli import state
from finbuddy.cli.output import emit_error
from finbuddy.errors import FinbuddyError, UsageError


def _debug_enabled(invocation: state.Invocation) -> bool:
    return invocation.debug or "--debug" in invocation.argv or os.environ.get("FINBUDDY_DEBUG") == "1"


def _under_tests() -> bool:
    # Unexpected exceptions re-raise under tests, so no test passes by accident.
    return "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("FINBUDDY_RAISE") == "1"


_fast_coercion_installed = False


def _install_fast_coercion() -> None:
    """Let text and flag parameters skip Typer's pydantic coercion (start-up speed; behaviour unchanged).

    Typer 0.29 coerces each parameter through a pydantic TypeAdapter built on first use, and importing
    pydantic costs 50-100 ms: a third of `finbuddy add`. A `str` parameter needs no coercion (its value is
    the text typed) and a flag's value is already a bool, so they get a pass-through; any other value, and
    every other type, keeps Typer's own path. This leans on Typer internals (pinned <0.30): if they change,
    nothing is replaced and Typer runs as usual (tests/test_bench_cli_latency.py notices the slower start).
    """
    global _fast_coercion_installed
    if _fast_coercion_installed:
        return
    _fast_coercion_installed = True
    try:
        from dataclasses import dataclass

        from typer import core
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:  # pragma: no cover - a Typer without these internals
        return

    @dataclass(frozen=True)
    class TextParam(RuntimeParam):
        def _coerce_value(self, value, param, ctx):
            return value if isinstance(value, str) else str(value)

    @dataclass(frozen=True)
    class FlagParam(RuntimeParam):
        def _coerce_value(self, value, param, ctx):
            if isinstance(value, bool):
                return value
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    typer_get_runtime_param = core._TyperParameter.get_runtime_param

    def get_runtime_param(self):
        try:
            descriptor = self.type_descriptor
            plain = (
                self._runtime_param is None
                and descriptor.annotation in (str, bool)
                and descriptor.parameter_info.parser is None
                and not self.multiple
                and self.nargs == 1
            )
            if plain:
                kind = TextParam if descriptor.annotation is str else FlagParam
                self._runtime_param = kind(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
        except AttributeError:  # pragma: no cover - Typer internals changed
            pass
        return typer_get_runtime_param(self)

    # A deliberate patch of Typer internals: mypy forbids assigning to a method.
    core._TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]


def invoke(argv: list[str]) -> int:
    import typer
    from typer.main import get_command

    from finbuddy.cli.app import app_for

    _install_fast_coercion()
    invocation = state.begin(argv)
    try:
        command = get_command(app_for(argv))
        result = command.main(args=argv, prog_name="finbuddy", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except FinbuddyError as exc:
        if _debug_enabled(invocation):
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
        if exc.__class__.__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
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
        if _debug_enabled(invocation):
            traceback.print_exc()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        emit_error(
            "internal_error",
            f"internal error: {type(exc).__name__}: {detail} (run with --debug for the traceback)",
            invocation.json_mode,
        )
        return 1
    finally:
        state.end()
