"""CSV import: header variants, mapping, signs, dates, validation before writing, idempotency, streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers_ledger import count_rows, one_line_error, stored_records

DATA = Path(__file__).parent / "data"


def write(tmp_path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding=encoding, newline="")
    return path


def records(cli, user=None):
    prefix = ["--user", user] if user else []
    r = cli(*prefix, "list", "--limit", "100000", "--json")
    assert r.exit_code == 0, r.stderr
    return sorted(
        ((x["date"], x["kind"], x["amount"], x["category"], x["merchant"], x["note"]) for x in r.json),
        key=lambda t: tuple("" if v is None else v for v in t),
    )


def do_import(cli, path, *args):
    r = cli("import", path, "--json", *args)
    assert r.exit_code == 0, r.stderr
    return r.json


@pytest.mark.usefixtures("backend")
class TestHeaders:
    def test_finbuddy_format_with_kind_column(self, cli, tmp_path):
        path = write(
            tmp_path,
            """
            date,kind,amount,category,merchant,note
            2026-11-01,expense,12.50,Groceries,Tesco,"milk, eggs"
            2026-11-02,income,2500.00,salary,ACME,
            """,
        )
        assert do_import(cli, path) | {"columns": None, "ignored_columns": None} == {
            "imported": 2,
            "duplicates": 0,
            "rows": 2,
            "dry_run": False,
            "columns": None,
            "ignored_columns": None,
            "sign": None,  # every row has its kind: no amount is read by its sign
            "categorized": {"enabled": True, "rows": 0, "rules": []},  # every row has its category
        }
        assert records(cli) == [
            ("2026-11-01", "expense", "12.50", "groceries", "Tesco", "milk, eggs"),
            ("2026-11-02", "income", "2500.00", "salary", "ACME", None),
        ]

    def test_signed_amounts_negative_expense_positive_income(self, cli, tmp_path):
        path = write(
            tmp_path,
            """
            Date,Amount,Category
            2026-11-01,-12.50,food
            2026-11-02,"1,234.56",salary
            2026-11-03,(7.00),fees
            2026-11-04,$-3.10,coffee
            """,
        )
        assert do_import(cli, path)["imported"] == 4
        assert records(cli) == [
            ("2026-11-01", "expense", "12.50", "food", None, None),
            ("2026-11-02", "income", "1234.56", "salary", None, None),
            ("2026-11-03", "expense", "7.00", "fees", None, None),
            ("2026-11-04", "expense", "3.10", "coffee", None, None),
        ]

    def test_debit_and_credit_columns(self, cli, tmp_path):
        path = write(
            tmp_path,
            """
            Posting Date,Payee,Withdrawals,Deposits,Balance
            2026-11-01,Landlord,900.00,,100.00
            2026-11-02,Employer,,3000.00,3100.00
            2026-11-03,Shop,0.00,15.00,3115.00
            """,
        )
        result = do_import(cli, path)
        assert result["imported"] == 3
        assert result["columns"] == {
            "date": "Posting Date",
            "merchant": "Payee",
            "debit": "Withdrawals",
            "credit": "Deposits",
        }
        assert result["ignored_columns"] == ["Balance"]
        assert records(cli) == [
            ("2026-11-01", "expense", "900.00", "uncategorized", "Landlord", None),
            ("2026-11-02", "income", "3000.00", "uncategorized", "Employer", None),
            ("2026-11-03", "income", "15.00", "uncategorized", "Shop", None),
        ]

    @pytest.mark.parametrize(
        ("header", "note_col", "merchant_col"),
        [
            ("DATE,AMOUNT,MEMO,PAYEE", "MEMO", "PAYEE"),
            ("transaction_date,amount,description,merchant_name", "description", "merchant_name"),
            (" Date , Amount (EUR) , Notes , Merchant ", "Notes", "Merchant"),
        ],
    )
    def test_header_names_are_recognised_case_insensitively(self, cli, tmp_path, header, note_col, merchant_col):
        path = write(tmp_path, f"{header}\n2026-11-01,-5,lunch with Ann,Café Ünïcode\n")
        result = do_import(cli, path)
        assert result["columns"]["note"].strip() == note_col
        assert result["columns"]["merchant"].strip() == merchant_col
        assert records(cli) == [("2026-11-01", "expense", "5.00", "uncategorized", "Café Ünïcode", "lunch with Ann")]

    def test_map_names_unrecognised_columns_and_overrides_guesses(self, cli, tmp_path):
        path = write(
            tmp_path,
            """
            Buchungstag;Betrag;Verwendungszweck;Kategorie;Description
            01.11.2026;-1.234,56;Miete November;Wohnen;ignored text
            02.11.2026;12,5;Erstattung;;more
            """,
        )
        result = do_import(
            cli,
            path,
            "--map",
            "buchungstag=date",
            "--map",
            "Betrag=amount",
            "--map",
            "Verwendungszweck=note",
            "--map",
            "Kategorie=category",
            "--map",
            "description=ignore",
        )
        assert result["imported"] == 2
        assert result["ignored_columns"] == ["Description"]
        assert records(cli) == [
            ("2026-11-01", "expense", "1234.56", "wohnen", None, "Miete November"),
            ("2026-11-02", "income", "12.50", "uncategorized", None, "Erstattung"),
        ]

    def test_missing_category_column_means_uncategorized(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,-9.99\n")
        do_import(cli, path)
        assert records(cli) == [("2026-11-01", "expense", "9.99", "uncategorized", None, None)]

    def test_data_file_of_a_bank_export(self, cli):
        result = do_import(cli, DATA / "bank_statement.csv")
        assert result["rows"] == 5 and result["imported"] == 5
        got = records(cli)
        assert ("2026-10-28", "expense", "4.20", "uncategorized", "Blue Bottle", 'Coffee; oat "flat white"') in got
        assert ("2026-10-31", "income", "2800.00", "uncategorized", "ACME Corp", "Salary\nOctober") in got


@pytest.mark.usefixtures("backend")
class TestDates:
    def test_day_first_slash_dates_are_detected_from_the_file(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n03/04/2026,-1\n25/04/2026,-2\n")
        do_import(cli, path)
        assert [r[0] for r in records(cli)] == ["2026-04-03", "2026-04-25"]

    def test_month_first_slash_dates_are_detected_from_the_file(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n03/04/2026,-1\n04/25/2026,-2\n")
        do_import(cli, path)
        assert [r[0] for r in records(cli)] == ["2026-03-04", "2026-04-25"]

    def test_ambiguous_slash_dates_need_a_date_format(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n01/01/2026,-1\n03/04/2026,-1\n")
        r = cli("import", path)
        assert r.exit_code == 2
        assert "line 3" in r.stderr and "--date-format" in r.stderr
        assert records(cli) == []
        do_import(cli, path, "--date-format", "mdy")
        assert [r[0] for r in records(cli)] == ["2026-01-01", "2026-03-04"]

    def test_mixed_day_first_and_month_first_is_rejected(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n25/04/2026,-1\n04/25/2026,-1\n")
        r = cli("import", path)
        assert r.exit_code == 2
        assert "line 2" in r.stderr and "line 3" in r.stderr
        assert records(cli) == []

    def test_iso_timestamps_keep_their_day(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01T23:59:00Z,-1\n2026-11-02 08:00,-1\n")
        do_import(cli, path)
        assert [r[0] for r in records(cli)] == ["2026-11-01", "2026-11-02"]


@pytest.mark.usefixtures("backend")
class TestValidation:
    @pytest.mark.parametrize(
        ("body", "line", "words"),
        [
            ("2026-11-01,-1,a\n2026-11-31,-2,b\n", 3, "2026-11-31"),
            ("2026-11-01,-1,a\nyesterday,-2,b\n", 3, "yesterday"),
            ("2026-11-01,-1,a\n2026-11-02,abc,b\n", 3, "abc"),
            ("2026-11-01,-1,a\n2026-11-02,0,b\n", 3, "zero"),
            ("2026-11-01,-1,a\n2026-11-02,-1.234,b\n", 3, "decimals"),
            ("2026-11-01,-1,a\n2026-11-02,,b\n", 3, "empty"),
            ("2026-11-01,-1,a\n2026-11-02,-1\n", 3, "cells"),
            ("2026-11-01,-1,a\n2026-11-02,-1,b,c\n", 3, "cells"),
            ("2026-11-01,-1,a\n2026-11-02,-2000000000,b\n", 3, "too large"),
            ('2026-11-01,-1,"multi\nline\nnote"\n2026-11-02,x,b\n', 5, "'x'"),
            ("2026-11-01,-1,a\n\n\n2026-11-02,x,b\n", 5, "'x'"),
        ],
    )
    def test_a_bad_row_exits_2_with_its_line_and_nothing_is_imported(self, cli, tmp_path, body, line, words):
        path = write(tmp_path, "date,amount,note\n" + body)
        r = cli("import", path)
        assert r.exit_code == 2, r.stderr
        assert f"in.csv line {line}:" in r.stderr
        assert words in r.stderr
        assert records(cli) == []

    def test_json_error_document(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\nnope,-1\n")
        r = cli("import", path, "--json")
        assert r.exit_code == 2
        assert r.json["error"]["type"] == "validation_error"
        assert "line 2" in r.json["error"]["message"]

    @pytest.mark.parametrize(
        ("content", "words"),
        [
            ("", "empty"),
            ("amount,note\n-1,x\n", "no date column"),
            ("date,note\n2026-11-01,x\n", "no amount column"),
            ("date,amount,debit\n2026-11-01,-1,\n", "both an amount"),
        ],
    )
    def test_unusable_headers_exit_2(self, cli, tmp_path, content, words):
        r = cli("import", write(tmp_path, content))
        assert r.exit_code == 2
        assert words in r.stderr

    def test_kind_category_and_debit_credit_errors(self, cli, tmp_path):
        r = cli("import", write(tmp_path, "date,kind,amount\n2026-11-01,refund,1\n"))
        assert r.exit_code == 2 and "kind 'refund'" in r.stderr
        r = cli("import", write(tmp_path, "date,debit,credit\n2026-11-01,1,2\n"))
        assert r.exit_code == 2 and "both debit and credit" in r.stderr
        r = cli("import", write(tmp_path, "date,debit,credit\n2026-11-01,,\n"))
        assert r.exit_code == 2 and "neither" in r.stderr
        r = cli("import", write(tmp_path, f"date,amount,category\n2026-11-01,1,{'c' * 65}\n"))
        assert r.exit_code == 2 and "line 2" in r.stderr

    def test_bad_map_options_exit_2(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,1\n")
        assert cli("import", path, "--map", "nosuch=note").exit_code == 2
        assert cli("import", path, "--map", "amount=price").exit_code == 2
        assert cli("import", path, "--map", "justtext").exit_code == 2
        assert cli("import", path, "--date-format", "ydm").exit_code == 2
        assert records(cli) == []

    def test_not_utf8_or_missing_file_exits_2(self, cli, tmp_path):
        path = tmp_path / "latin1.csv"
        path.write_bytes("date,amount,note\n2026-11-01,1,ok\n2026-11-02,1,caf\xe9\n".encode("latin-1"))
        r = cli("import", path)
        assert r.exit_code == 2 and "UTF-8" in r.stderr
        assert cli("import", tmp_path / "missing.csv").exit_code == 2
        assert records(cli) == []


@pytest.mark.usefixtures("backend")
class TestIdempotency:
    def test_reimport_adds_nothing_and_counts_duplicates(self, cli, tmp_path):
        path = write(tmp_path, "date,amount,note\n2026-11-01,-1,a\n2026-11-02,-2,b\n")
        assert do_import(cli, path)["imported"] == 2
        again = do_import(cli, path)
        assert (again["imported"], again["duplicates"], again["rows"]) == (0, 2, 2)
        assert len(records(cli)) == 2

    def test_identical_rows_in_one_file_are_all_imported_once(self, cli, tmp_path):
        body = "date,amount,merchant\n" + "2026-11-02,-3.50,Cafe\n" * 3 + "2026-11-03,-3.50,Cafe\n"
        path = write(tmp_path, body)
        assert do_import(cli, path)["imported"] == 4
        assert do_import(cli, path)["duplicates"] == 4
        # a later statement that overlaps: two of the three coffees again, plus one new row
        overlap = write(
            tmp_path, "date,amount,merchant\n" + "2026-11-02,-3.50,Cafe\n" * 2 + "2026-11-04,-1,X\n", name="overlap.csv"
        )
        result = do_import(cli, overlap)
        assert (result["imported"], result["duplicates"]) == (1, 2)
        assert len(records(cli)) == 5

    def test_text_is_compared_loosely(self, cli, tmp_path):
        do_import(cli, write(tmp_path, "date,amount,merchant\n2026-11-02,-3.50,Corner  Cafe\n"))
        again = do_import(cli, write(tmp_path, "Date,Amount,Payee\n2026-11-02,-3.5,corner cafe\n", name="b.csv"))
        assert again["duplicates"] == 1

    def test_fingerprints_are_per_user(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,-1\n")
        do_import(cli, path)
        r = cli("--user", "bob", "import", path, "--json")
        assert r.json["imported"] == 1

    def test_dry_run_counts_without_writing(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,-1\n2026-11-02,-1\n")
        dry = do_import(cli, path, "--dry-run")
        assert (dry["imported"], dry["duplicates"], dry["rows"], dry["dry_run"]) == (2, 0, 2, True)
        assert records(cli) == []
        do_import(cli, write(tmp_path, "date,amount\n2026-11-01,-1\n", name="first.csv"))
        dry = do_import(cli, path, "--dry-run")
        assert (dry["imported"], dry["duplicates"]) == (1, 1)
        assert len(records(cli)) == 1

    def test_dry_run_still_validates(self, cli, tmp_path):
        r = cli("import", write(tmp_path, "date,amount\n2026-11-01,x\n"), "--dry-run")
        assert r.exit_code == 2

    def test_import_invalidates_the_summary_cache(self, cli, tmp_path):
        cli("add", "10", "food")
        before = cli("summary", "--json")
        if before.exit_code != 0:
            pytest.skip("summary command not available yet")
        do_import(cli, write(tmp_path, "date,amount,category\n2026-11-20,-5,food\n"))
        after = cli("summary", "--json").json
        assert after["expenses"] == "15.00"

    def test_small_chunks_give_the_same_result(self, cli, tmp_path):
        from finbuddy.config import load_settings
        from finbuddy.context import Context
        from finbuddy.ledger.importer import import_csv

        lines = "".join(f"2026-11-{1 + i % 28:02d},-{1 + i % 7}.00,shop {i % 3}\n" for i in range(50))
        path = write(tmp_path, "date,amount,merchant\n" + lines)
        ctx = Context(settings=load_settings())
        try:
            first = import_csv(ctx, path, chunk_rows=7)
            second = import_csv(ctx, path, chunk_rows=3)
        finally:
            ctx.close()
        assert (first.imported, first.duplicates) == (50, 0)
        assert (second.imported, second.duplicates) == (0, 50)
        ids = [r["id"] for r in cli("list", "--limit", "1000", "--json").json]
        assert sorted(ids) == list(range(1, 51))


def test_human_output_and_ignored_columns(cli, tmp_path):
    path = write(tmp_path, "date,amount,balance\n2026-11-01,-1,5\n")
    r = cli("import", path)
    assert r.exit_code == 0
    assert "Imported 1 of 1 row" in r.stdout and "Ignored columns: balance" in r.stdout
    r = cli("import", path, "--dry-run")
    assert "Would import 0 of 1 row" in r.stdout and "1 already imported" in r.stdout


def test_formula_escapes_from_export_are_undone(cli, tmp_path):
    path = write(
        tmp_path,
        "date,kind,amount,category,merchant,note\n"
        "2026-11-01,expense,1.00,'=cat,'+merchant,'@note\n"
        "2026-11-01,expense,2.00,food,'-x,''=kept quote\n"
        "2026-11-01,expense,3.00,food,it's,'plain\n",
    )
    do_import(cli, path)
    assert records(cli) == [
        ("2026-11-01", "expense", "1.00", "=cat", "+merchant", "@note"),
        ("2026-11-01", "expense", "2.00", "food", "-x", "'=kept quote"),
        ("2026-11-01", "expense", "3.00", "food", "it's", "'plain"),
    ]


_MEMORY_PROBE = r"""
import csv, json, os, resource, sys, datetime as dt
from pathlib import Path
n, path = int(sys.argv[1]), Path(sys.argv[2])
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["date", "amount", "category", "merchant", "note"])
    for i in range(n):
        day = dt.date(2020, 1, 1) + dt.timedelta(days=i % 2000)
        w.writerow([day.isoformat(), f"-{1 + i % 9999}.{i % 100:02d}", f"cat{i % 20}", f"shop {i % 300}", f"note {i}"])
from finbuddy.config import load_settings
from finbuddy.context import Context
from finbuddy.ledger.importer import import_csv
ctx = Context(settings=load_settings())
ctx.db.ensure_schema()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = import_csv(ctx, path)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"imported": result.imported, "before_kib": before, "peak_kib": after}))
"""


def _peak_rss_kib(tmp_path, rows: int) -> tuple[int, int]:
    import os

    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)
    env["FINBUDDY_HOME"] = str(tmp_path / f"home{rows}")
    env.pop("FINBUDDY_DATABASE_URL", None)  # SQLite: the process's own memory is what we measure
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(rows), str(tmp_path / f"rows{rows}.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    data = json.loads(proc.stdout)
    assert data["imported"] == rows
    return data["peak_kib"], data["peak_kib"] - data["before_kib"]


def test_import_streams_with_bounded_memory(tmp_path):
    small_peak, small_growth = _peak_rss_kib(tmp_path, 20_000)
    big_peak, big_growth = _peak_rss_kib(tmp_path, 200_000)
    # Ten times the rows: the peak may grow by a few MB (Bloom filter sized to the file, SQLite's
    # page cache), never in proportion to the file (200k rows held in memory would be 100+ MB).
    assert big_peak - small_peak < 12 * 1024, (small_peak, big_peak)
    assert big_growth < 30 * 1024, (small_growth, big_growth)


@pytest.mark.usefixtures("backend")
class TestMalformedFiles:
    def test_unterminated_quote_exits_2_naming_its_line_and_imports_nothing(self, cli, tmp_path):
        path = tmp_path / "in.csv"
        path.write_bytes(b'date,amount,note\n2025-01-05,-5,"open\n2025-01-06,-6,rent\n')
        r = cli("import", path)
        assert r.exit_code == 2, r.stdout
        line = one_line_error(r.stderr)
        assert "in.csv line 2:" in line and "quote" in line
        assert records(cli) == []

    def test_text_after_a_closing_quote_is_malformed(self, cli, tmp_path):
        path = write(tmp_path, 'date,amount,note\n2025-01-05,-5,ok\n2025-01-06,-6,"5" screen"\n')
        r = cli("import", path)
        assert r.exit_code == 2
        assert "in.csv line 3:" in one_line_error(r.stderr)
        assert records(cli) == []

    def test_nul_byte_in_a_note_exits_2_naming_its_line(self, cli, tmp_path, db_url):
        path = tmp_path / "in.csv"
        path.write_bytes(b"date,amount,note\n2025-01-05,-5,fine\n2025-01-06,-6,bad\x00note\n")
        r = cli("import", path)
        assert r.exit_code == 2, r.stdout
        line = one_line_error(r.stderr)
        assert "in.csv line 3:" in line and "NUL" in line
        assert count_rows(db_url, "records") == 0

    def test_nul_byte_in_add_and_edit_is_one_line_exit_2(self, cli, db_url):
        r = cli("add", "5", "food", "a\x00b")
        assert r.exit_code == 2
        assert "NUL" in one_line_error(r.stderr)
        assert count_rows(db_url, "records") == 0
        assert cli("add", "5", "food", "fine").exit_code == 0
        r = cli("edit", "1", "--note", "x\x00")
        assert r.exit_code == 2
        assert "NUL" in one_line_error(r.stderr)
        assert [row["note"] for row in stored_records(db_url)] == ["fine"]
        for option in ("--merchant", "--category"):
            r = cli("edit", "1", option, "x\x00")
            assert r.exit_code == 2, option
            one_line_error(r.stderr)


class TestSignConvention:
    def test_a_file_without_negative_amounts_is_a_list_of_expenses(self, cli, tmp_path):
        path = write(tmp_path, "date,amount,merchant\n2026-11-01,12.50,Shop\n2026-11-02,3,Cafe\n")
        result = do_import(cli, path)
        assert result["sign"] == "card"
        assert records(cli) == [
            ("2026-11-01", "expense", "12.50", "uncategorized", "Shop", None),
            ("2026-11-02", "expense", "3.00", "uncategorized", "Cafe", None),
        ]

    def test_a_file_with_both_signs_reads_negative_as_expense(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,-12.50\n2026-11-02,100\n")
        assert do_import(cli, path)["sign"] == "bank"
        assert [r[1] for r in records(cli)] == ["expense", "income"]

    def test_sign_card_reads_positive_as_charge_and_negative_as_refund(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,40.00\n2026-11-02,-15.00\n")
        assert do_import(cli, path, "--sign", "card")["sign"] == "card"
        assert records(cli) == [
            ("2026-11-01", "expense", "40.00", "uncategorized", None, None),
            ("2026-11-02", "income", "15.00", "uncategorized", None, None),
        ]

    def test_sign_bank_reads_a_file_of_positive_amounts_as_income(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,2500\n2026-11-15,2500\n")
        assert do_import(cli, path, "--sign", "bank")["sign"] == "bank"
        assert [r[1] for r in records(cli)] == ["income", "income"]

    def test_the_reading_is_told_on_stderr_for_people(self, cli, tmp_path):
        r = cli("import", write(tmp_path, "date,amount\n2026-11-01,12.50\n"))
        assert r.exit_code == 0
        assert "card statement" in r.stderr and "--sign bank" in r.stderr
        assert "card" not in r.stdout
        r = cli("import", write(tmp_path, "date,amount\n2026-11-01,-1\n2026-11-02,1\n", name="b.csv"))
        assert "bank statement" in r.stderr

    def test_kind_and_debit_credit_columns_need_no_sign(self, cli, tmp_path):
        kinds = write(tmp_path, "date,kind,amount\n2026-11-01,income,5\n2026-11-02,expense,-7\n")
        assert do_import(cli, kinds, "--sign", "card")["sign"] is None
        split = write(tmp_path, "date,debit,credit\n2026-11-03,4,\n2026-11-04,,9\n", name="split.csv")
        assert do_import(cli, split)["sign"] is None
        assert [r[1:3] for r in records(cli)] == [
            ("income", "5.00"),
            ("expense", "7.00"),
            ("expense", "4.00"),
            ("income", "9.00"),
        ]

    def test_rows_identical_by_kind_and_by_sign_are_both_kept(self, cli, tmp_path):
        # the second row's kind comes from its sign (no negative amount: an expense), so it is the
        # same as the first row, and an identical row in one file is imported, not dropped
        path = write(tmp_path, "date,kind,amount,merchant\n2026-11-01,expense,5,Cafe\n2026-11-01,,5,Cafe\n")
        result = do_import(cli, path)
        assert (result["imported"], result["sign"]) == (2, "card")
        assert records(cli) == [("2026-11-01", "expense", "5.00", "uncategorized", "Cafe", None)] * 2
        assert do_import(cli, path)["duplicates"] == 2

    def test_bad_sign_option_exits_2(self, cli, tmp_path):
        r = cli("import", write(tmp_path, "date,amount\n2026-11-01,1\n"), "--sign", "credit")
        assert r.exit_code == 2
        assert "'credit'" in one_line_error(r.stderr)
        assert records(cli) == []


class TestTerminalText:
    """Names from the file or the command line reach stderr quoted and escaped, never as terminal codes."""

    ESC = "\x1b]0;owned\x07\x1b[2J"

    def test_a_file_name_with_escapes_is_quoted_in_errors(self, cli, tmp_path):
        path = write(tmp_path, "date,amount\n2026-11-01,x\n", name=f"{self.ESC}.csv")
        r = cli("import", path)
        assert r.exit_code == 2
        line = one_line_error(r.stderr)
        assert "\x1b" not in line and "\x07" not in line
        assert repr(f"{self.ESC}.csv") + " line 2:" in line

    def test_header_and_map_columns_with_escapes_are_quoted(self, cli, tmp_path):
        path = write(tmp_path, f"{self.ESC}when,amount\n2026-11-01,-1\n")
        r = cli("import", path)
        assert r.exit_code == 2
        assert "\x1b" not in one_line_error(r.stderr)
        assert repr(f"{self.ESC}when") in r.stderr
        r = cli("import", path, "--map", f"{self.ESC}nosuch=date")
        assert r.exit_code == 2
        assert "\x1b" not in one_line_error(r.stderr)
        assert records(cli) == []


def _import_in_process(path, on_progress, chunk_rows):
    """import_csv for the test's user in this process, calling `on_progress(done)` after each chunk it writes."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.importer import import_csv

    def progress(phase, done, total):
        if phase == "importing":
            on_progress(done, total)

    ctx = Context(settings=load_settings())
    try:
        return import_csv(ctx, path, chunk_rows=chunk_rows, progress=progress)
    finally:
        ctx.close()


@pytest.mark.usefixtures("backend")
class TestImportBesideOtherWriters:
    """An import holds no lock while it reads and stages the file: only its last, short transaction writes."""

    def test_adds_by_other_processes_during_an_import_all_succeed(self, cli, tmp_path):
        from tests.conftest import run_process

        rows = 200
        lines = "".join(f"2026-10-{1 + i % 28:02d},-{1 + i % 50}.25,shop {i}\n" for i in range(rows))
        path = write(tmp_path, "date,amount,merchant\n" + lines)
        started = []

        def add_while_importing(done, total):
            # Between two chunks: another process adds a record for the same user, and this import
            # waits for it. If the import held the write lock (SQLite) or the user's row lock
            # (PostgreSQL) here, the add could only wait for it and fail (or hang until the timeout).
            if done < total:
                r = run_process(["add", "1.50", "coffee", f"during {done}", "--json"], timeout=60)
                assert r.exit_code == 0, r.stderr
                started.append(r.json["id"])
            else:
                # The last chunk: these adds race the import's one short publishing transaction.
                started.extend(
                    subprocess.Popen(
                        [sys.executable, "-m", "finbuddy", "add", "2", "tea", f"race {n}"],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for n in range(2)
                )

        result = _import_in_process(path, add_while_importing, chunk_rows=100)
        racing = [p for p in started if isinstance(p, subprocess.Popen)]
        for proc in racing:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert (result.imported, result.rows) == (rows, rows)
        mine = cli("list", "--limit", "100000", "--json").json
        assert len(mine) == rows + 1 + 2
        assert len({r["id"] for r in mine}) == len(mine)
        assert sum(1 for r in mine if r["category"] == "coffee") == 1
        assert sum(1 for r in mine if r["category"] == "tea") == 2

    def test_rows_another_import_commits_meanwhile_count_as_duplicates(self, cli, tmp_path):
        from tests.conftest import run_process

        lines = "".join(f"2026-10-{1 + i % 28:02d},-{1 + i}.00,shop {i}\n" for i in range(60))
        path = write(tmp_path, "date,amount,merchant\n" + lines)
        other = []

        def import_again_meanwhile(done, total):
            if not other:  # while this import is staging, a second one of the same file commits
                other.append(run_process(["import", path, "--json"], timeout=60))

        result = _import_in_process(path, import_again_meanwhile, chunk_rows=20)
        assert other[0].exit_code == 0, other[0].stderr
        assert other[0].json["imported"] == 60
        assert (result.imported, result.duplicates) == (0, 60)
        assert len(records(cli)) == 60


def test_adds_wait_out_a_publish_longer_than_their_timeout(backend, cli, tmp_path):
    """An import's one publishing transaction holds the write lock (SQLite) or the user's row (PostgreSQL)
    for as long as copying its rows takes, which on a big file and a busy machine is longer than a
    writer's busy or lock timeout. Writers that meet it wait for it to end, however long, instead of
    failing with "database is locked" or a lock timeout; the import stays all or nothing. Here the adds'
    database.timeout is 0.2 s and the publish (60k rows on SQLite, 150k on PostgreSQL) takes seconds:
    before writers waited on the publish, these adds failed."""
    from finbuddy.config import load_settings
    from finbuddy.context import Context
    from finbuddy.ledger.importer import import_csv

    rows = 60_000 if backend == "sqlite" else 150_000  # PostgreSQL copies faster
    lines = "".join(f"2026-{1 + i % 10:02d}-{1 + i % 28:02d},-{1 + i % 97}.{i % 100:02d},s{i}\n" for i in range(rows))
    path = write(tmp_path, "date,amount,merchant\n" + lines)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["FINBUDDY_DATABASE_TIMEOUT"] = "0.2"
    adds: list[subprocess.Popen] = []

    def progress(phase, done, total):
        if phase == "saving":  # the publish begins as soon as this returns
            adds.extend(
                subprocess.Popen(
                    [sys.executable, "-m", "finbuddy", "add", "2", "tea", f"during publish {n}", "--json"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for n in range(4)
            )

    cli("add", "1", "coffee")  # the database exists before the adds race the publish
    ctx = Context(settings=load_settings())
    try:
        result = import_csv(ctx, path, progress=progress)
    finally:
        ctx.close()
    outcomes = [(proc.wait(timeout=120), proc.stdout.read(), proc.stderr.read()) for proc in adds]
    for proc in adds:
        proc.stdout.close()
        proc.stderr.close()
    assert [code for code, _, _ in outcomes] == [0, 0, 0, 0], [err for _, _, err in outcomes]
    waited = [err for _, _, err in outcomes if "an import is publishing" in err]
    assert waited, "no add met the publish: make the file bigger"
    assert all(err.count("\n") == 1 and err.startswith("finbuddy: warning: ") for err in waited)
    assert (result.imported, result.rows) == (rows, rows)
    assert count_rows(load_settings().database_url, "records") == rows + 1 + 4
    # the adds that waited were numbered after the import's rows
    ids = sorted(json.loads(out)["id"] for _, out, err in outcomes if "an import is publishing" in err)
    assert ids[0] > rows + 1


def test_imported_records_are_numbered_in_date_order(cli, tmp_path):
    # statements often list the newest first; ids still grow with the date (file order within a day)
    path = write(tmp_path, "date,amount,note\n2026-11-03,-3,c\n2026-11-01,-1,a1\n2026-11-02,-2,b\n2026-11-01,-1,a2\n")
    do_import(cli, path)
    listed = cli("list", "--limit", "100", "--json").json
    assert sorted((r["id"], r["date"], r["note"]) for r in listed) == [
        (1, "2026-11-01", "a1"),
        (2, "2026-11-01", "a2"),
        (3, "2026-11-02", "b"),
        (4, "2026-11-03", "c"),
    ]
