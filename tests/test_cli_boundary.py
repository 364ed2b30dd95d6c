"""The CLI boundary in-process: help, --debug, what one invocation knows, and user text shown as written."""

from __future__ import annotations

import threading

import pytest

from tests.helpers_ledger import one_line_error

# --- what is known before Click parses ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "command", "version", "debug", "json"),
    [
        (["add", "5", "food"], "add", False, False, False),
        (["--user", "bob", "-u", "ann", "--user=cy", "--debug", "list", "--json"], "list", False, True, True),
        (["-ubob", "portfolio", "show"], "portfolio", False, False, False),
        (["--debug", "--version"], None, True, True, False),
        (["--user", "bob", "--version", "add"], "add", True, False, False),
        (["--bogus", "--version"], None, False, False, False),  # Click answers: unknown option
        (["add", "--version"], "add", False, False, False),
        ([], None, False, False, False),
    ],
)
def test_the_one_scan_of_argv(argv, command, version, debug, json):
    from finbuddy.cli import scan

    line = scan(argv)
    assert (line.command, line.version, line.debug, line.json) == (command, version, debug, json)


def test_version_after_global_options(cli):
    from finbuddy import __version__

    r = cli("--user", "bob", "--debug", "--version")
    assert r.exit_code == 0 and r.stdout == f"finbuddy {__version__}\n"


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), ("portfolio",), ("budget",), ("daemon",), ("config",), ("db",)])
def test_a_command_group_without_arguments_prints_its_help_once(cli, args):
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.count("Usage:") == 1, r.stdout
    assert r.stderr == ""


# --- --debug --------------------------------------------------------------------------------------


def test_debug_prints_the_traceback_before_the_one_line(cli):
    r = cli("--debug", "edit", "999", "--amount", "1")
    assert r.exit_code == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "NotFoundError" in r.stderr or "not found" in r.stderr.lower()
    assert r.stderr.splitlines()[-1].startswith("finbuddy: ")


def test_finbuddy_debug_1_in_the_environment_prints_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_DEBUG", "1")
    r = cli("edit", "999", "--amount", "1")
    assert r.exit_code == 1
    assert "Traceback (most recent call last)" in r.stderr


def test_without_debug_an_error_is_one_line_and_no_traceback(cli):
    r = cli("edit", "999", "--amount", "1")
    assert r.exit_code == 1
    one_line_error(r.stderr)


# --- one invocation, one state --------------------------------------------------------------------


def test_nothing_carries_over_from_one_invocation_to_the_next(cli):
    from finbuddy.cli import state

    r = cli("--debug", "--user", "bob", "add", "abc", "food", "--json")
    assert r.exit_code == 2 and r.json["error"]["type"] == "validation_error"
    assert "Traceback" in r.stderr
    r = cli("add", "abc", "food")  # no --user, --debug or --json this time
    assert r.exit_code == 2 and r.stdout == ""
    one_line_error(r.stderr)
    assert cli("add", "5", "food", "--json").json["user"] == "alice"
    with pytest.raises(RuntimeError):
        state.current()


def test_json_mode_is_what_click_parsed_not_any_word_typed(cli):
    # After `--`, "--json" is the note, not the option: the error is for people, not a JSON document.
    r = cli("add", "abc", "food", "--", "--json")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "'abc'" in one_line_error(r.stderr)


def test_concurrent_invocations_each_see_their_own(cli):
    """What a long-lived server running commands in threads needs: current() is per thread."""
    from finbuddy.cli import scan, state

    both_inside = threading.Barrier(2, timeout=10)
    seen: dict[str, str | None] = {}

    def run(user: str) -> None:
        argv = ["--user", user, "list"]
        with state.running(argv, scan(argv)) as invocation:
            invocation.user = user
            both_inside.wait()
            seen[user] = state.current().user

    threads = [threading.Thread(target=run, args=(name,)) for name in ("ann", "ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"ann": "ann", "ben": "ben"}


# --- user text is shown as written ----------------------------------------------------------------

MARKUP_NAMES = ["[/x]", "[link=https://example.com/x]me[/link]", "[bold red]eve", ":thumbs_up:"]


@pytest.mark.parametrize("name", MARKUP_NAMES)
@pytest.mark.parametrize("command", [("portfolio", "show"), ("summary",), ("usage",)])
def test_rich_markup_in_a_user_name_is_shown_literally(cli, name, command):
    assert cli("--user", name, "add", "5", "food").exit_code == 0
    assert cli("--user", name, "portfolio", "add", "VWCE", "1", "--cost", "2").exit_code == 0
    r = cli("--user", name, *command)
    assert r.exit_code == 0, r.stderr
    assert name in r.stdout.replace("\n", ""), r.stdout
    assert "\x1b" not in r.stdout


def test_an_escape_in_an_option_name_reaches_stderr_escaped(cli):
    r = cli("add", "1", "x", "--\x1b[31mred")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "\x1b" not in line and "--\\x1b[31mred" in line


def test_an_escape_in_a_map_column_reaches_stderr_escaped(cli, tmp_path):
    csv = tmp_path / "bank.csv"
    csv.write_text("date,amount,note\n2026-11-05,-5,x\n")
    r = cli("import", csv, "--map", "\x1b[31mcol=amount")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "\x1b" not in line and "--map '\\x1b[31mcol=amount'" in line


def test_an_escape_in_a_file_name_reaches_stderr_escaped(cli, tmp_path):
    r = cli("import", tmp_path / "no\x1b[31mfile.csv")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "\x1b" not in line and "no\\x1b[31mfile.csv" in line


def test_an_escape_in_a_csv_header_reaches_stderr_escaped(cli, tmp_path):
    csv = tmp_path / "bank.csv"
    csv.write_text("date,\x1b[31mamount\n2026-11-05,-5\n")
    r = cli("import", csv)
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "\x1b" not in line and "\\x1b[31mamount" in line


def test_json_escapes_c1_controls_and_still_means_the_same(cli):
    note = "a\x1bb\x9bc\x7fd"
    r = cli("add", "5", "food", note, "--json")
    assert r.exit_code == 0
    assert "\x9b" not in r.stdout and "\x7f" not in r.stdout and "\x1b" not in r.stdout
    assert r.json["note"] == note
