"""Citus readiness of the SQL finbuddy sends: record every statement, check each routes to one shard.

Phase 3 (docs/SCALING.md) would distribute every user-owned table by `user_id` (`users` by `id`). A statement then
runs on one shard only when it filters each user-owned table it touches on ONE user id; the rest fan out to every
shard. `Recorder` captures what the product sends (an SQLAlchemy `before_cursor_execute` listener on the Engine
class, with the bound parameters); `check` classifies every statement with the rules below.

    FINBUDDY_TEST_RECORD_SQL=/tmp/sql python -m pytest -q -k postgres   # tests/conftest.py records each worker
    python -m tests.sharding_check /tmp/sql                               # and this checks what they sent

The rules, on the SQL text SQLAlchemy renders for PostgreSQL (no SQL parser: the product's statements are all
SQLAlchemy Core, whose shapes are regular):
  * a statement touching no user-owned table is 'global' (GLOBAL_TABLES says where those tables would live);
  * every reference to a user-owned table (`FROM`/`JOIN`/`UPDATE`/`INTO`, with its alias) must have its
    distribution column bound, directly or through `a.user_id = b.user_id` equalities (co-located joins,
    correlated subqueries), to bound values that are all ONE user id; an INSERT's rows must each carry the same
    `user_id` (a multi-row insert for one user is fine);
  * else it must match an ALLOWLIST entry (cross-user by design, with the reason, or a known gap) or it is a
    violation. Statements sent by the migrations are allowed as such; a test's own SQL is counted, not checked.
Not caught: an OR that weakens the user filter (`user_id = 1 OR category = 'x'`); SQL that psycopg runs without
SQLAlchemy (the import's COPY into its temporary staging table, which holds one user's rows).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD_ENV = "FINBUDDY_TEST_RECORD_SQL"


# --- recording -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A bound value as JSON can hold it (ints stay ints: user ids are compared by value)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


_SKIP = (f"{os.sep}sqlalchemy{os.sep}", f"{os.sep}psycopg{os.sep}", f"{os.sep}finbuddy{os.sep}db{os.sep}")
_MIGRATIONS = f"{os.sep}finbuddy{os.sep}db{os.sep}migrations{os.sep}"
_TESTS = str(Path(__file__).resolve().parent) + os.sep


def origin() -> tuple[str, str]:
    """Who sent the statement being executed: ('migration' | 'product' | 'test', the finbuddy function that sent it).

    'test': a test's own SQL, or a test calling the database layer directly (finbuddy/db/ called from tests/):
    what the product sends comes through its ledger, advisor, daemon or CLI code."""
    frame = sys._getframe(2)
    site = ""
    kind = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if _MIGRATIONS in filename:
            return ("migration", f"{Path(filename).stem}:{frame.f_code.co_name}")
        if kind is None:
            if f"{os.sep}finbuddy{os.sep}" in filename and not site:
                site = f"{frame.f_globals.get('__name__', filename)}:{frame.f_code.co_name}"
            if filename == __file__ or any(part in filename for part in _SKIP):
                pass
            elif filename.startswith(_TESTS):
                kind = "test"
            else:
                kind = "product"
        frame = frame.f_back
    return (kind or "product", site)


class Recorder:
    """Every statement sent to PostgreSQL by any Engine in this process while installed: (sql, parameters)."""

    def __init__(self, stream_to: Path | None = None) -> None:
        self.statements: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Streaming (a child process that may be killed): each statement is appended to a file of its own at once.
        self._stream = None
        if stream_to is not None:
            stream_to.mkdir(parents=True, exist_ok=True)
            path = stream_to / f"sql-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            self._stream = path.open("a", encoding="utf-8", buffering=1)

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.dialect.name != "postgresql":
            return
        rows = parameters if executemany else [parameters]
        params = []
        for row in rows or [None]:
            if isinstance(row, dict):
                params.append({str(k): _plain(v) for k, v in row.items()})
            elif row is None:
                params.append({})
            else:
                params.append({str(i): _plain(v) for i, v in enumerate(row)})
        kind, site = origin()
        item = {"sql": statement, "params": params, "origin": kind, "site": site}
        with self._lock:
            if self._stream is not None:
                self._stream.write(json.dumps(item) + "\n")
            else:
                self.statements.append(item)

    def install(self) -> Recorder:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._on_execute)
        return self

    def uninstall(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        if event.contains(Engine, "before_cursor_execute", self._on_execute):
            event.remove(Engine, "before_cursor_execute", self._on_execute)

    def dump(self, directory: Path) -> Path:
        """Append this process's statements to a file of its own in `directory` (JSON lines)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"sql-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        with self._lock, path.open("w", encoding="utf-8") as out:
            for item in self.statements:
                out.write(json.dumps(item) + "\n")
        return path


def load(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(Path(directory).glob("sql-*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


# --- the tables -----------------------------------------------------------------------------------

# The distribution column of `users` (every other user-owned table is distributed by `user_id`, co-located with it).
USERS_KEY = "id"

# The tables that are NOT user-owned, each with where it would live under Citus. A table in neither this list nor
# user-owned (a `user_id` column) fails tests/test_sharding_ready.py until it is classified here.
GLOBAL_TABLES = {
    "ai_global_usage": "the install-wide AI limit, one row per UTC day bumped by every AI call: a local table on the "
    "coordinator (a reference table would make every bump a write to every node); phase 3 moves it to Redis",
    "job_runs": "the daemon's job schedule, one row per job, written by the daemon only: a coordinator-local table",
    "database_identity": "one row written by its migration, read with every schema check: a reference table "
    "(a copy on every node, never written again)",
    "ai_batches": "the daemon's Batch API bookkeeping, a few rows a day, read and written by the daemon only: a "
    "coordinator-local table (its lines are the insight and ledger rows of each user, on their shards)",
    "alembic_version": "the migrations' own bookkeeping: the coordinator (Citus propagates the DDL to the shards)",
}

# Schema features of user-owned tables that break the rules, known and reported (table: columns: why).
SCHEMA_GAPS = {
    ("users", ("name",)): "known gap: user names are unique install-wide, so `users` (distributed by id) cannot "
    "enforce it on Citus; phase 3 needs a name -> id directory (a small table distributed by name, or the "
    "identity provider's id) before sharding",
}


def user_owned(metadata: Any) -> dict[str, str]:
    """Each user-owned table of `metadata` and its distribution column."""
    owned = {"users": USERS_KEY} if "users" in metadata.tables else {}
    for name, table in metadata.tables.items():
        if "user_id" in table.c:
            owned[name] = "user_id"
    return owned


def _owned_tables() -> dict[str, str]:
    from finbuddy.db.tables import metadata

    return user_owned(metadata)


# --- the statements -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    """Statements that may span users (or are a known gap), recognised by a pattern on their normalised text."""

    name: str
    pattern: str
    reason: str
    gap: bool = False  # a statement serving ONE user that does not route by user id: a gap to close in phase 3

    def matches(self, sql: str) -> bool:
        return re.search(self.pattern, sql) is not None


ALLOWLIST = (
    Allowed(
        "user-by-name",
        r"FROM users WHERE users\.name = %\(\w+\)s|^INSERT INTO users \(name, created_at\)"
        r"|FROM users LEFT OUTER JOIN insights ON .* WHERE users\.name = %\(\w+\)s",
        "known gap: every command resolves its user by name (users.name is unique install-wide): on Citus a "
        "lookup by a non-distribution column fans out to every shard; phase 3 needs a name -> id directory "
        "(then every other statement routes by the id)",
        gap=True,
    ),
    Allowed(
        "daemon-plan",
        r"^SELECT users\.id AS user_id, users\.name AS \"user\", insights\.status.* FROM users LEFT OUTER JOIN "
        r"insights ON insights\.user_id = users\.id",
        "the daemon's plan of who is due today: once per run; a distributed join Citus runs on every shard in "
        "parallel (users and insights are co-located)",
    ),
    Allowed(
        "budget-alerts",
        r"^INSERT INTO budget_alerts \(user_id, .*\) SELECT budgets\.user_id, .* FROM budgets JOIN \(SELECT "
        r"records\.user_id AS user_id, .* ON spent\.user_id = budgets\.user_id",
        "the daemon's budget alerts for every user, once per run: an INSERT ... SELECT joining co-located tables on "
        "user_id, which Citus pushes down to run on every shard in parallel",
    ),
    Allowed(
        "queue-plan",
        r"^INSERT INTO insights \(user_id, day, status, attempts, updated_at\) VALUES .* ON CONFLICT \(user_id, day\) "
        r"DO UPDATE SET status = ",
        "the queue planner marks the due users 'queued' in one multi-row upsert per chunk, once per day: Citus "
        "splits a multi-row INSERT into one per shard",
    ),
    Allowed(
        "batch-claim",
        r"^INSERT INTO insights \(user_id, day, status, attempts, claimed_by, claimed_at, figures, updated_at\) "
        r"VALUES .* ON CONFLICT \(user_id, day\) DO UPDATE SET status = ",
        "Batch API mode: a batch file's lines (many users) are claimed in one multi-row upsert, a few times a day: "
        "Citus splits a multi-row INSERT into one per shard",
    ),
    Allowed(
        "batch-lines",
        r"^SELECT insights\.user_id, users\.name, insights\.day, insights\.figures FROM insights JOIN users ON "
        r"users\.id = insights\.user_id WHERE insights\.status = %\(\w+\)s(::VARCHAR)? AND insights\.claimed_by = ",
        "Batch API mode: the lines a batch holds, by its claim (many users by design), once per batch: a co-located "
        "join Citus runs on every shard",
    ),
    Allowed(
        "reservation-sweep",
        r"^SELECT ai_calls\.user_id, ai_calls\.id FROM ai_calls WHERE ai_calls\.status = ",
        "the daemon's sweep of dead reservations, every few minutes: a distributed scan; each refund it finds is "
        "then a single-user statement",
    ),
    Allowed(
        "usage-all",
        r"FROM ai_calls WHERE ai_calls\.global_day (>=|BETWEEN)",
        "`usage --all` (every user per UTC day): an operator's report, a distributed aggregate Citus supports",
    ),
)

MIGRATIONS = (
    "the migrations (finbuddy/db/migrations/): DDL and one-off data fixes of every row, run once per upgrade from the "
    "coordinator, which Citus propagates to every shard"
)

_DDL = re.compile(r"^(CREATE|ALTER|DROP|TRUNCATE|COMMENT|GRANT|REVOKE|LOCK|SET|SHOW|RESET|VACUUM|ANALYZE)\b", re.I)
_CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PREPARE|DEALLOCATE)\b", re.I)
_NOT_ALIAS = {
    "WHERE", "JOIN", "LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "ON", "USING", "GROUP", "ORDER", "LIMIT",
    "OFFSET", "SET", "VALUES", "SELECT", "UNION", "RETURNING", "FOR", "HAVING", "WINDOW", "AS", "DEFAULT",
}  # fmt: skip
# The alias is looked at, not consumed: `FROM records JOIN budgets` has two references.
_TABLE_REF = re.compile(
    r"\b(FROM|JOIN|INTO|UPDATE)\s+\"?([A-Za-z_]\w*)\"?(?![.\w(])(?=(?:\s+(?:AS\s+)?([A-Za-z_]\w*))?)"
)
_PARAM = r"%\((\w+)\)s(?:::[A-Z ]+?(?=\W|$))?"
_COLUMN = r"(?:\"?([A-Za-z_]\w*)\"?\.)?\"?([A-Za-z_]\w*)\"?"
_EQUALS = re.compile(rf"(?<![\w.\"]){_COLUMN}\s*=\s*(?:{_PARAM}|{_COLUMN}|(\d+)\b)")
_IN_ONE = re.compile(rf"(?<![\w.\"]){_COLUMN}\s+IN\s*\(\s*{_PARAM}\s*\)")
_INSERT = re.compile(r"^INSERT INTO \"?(\w+)\"? \(([^)]*)\) (VALUES|SELECT)\b", re.I)


def normalise(sql: str) -> str:
    return " ".join(sql.split())


def shape(sql: str) -> str:
    """The statement with its repeated parts collapsed: the many-values insert batches and IN lists of any length
    are one statement."""
    text = normalise(sql)
    text = re.sub(r"__\d+\)s", ")s", text)
    text = re.sub(
        r"(\(%\([^)]*\)s[^()]*(?:\([^()]*\)[^()]*)*\))(?:, \(%\([^)]*\)s[^()]*(?:\([^()]*\)[^()]*)*\))+", r"\1", text
    )
    text = re.sub(r"_\d+_\d+\)s", ")s", text)
    text = re.sub(r"(IN \(%\(\w+\)s(?:::[A-Z ]+?)?)(?:, %\(\w+\)s(?:::[A-Z ]+?)?)+(?=\))", r"\1", text)
    return text


class _Links:
    """Union-find over column references ('alias.column') and bound values ('=param' / '#literal')."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def members(self, node: str) -> list[str]:
        root = self.find(node)
        return [n for n in list(self.parent) if self.find(n) == root]


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _insert_user_values(sql: str, table: str, key: str, columns: list[str], params: dict[str, Any]) -> set[Any]:
    """The user ids one execution of an INSERT writes (None when some row's cannot be told from its parameters)."""
    if key not in columns:
        return {None}
    if re.search(r"\) SELECT ", sql) and not re.search(r"\) VALUES ", sql):
        select = sql.split(" SELECT ", 1)[1]
        select = select.split(" FROM ", 1)[0]
        expr = re.sub(r"\s+AS\s+\w+$", "", _split_top(select)[columns.index(key)].strip())
        found = re.fullmatch(rf"{_PARAM}", expr)
        return {params.get(found.group(1), None)} if found else {None}
    values = {v for k, v in params.items() if re.fullmatch(rf"{re.escape(key)}(__\d+|_m\d+)?", k)}
    return values or {None}


def classify(sql: str, params: dict[str, Any], owned: dict[str, str]) -> tuple[str, set[str]]:
    """One execution's routing: ('single-user' | 'global' | 'ddl' | 'cross-user', user-owned tables it touches)."""
    text = normalise(sql)
    if _DDL.match(text) or _CONTROL.match(text) or text.upper().startswith("COPY "):
        tables = {m.group(2) for m in _TABLE_REF.finditer(text)} | set(
            re.findall(r"^\w+ (?:TABLE )?(?:IF \w+ )?(\w+)", text)
        )
        return ("ddl", tables & set(owned))
    refs: dict[str, str] = {}  # alias -> table (user-owned only)
    for match in _TABLE_REF.finditer(text):
        table, alias = match.group(2), match.group(3)
        if table not in owned:
            continue
        if alias is None or alias.upper() in _NOT_ALIAS:
            alias = table
        refs[alias] = table
    touched = set(refs.values())
    if not touched:
        return ("global", touched)
    insert = _INSERT.match(text)
    if insert and insert.group(1) in owned:
        table = insert.group(1)
        columns = [c.strip().strip('"') for c in insert.group(2).split(",")]
        users = _insert_user_values(text, table, owned[table], columns, params)
        refs.pop(table, None)  # the target routes by its rows; the rest (a SELECT's tables) by the filters below
        if None in users or len(users) != 1:
            return ("cross-user", touched)
        if not refs:
            return ("single-user", touched)
        text = text.split(" SELECT ", 1)[1] if " SELECT " in text else text
    links = _Links()
    sole = next(iter(refs)) if len(refs) == 1 else None

    def node(qualifier: str | None, column: str) -> str | None:
        if qualifier is None:
            if sole is None:
                return None
            qualifier = sole
        return f"{qualifier}.{column}"

    for m in _EQUALS.finditer(text):
        left = node(m.group(1), m.group(2))
        if left is None:
            continue
        if m.group(3):
            links.join(left, f"={m.group(3)}")
        elif m.group(5):
            right = node(m.group(4), m.group(5))
            if right is not None:
                links.join(left, right)
        elif m.group(6):
            links.join(left, f"#{m.group(6)}")
    for m in _IN_ONE.finditer(text):
        left = node(m.group(1), m.group(2))
        if left is not None:
            links.join(left, f"={m.group(3)}")
    values: set[Any] = set()
    for alias, table in refs.items():
        key = f"{alias}.{owned[table]}"
        bound = [n for n in links.members(key) if n[0] in "=#"]
        if not bound:
            return ("cross-user", touched)
        for n in bound:
            values.add(params.get(n[1:], None) if n[0] == "=" else int(n[1:]))
    if None in values or len(values) != 1:
        return ("cross-user", touched)
    return ("single-user", touched)


@dataclass
class Report:
    recorded: int = 0
    shapes: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)  # executions per routing kind
    shapes_by_kind: dict[str, set[str]] = field(default_factory=dict)
    allowed: dict[str, set[str]] = field(default_factory=dict)  # allowlist entry -> shapes it covered
    violations: dict[str, dict[str, Any]] = field(default_factory=dict)  # shape -> an example
    tables: Counter = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        reasons = {a.name: a.reason for a in ALLOWLIST}
        gaps = {a.name for a in ALLOWLIST if a.gap}
        return {
            "statements_recorded": self.recorded,
            "product_statements": self.recorded - self.by_kind["test-own-sql"],
            "distinct_statements": len(self.shapes),
            "executions_by_routing": dict(sorted(self.by_kind.items())),
            "distinct_by_routing": {k: len(v) for k, v in sorted(self.shapes_by_kind.items())},
            "allowlisted_cross_user": {
                name: {"distinct_statements": len(shapes), "reason": reasons[name], "known_gap": name in gaps}
                for name, shapes in sorted(self.allowed.items())
            },
            "migrations": MIGRATIONS,
            "violations": len(self.violations),
            "violation_examples": list(self.violations)[:20],
            "user_owned_table_executions": dict(sorted(self.tables.items())),
        }


def check(statements: Iterable[dict[str, Any]], owned: dict[str, str] | None = None) -> Report:
    """Classify every recorded execution; cross-user ones must match the allowlist, or they are violations."""
    owned = owned if owned is not None else _owned_tables()
    report = Report()
    for item in statements:
        sql, source = item["sql"], item.get("origin", "product")
        for params in item.get("params") or [{}]:
            report.recorded += 1
            if source == "test":  # a test's own SQL: not what the product sends
                report.by_kind["test-own-sql"] += 1
                continue
            kind, touched = classify(sql, params, owned)
            key = shape(sql)
            report.shapes[key] += 1
            for table in touched:
                report.tables[table] += 1
            if source == "migration" and kind in ("cross-user", "ddl"):
                kind = "migration"
            elif kind == "cross-user":
                entry = next((a for a in ALLOWLIST if a.matches(normalise(sql))), None)
                if entry is None:
                    example = {"sql": normalise(sql), "params": params, "site": item.get("site", "")}
                    report.violations.setdefault(key, example)
                    kind = "violation"
                else:
                    report.allowed.setdefault(entry.name, set()).add(key)
                    kind = "known-gap" if entry.gap else "allowlisted"
            report.by_kind[kind] += 1
            report.shapes_by_kind.setdefault(kind, set()).add(key)
    return report


def main(argv: list[str] | None = None) -> int:
    """Check the statements recorded in DIR; with --save, also keep the figures in the lab's sharding results."""
    args = sys.argv[1:] if argv is None else argv
    save = "--save" in args
    args = [a for a in args if a != "--save"]
    if len(args) != 1:
        print("usage: python -m tests.sharding_check DIR [--save]", file=sys.stderr)
        return 2
    report = check(load(Path(args[0])))
    print(json.dumps(report.figures(), indent=2))
    if save:
        from benchmarks.scale import results

        document = results.load("sharding")
        figures = document["figures"] if document else {}
        figures["whole_suite"] = {**report.figures(), "processes_recorded": len(list(Path(args[0]).glob("sql-*")))}
        results.save("sharding", figures)
    for key, example in report.violations.items():
        print(f"VIOLATION ({example['site']}): {key}\n  e.g. {json.dumps(example['params'])[:300]}", file=sys.stderr)
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
