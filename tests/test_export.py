"""Export: CSV and JSON shapes, formula escaping, file output, and a lossless round trip through import."""

from __future__ import annotations

import csv
import io
import json
import stat

import pytest

from tests.helpers_ledger import one_line_error

pytestmark = pytest.mark.usefixtures("backend")

TRICKY_NOTES = [
    'comma, "quotes" and\nnewlines\r\nand CRLF',
    "unicode: café ☕ 日本語 🚀",
    "=SUM(A1:A9)",
    "+1 555 0100",
    "-minus first",
    "@mention",
    "\tstarts with a tab",
    "'=already quoted",
    "''double",
    "'plain quote",
    "  leading spaces kept  ",
]


def seed(cli):
    cli("add", "12.50", "Groceries", "milk, eggs", "--date", "2026-11-01", "--merchant", "Tesco")
    cli("add", "2500", "salary", "--income", "--date", "2026-11-02", "--merchant", "ACME")
    cli("add", "3.50", "coffee", "--date", "2026-11-02", "--merchant", "Cafe")
    cli("add", "3.50", "coffee", "--date", "2026-11-02", "--merchant", "Cafe")  # identical twin
    cli("add", "7", "=cmd|' /C calc'!A0", "--date", "2026-11-03", "--merchant", "@evil")
    for i, note in enumerate(TRICKY_NOTES):
        r = cli("add", f"{i + 1}.01", "misc", "--date", f"2026-10-{i + 1:02d}", "--merchant", f"-m{i}", "--", note)
        assert r.exit_code == 0, r.stderr
    cli("budget", "set", "groceries", "400")
    cli("portfolio", "add", "AAPL", "1.5", "--cost", "150.25")
    cli("portfolio", "add", "VTI", "2")


def ledger(cli, user):
    r = cli("--user", user, "list", "--limit", "100000", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted(
        (x["date"], x["kind"], x["amount"], x["category"], x["merchant"] or "", x["note"] or "") for x in r.json
    )


def totals(rows):
    spent = sum(int(r[2].replace(".", "")) for r in rows if r[1] == "expense")
    earned = sum(int(r[2].replace(".", "")) for r in rows if r[1] == "income")
    return spent, earned


def test_csv_shape(cli):
    seed(cli)
    r = cli("export")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["date", "kind", "amount", "category", "merchant", "note"]
    assert len(rows) == 1 + 5 + len(TRICKY_NOTES)
    # oldest first
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:])
    assert ["2026-11-01", "expense", "12.50", "groceries", "Tesco", "milk, eggs"] in rows
    assert ["2026-11-02", "income", "2500.00", "salary", "ACME", ""] in rows


def test_csv_cells_are_escaped_against_formulas(cli):
    seed(cli)
    rows = list(csv.reader(io.StringIO(cli("export").stdout)))[1:]
    for row in rows:
        for cell in row[3:]:
            assert not cell or cell[0] not in "=+-@\t\r", row
    by_note = {row[5]: row for row in rows}
    assert "'=SUM(A1:A9)" in by_note
    assert "'+1 555 0100" in by_note
    assert "'@mention" in by_note
    assert "'\tstarts with a tab" in by_note
    assert "''=already quoted" in by_note  # a quote that the importer would strip is itself protected
    assert "'''double" in by_note
    assert "'plain quote" in by_note  # nothing to protect
    assert by_note["'=SUM(A1:A9)"][4] == "'-m2"
    assert ["2026-11-03", "expense", "7.00", "'=cmd|' /c calc'!a0", "'@evil", ""] in rows


def test_csv_round_trip_into_another_user_is_lossless(cli, tmp_path):
    seed(cli)
    out = tmp_path / "alice.csv"
    assert cli("export", "--output", out).exit_code == 0
    r = cli("--user", "bob", "import", out, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["imported"] == 5 + len(TRICKY_NOTES)
    alice, bob = ledger(cli, "alice"), ledger(cli, "bob")
    assert bob == alice
    assert totals(bob) == totals(alice)
    # and bob's export is byte-identical to alice's
    with out.open(encoding="utf-8", newline="") as handle:
        assert cli("--user", "bob", "export").stdout == handle.read()


def test_reimporting_an_export_into_the_user_who_imported_it_adds_nothing(cli, tmp_path):
    seed(cli)
    out = tmp_path / "alice.csv"
    cli("export", "--output", out)
    cli("--user", "bob", "import", out)
    again = tmp_path / "bob.csv"
    cli("--user", "bob", "export", "--output", again)
    r = cli("--user", "bob", "import", again, "--json")
    assert (r.json["imported"], r.json["duplicates"]) == (0, 5 + len(TRICKY_NOTES))


def test_json_shape(cli):
    seed(cli)
    r = cli("export", "--format", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) >= {"user", "exported_at", "records", "budgets", "holdings"}
    assert data["user"] == "alice"
    assert data["exported_at"] == "2026-11-25T12:00:00+00:00"
    assert len(data["records"]) == 5 + len(TRICKY_NOTES)
    first = next(x for x in data["records"] if x["merchant"] == "Tesco")
    assert first == {
        "id": 1,
        "user": "alice",
        "kind": "expense",
        "amount": "12.50",
        "category": "groceries",
        "date": "2026-11-01",
        "note": "milk, eggs",
        "merchant": "Tesco",
    }
    # JSON needs no formula escaping: values are verbatim
    assert {x["note"] for x in data["records"]} >= set(TRICKY_NOTES)
    assert data["budgets"] == [{"category": "groceries", "amount": "400.00"}]
    assert data["holdings"] == [
        {"ticker": "AAPL", "quantity": "1.5", "cost": "150.25", "cost_quantity": "1.5"},
        {"ticker": "VTI", "quantity": "2", "cost": None, "cost_quantity": "0"},
    ]
    assert cli("export", "--json").json == data


def test_empty_user_exports_empty_documents(cli):
    r = cli("--user", "nobody", "export", "--format", "json")
    data = json.loads(r.stdout)
    assert (data["records"], data["budgets"], data["holdings"]) == ([], [], [])
    assert cli("--user", "nobody", "export").stdout == "date,kind,amount,category,merchant,note\n"


def test_output_file_is_private_and_never_silently_overwritten(cli, tmp_path):
    seed(cli)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "export.json"
    r = cli("export", "-f", "json", "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json == {"format": "json", "records": 5 + len(TRICKY_NOTES), "output": str(out)}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    json.loads(out.read_text(encoding="utf-8"))
    r = cli("export", "-o", out)
    assert r.exit_code == 2 and "--force" in r.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["user"] == "alice"  # untouched
    out.chmod(0o644)
    assert cli("export", "-o", out, "--force").exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("date,kind,amount")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in out.parent.iterdir()] == ["export.json"]  # no temporary files left


def test_bad_format_or_output_exits_2(cli, tmp_path):
    assert cli("export", "--format", "xml").exit_code == 2
    assert cli("export", "--output", tmp_path).exit_code == 2
    assert cli("export", "--output", tmp_path / "no" / "such" / "dir.csv").exit_code == 2
    assert cli("export", "--format", "csv", "--json").exit_code == 2


def _special_files(tmp_path):
    """A FIFO, a character device like /dev/null (when allowed to make one), and symlinks to them."""
    import os

    made = {}
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    made["fifo"] = fifo
    try:
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made["device"] = tmp_path / "null"
    except (PermissionError, OSError):
        pass  # not root: the FIFO and the symlinks still make the point
    for name, path in list(made.items()):
        link = tmp_path / f"link-to-{name}"
        link.symlink_to(path)
        made[f"symlink to {name}"] = link
    return made


@pytest.mark.parametrize("force", [True, False])
def test_export_refuses_devices_and_fifos_even_with_force(cli, tmp_path, force):
    cli("add", "5", "food")
    for what, path in _special_files(tmp_path).items():
        before = path.lstat()
        r = cli("export", "--output", path, *(["--force"] if force else []))
        assert r.exit_code == 2, what
        assert "regular file" in one_line_error(r.stderr), what
        after = path.lstat()
        assert (stat.S_IFMT(after.st_mode), after.st_ino) == (stat.S_IFMT(before.st_mode), before.st_ino), what
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files


def test_export_through_a_symlink_replaces_the_file_it_points_at(cli, tmp_path):
    cli("add", "5", "food")
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.csv"
    link.symlink_to(real)
    r = cli("export", "--output", link, "--force")
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text(encoding="utf-8").startswith("date,kind,amount")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
