"""benchmarks/ run from a plain install: every module they import from tests/ imports without pytest."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _test_modules_benchmarks_import() -> set[str]:
    """The `tests.*` modules any benchmark imports, at the top of the file or inside a function."""
    found: set[str] = set()
    for path in (ROOT / "benchmarks").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tests":
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tests")
    return found


def test_the_fakes_benchmarks_start_import_without_pytest():
    modules = sorted(_test_modules_benchmarks_import())
    # The fakes the benchmarks start today; a new one is checked too, as the scan finds it.
    assert {"tests.fakes.openai_server", "tests.fakes.synthetic_ledger", "tests.fakes_daemon"} <= set(modules)
    code = "import sys; sys.modules['pytest'] = None; " + "; ".join(f"import {name}" for name in modules)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
