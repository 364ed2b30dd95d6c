"""What `daemon serve` does before it serves: import what commands use, build every command, rehearse the common
ones; and what a request's process undoes of the server's own set-up."""

from __future__ import annotations

import threading
from pathlib import Path

# Imported by `daemon serve` before it forks a process per request (besides every finbuddy module): what commands
# import inside functions, for start-up speed. A name missing here only costs its import to each request using it.
PRELOAD = (
    "typer.rich_utils",
    "rich.console",
    "rich.table",
    "rich.text",
    "rich.progress",
    "rich.logging",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
    "diskcache",
    "openai",
    "tomllib",
    "csv",
    "decimal",
)
# Read once, when a library is imported (the interpreter's own, typer's help styles, openai's logging): a command
# whose values differ from the server's would not be answered as it would be cold, so the client runs it itself.
IMPORT_TIME_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSAFEPATH",
    "PYTHONHASHSEED",
    "PYTHONWARNINGS",
    "PYTHONDEVMODE",
    "PYTHONOPTIMIZE",
    "PYTHONUTF8",
    "TYPER_USE_RICH",
    "TYPER_STANDARD_TRACEBACK",
    "_TYPER_STANDARD_TRACEBACK",
    "TERMINAL_WIDTH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "GITHUB_ACTIONS",
    "FORCE_COLOR",
    "PY_COLORS",
    "OPENAI_LOG",
)


def preload(scratch: Path) -> list[str]:
    """Import every finbuddy module and PRELOAD, build every command, rehearse in the directory `scratch`; what
    did not go as planned."""
    import gc
    import importlib
    import pkgutil

    import finbuddy
    from finbuddy.cli.app import prebuild

    failed: list[str] = []
    names = [
        info.name
        for info in pkgutil.walk_packages(finbuddy.__path__, "finbuddy.", onerror=failed.append)
        if not info.name.endswith(".__main__") and ".migrations" not in info.name
    ]
    for name in [*names, *PRELOAD]:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    prebuild()
    threads = threading.active_count()
    _rehearse(scratch)
    if threading.active_count() > threads:  # forking a process with other threads copies locks they may hold
        failed.append(f"(the rehearsal left {threading.active_count() - threads} threads running)")
    gc.collect()
    gc.freeze()  # what is here now is shared with every request: never moved by their collections (copy-on-write)
    return failed


# Run once by `daemon serve` before it serves, in a scratch home, by the same entry point as every request: their
# code paths have then run in the process requests are forked from (Python's specialised bytecode, SQLAlchemy's
# memoised table and statement structures, Rich's caches, modules imported inside functions), so that each request
# neither redoes that work nor copies the pages it would write.
REHEARSAL: tuple[tuple[str, ...], ...] = (
    ("add", "12.50", "groceries", "--merchant", "Shop", "--note", "rehearsal"),
    ("add", "3200", "salary", "--income", "--json"),
    ("edit", "1", "--amount", "13"),
    ("list", "--limit", "20"),
    ("list", "--limit", "20", "--json"),
    ("budget", "set", "groceries", "400"),
    ("budget", "list"),
    ("summary", "--fresh"),
    ("summary",),
    ("summary", "--json"),
    ("portfolio", "add", "ABC", "2", "--cost", "10"),
    ("portfolio", "show"),
    ("quota",),
    ("usage",),
    ("ask", "How am I doing?"),
    ("insights",),
    ("add", "0", "x"),
)


# Commands after which a request process may serve another request (the server checks the rest: no thread or
# descriptor left behind, see finbuddy/server/serve.py WarmServer._reusable): the quick, repeated ones of README
# "Warm start", which open the database and the cache and close them again. Not `ask` (the provider's client),
# `import` and `export` (files, long work), nor anything that configures or starts something.
REUSABLE = frozenset(
    {"add", "list", "edit", "budget", "summary", "portfolio", "quota", "usage", "insights", "recurring", "trend"}
)


def reusable_after(argv: list[str]) -> bool:
    """Whether a request process that ran `argv` may run another request."""
    from finbuddy.cli import scan

    return scan(argv).command in REUSABLE


def _rehearse(home: Path) -> None:
    """Run REHEARSAL with `home` as FINBUDDY_HOME, its output discarded, then leave no trace of it: the environment
    and the standard streams as they were, the home removed (also first: what a server killed while rehearsing
    left). What fails in it only stays cold."""
    import contextlib
    import io
    import os
    import shutil

    from finbuddy.cli import run_here
    from finbuddy.config import make_private_dir

    saved = dict(os.environ)
    shutil.rmtree(home, ignore_errors=True)
    make_private_dir(home)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if not k.startswith(("FINBUDDY_", "OPENAI_"))})
        os.environ.update(
            FINBUDDY_HOME=str(home),
            FINBUDDY_USER="rehearsal",
            FINBUDDY_USER_TIMEZONE="UTC",
            FINBUDDY_AI_PROVIDER="offline",
        )
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            for args in REHEARSAL:
                try:
                    run_here(list(args))
                except (Exception, SystemExit):
                    pass
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(home, ignore_errors=True)


def forget_server_logging() -> None:
    """In a request's process: no logging set up, as in a cold run (the server's log handlers are its own)."""
    import logging

    logger = logging.getLogger("finbuddy")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
