"""Racing processes against the quota: the single-statement reservation lets exactly the quota through."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import run_process
from tests.fakes import openai_server as fake_openai
from tests.fakes.openai_server import Reply

openai_server = fake_openai.openai_server  # the fixture


@pytest.mark.slow
def test_twelve_concurrent_asks_let_exactly_the_quota_through(cli, backend, openai_server):
    assert cli("add", "12.50", "groceries").exit_code == 0  # creates the user and (SQLite) the schema
    openai_server.always(Reply(200, delay=0.2))  # calls overlap, as real ones do
    with ThreadPoolExecutor(max_workers=12) as pool:
        # distinct questions, so no process can be served by another's cached answer
        results = list(pool.map(lambda n: run_process(["ask", f"question number {n}", "--json"]), range(12)))
    codes = sorted(r.exit_code for r in results)
    assert codes == [0] * 5 + [3] * 7, [(r.exit_code, r.stderr) for r in results]
    assert openai_server.count == 5
    for result in results:
        if result.exit_code == 3:
            assert "Daily AI limit reached (5/5)" in result.stderr
    assert sorted(r.json["quota"]["used"] for r in results if r.exit_code == 0) == [1, 2, 3, 4, 5]
    quota = cli("quota", "--json").json
    assert (quota["used"], quota["remaining"], quota["global"]["used"]) == (5, 0, 5)
