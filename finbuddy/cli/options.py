"""Option types shared by several commands."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from typer.core import TyperCommand


def _record_json_mode(value: bool) -> bool:
    """Click has parsed --json: from here on the error boundary answers in the mode actually asked for."""
    from finbuddy.cli import state

    state.current().json_mode = value
    return value


JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout and nothing else.", callback=_record_json_mode),
]


# "-12", "-12.50", "-1,234.5", "-.5": never one of our options (those are letters), always a mistyped amount.
_NEGATIVE_NUMBER = re.compile(r"-[0-9.,]*[0-9][0-9.,]*")


class NumbersAreArguments(TyperCommand):
    """A command whose arguments may look like negative numbers (`add -12 food`, `budget set food -400`).

    Click reads "-12" as the options -1 and -2 and stops with "No such option: -1" before the command
    can say what is wrong. Here such a token stays an argument, and `check_arguments` may name it
    before Click complains about anything else (`add -12` lacks a category, but the amount is the
    mistake); every other option, known or unknown, is parsed as usual.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if any(_NEGATIVE_NUMBER.fullmatch(arg) for arg in args):
            options, arguments = _split(self, args)
            self.check_arguments(arguments)
            # Options first, then "--": everything after it is an argument, in the order typed.
            args = [*options, "--", *arguments]
        return super().parse_args(ctx, args)

    def check_arguments(self, arguments: list[str]) -> None:
        """Raise a ValidationError for a negative number this command cannot take (none by default)."""


def is_negative_number(text: str) -> bool:
    return _NEGATIVE_NUMBER.fullmatch(text) is not None


def _split(command: TyperCommand, args: list[str]) -> tuple[list[str], list[str]]:
    """(options with their values, arguments) of a command line, as Click would read it."""
    takes_value = {
        name
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "is_flag", False)
        for name in (*param.opts, *param.secondary_opts)
    }
    options: list[str] = []
    arguments: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            arguments.extend(args[index + 1 :])
            break
        if arg in takes_value:
            options.extend(args[index : index + 2])
            index += 2
            continue
        if arg.startswith("-") and len(arg) > 1 and not is_negative_number(arg):
            options.append(arg)
        else:
            arguments.append(arg)
        index += 1
    return options, arguments
