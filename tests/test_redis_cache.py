"""The shared cache on Redis (`cache.url`): installs share entries, writes invalidate for all, outages are misses.

Real services only: the machine's Redis with a random key prefix per test (`redis_prefix`), a private
redis-server of the test's own to kill or hang (`private_redis`), the real PostgreSQL for two installs
sharing one database, and the loopback OpenAI fake.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finbuddy.cache import Cache, CacheUnavailable, open_cache
from finbuddy.clock import Clock
from tests.conftest import FIXED_NOW, _truncate_pg, run_process

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TTLS = {"summary": 1800, "portfolio": 3600, "ai": 86400}
LATER = "2026-11-25T12:10:00+00:00"  # another install's clock, within every TTL
# A command with Redis down answers "within a second or two"; this is only a safety net against a hang
# (the machine is shared), what is asserted is what the code decided: timeouts, one breaker trip.
SAFETY_NET_S = 10.0


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def client_for(url: str):
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def keys_under(url: str, prefix: str) -> list[str]:
    client = client_for(url)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=500))
    finally:
        client.close()


def redis_cache(url: str, prefix: str, monotonic=time.monotonic, namespace: str = "db1", **backend_options):
    from finbuddy.cache.redis import RedisCacheBackend

    warnings = Warnings()
    cache = Cache(
        lambda: RedisCacheBackend(url, prefix, **backend_options),
        dict(TTLS),
        Clock(T0),
        warn=warnings,
        namespace=namespace,
        monotonic=monotonic,
    )
    return cache, warnings


class FakeMonotonic:
    """The breaker's time source, moved by hand (the Cache takes it like the Clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def use_redis(monkeypatch, url: str, prefix: str | None = None) -> None:
    monkeypatch.setenv("FINBUDDY_CACHE_URL", url)
    if prefix is not None:
        monkeypatch.setenv("FINBUDDY_CACHE_PREFIX", prefix)


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("finbuddy: warning:")]


# --- the store: same interface, same keys, JSON, TTLs ------------------------------------------


def test_an_entry_put_by_one_cache_is_read_by_another_on_the_same_redis(redis_url, redis_prefix):
    first, warnings = redis_cache(redis_url, redis_prefix)
    first.put("summary", "alice", [1, 4], "2026-11", value={"expenses": "12.50"})
    first.close()
    second, _ = redis_cache(redis_url, redis_prefix)
    hit = second.get("summary", "alice", [1, 4], "2026-11")
    assert hit is not None and hit.value == {"expenses": "12.50"} and hit.stored_at == T0.timestamp()
    assert second.get("summary", "alice", [1, 5], "2026-11") is None  # another generation: a miss
    assert second.get("summary", "bob", [1, 4], "2026-11") is None
    assert warnings == [] and (second.hits, second.misses) == (1, 2)


def test_keys_are_prefix_then_the_disk_caches_key_and_stay_bounded(redis_url, redis_prefix):
    cache, _ = redis_cache(redis_url, redis_prefix)
    long_question = "should I " + "really " * 500 + "buy it?"
    cache.put("ai", "u" * 64, [1, 2, 3], "ask", "openai", long_question, value="answer")
    cache.put(
        "ai", "émile", [1, 2, 3], "ask", "openai", "ça coûte? " * 16, value="réponse"
    )  # key payload: 195 chars, 228 bytes
    cache.put("summary", "alice", [1, 4], "2026-11", value="s")
    found = keys_under(redis_url, redis_prefix)
    assert sorted(found) == sorted(
        f"{redis_prefix}:{cache.key(kind, user, gen, *parts)}"
        for kind, user, gen, parts in [
            ("ai", "u" * 64, [1, 2, 3], ("ask", "openai", long_question)),
            ("ai", "émile", [1, 2, 3], ("ask", "openai", "ça coûte? " * 16)),
            ("summary", "alice", [1, 4], ("2026-11",)),
        ]
    )
    assert all(k.startswith(f"{redis_prefix}:fb1:db1:") for k in found)
    # {prefix}:fb1:{database identity}:{kind}:{payload}, the payload at most 200 bytes (else its hash)
    payloads = [k.split(":", 4)[4] for k in found]
    assert max(len(payload.encode()) for payload in payloads) <= 200
    assert sum(payload.startswith("sha256:") for payload in payloads) == 2


def test_values_are_json_text_with_redis_expiring_them_after_the_ttl(redis_url, redis_prefix):
    cache, _ = redis_cache(redis_url, redis_prefix)
    cache.put("summary", "alice", 1, value={"expenses": "12.50"})
    (key,) = keys_under(redis_url, redis_prefix)
    client = client_for(redis_url)
    try:
        stored = json.loads(client.get(key))
        ttl = client.ttl(key)
    finally:
        client.close()
    assert stored == {"stored_at": T0.timestamp(), "expires_at": T0.timestamp() + 1800, "value": {"expenses": "12.50"}}
    assert 1800 < ttl <= 1800 + 60  # the TTL plus the margin that leaves expiry to finbuddy's clock
    assert cache.cull() == 0  # nothing to cull: Redis removes expired entries itself


def test_a_pickled_value_planted_in_redis_is_a_miss_never_loaded(redis_url, redis_prefix, tmp_path):
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cache, warnings = redis_cache(redis_url, redis_prefix)
    cache.put("summary", "alice", 1, value="x")
    (key,) = keys_under(redis_url, redis_prefix)
    client = client_for(redis_url)
    try:
        client.set(key, pickle.dumps(Exploit()))
    finally:
        client.close()
    assert cache.get("summary", "alice", 1) is None
    assert not marker.exists()
    assert len(warnings) == 1 and "malformed" in warnings[0]


def test_installs_with_different_prefixes_share_nothing(redis_url, redis_prefix):
    first, _ = redis_cache(redis_url, redis_prefix + "-a")
    first.put("summary", "alice", 1, value="x")
    second, _ = redis_cache(redis_url, redis_prefix + "-b")
    try:
        assert second.get("summary", "alice", 1) is None
    finally:
        client = client_for(redis_url)
        client.delete(*keys_under(redis_url, redis_prefix + "-a"))
        client.close()


@pytest.mark.parametrize("prefix", ["has space", "x" * 65, "new\nline", "{tag}"])
def test_a_bad_cache_prefix_is_one_line_exit_2(cli, monkeypatch, prefix):
    monkeypatch.setenv("FINBUDDY_CACHE_PREFIX", prefix)
    result = cli("add", "1", "x")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "FINBUDDY_CACHE_PREFIX" in line and "1-64 characters" in line
    monkeypatch.delenv("FINBUDDY_CACHE_PREFIX")
    assert cli("list", "--json").json == []  # the rejected add added nothing


def test_config_show_gives_the_masked_cache_url_and_the_prefix(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_CACHE_URL", "redis://:hunter2@cache.internal:6379/0")
    monkeypatch.setenv("FINBUDDY_CACHE_PREFIX", "acme-prod")
    result = cli("config", "show", "--json")
    assert result.exit_code == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert result.json["settings"]["cache"]["url"] == "redis://:****@cache.internal:6379/0"
    assert result.json["settings"]["cache"]["prefix"] == "acme-prod"
    assert result.json["sources"]["cache.prefix"] == "env"
    assert cli("config", "show").stdout.count("acme-prod") == 1


def _round_trip_through_the_settings(url: str) -> None:
    """open_cache from settings naming `url`: an entry put is read back, with no warning."""
    from finbuddy.config import load_settings

    warnings = Warnings()
    env = {"FINBUDDY_HOME": os.environ["FINBUDDY_HOME"], "FINBUDDY_CACHE_URL": url}
    cache = open_cache(load_settings(env=env), Clock(T0), lambda: "db1", warn=warnings)
    try:
        cache.put("summary", "alice", 1, value={"expenses": "1.00"})
        hit = cache.get("summary", "alice", 1)
    finally:
        cache.close()
    assert warnings == [] and hit is not None and hit.value == {"expenses": "1.00"}


def test_a_redis_on_a_unix_socket(tmp_path):
    from tests.conftest import start_private_redis

    sock = tmp_path / "r" / "redis.sock"
    server = start_private_redis(
        tmp_path / "r", listen=("--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"),
        url=f"unix://{sock}?db=0",
    )  # fmt: skip
    try:
        _round_trip_through_the_settings(server.url)
    finally:
        server.kill()


def test_a_redis_over_tls(tmp_path):
    import shutil

    from tests.conftest import _free_port, start_private_redis

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make the test's certificate)")
    directory = tmp_path / "tls"
    directory.mkdir()
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = _free_port()
    try:
        server = start_private_redis(
            directory,
            listen=("--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                    "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"),
            url=f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}",
        )  # fmt: skip
    except RuntimeError as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"this redis-server was built without TLS: {exc}")
        raise
    try:
        _round_trip_through_the_settings(server.url)
    finally:
        server.kill()


# --- two installs (two homes) sharing one PostgreSQL database and one Redis -----------------------


class TwoInstalls:
    """Homes A and B on one PostgreSQL database and one Redis; `run` is in-process, `process` a subprocess."""

    def __init__(self, cli, monkeypatch, tmp_path: Path, db_url: str, redis_url: str, prefix: str) -> None:
        self.cli, self.monkeypatch = cli, monkeypatch
        self.homes = {"A": tmp_path / "home-a", "B": tmp_path / "home-b"}
        self.redis_url, self.prefix = redis_url, prefix
        monkeypatch.setenv("FINBUDDY_DATABASE_URL", db_url)
        use_redis(monkeypatch, redis_url, prefix)

    def run(self, install: str, *args: str, now: str = FIXED_NOW):
        self.monkeypatch.setenv("FINBUDDY_HOME", str(self.homes[install]))
        self.monkeypatch.setenv("FINBUDDY_FAKE_NOW", now)
        result = self.cli(*args)
        assert result.exit_code == 0, (install, args, result.stderr)
        assert result.stderr == "", result.stderr
        return result

    def process(self, install: str, *args: str, now: str = FIXED_NOW):
        result = run_process(list(args), env={"FINBUDDY_HOME": str(self.homes[install]), "FINBUDDY_FAKE_NOW": now})
        assert result.exit_code == 0, (install, args, result.stderr)
        assert result.stderr == "", result.stderr
        return result


@pytest.fixture
def installs(cli, monkeypatch, tmp_path, pg_database, redis_url, redis_prefix) -> TwoInstalls:
    _truncate_pg(pg_database)
    return TwoInstalls(cli, monkeypatch, tmp_path, pg_database, redis_url, redis_prefix)


def test_a_summary_computed_by_one_install_is_served_by_the_other(installs):
    installs.run("A", "add", "12.50", "groceries", "--merchant", "Shop")
    computed = installs.run("A", "summary", "--json").json
    assert computed["cached"] is False and computed["as_of"] == FIXED_NOW
    # B is another process, in another home, with its clock 10 minutes later: had it computed the
    # summary itself, as_of would say 12:10.
    served = installs.process("B", "summary", "--json", now=LATER).json
    assert served["cached"] is True and served["as_of"] == FIXED_NOW
    assert {k: v for k, v in served.items() if k != "cached"} == {k: v for k, v in computed.items() if k != "cached"}
    assert not (installs.homes["B"] / "cache").exists()  # nothing on B's disk: the entry came from Redis
    assert any(":summary:" in k for k in keys_under(installs.redis_url, installs.prefix))


def test_a_write_on_either_install_invalidates_the_summary_for_both(installs):
    installs.run("A", "add", "12.50", "groceries")
    assert installs.run("A", "summary", "--json").json["cached"] is False
    assert installs.run("B", "summary", "--json").json["cached"] is True

    installs.run("B", "add", "7.50", "groceries", now=LATER)  # a write on B...
    on_a = installs.run("A", "summary", "--json", now=LATER).json
    assert on_a["cached"] is False and on_a["expenses"] == "20.00"  # ...is seen by A at once
    on_b = installs.run("B", "summary", "--json", now=LATER).json
    assert on_b["cached"] is True and on_b["expenses"] == "20.00"

    installs.run("A", "edit", "1", "--amount", "2.50", now=LATER)  # and a write on A...
    on_b = installs.run("B", "summary", "--json", now=LATER).json
    assert on_b["cached"] is False and on_b["expenses"] == "10.00"  # ...by B
    assert installs.run("A", "summary", "--json", now=LATER).json["cached"] is True


def test_a_portfolio_valued_by_one_install_is_served_by_the_other_until_a_holdings_change(installs):
    installs.run("A", "portfolio", "add", "ACME", "10", "--cost", "5")
    installs.run("A", "portfolio", "price", "ACME", "7")
    assert installs.run("A", "portfolio", "show", "--json").json["cached"] is False
    served = installs.run("B", "portfolio", "show", "--json").json
    assert served["cached"] is True and served["total_value"] == "70.00"
    installs.run("B", "portfolio", "price", "ACME", "8")
    on_a = installs.run("A", "portfolio", "show", "--json").json
    assert on_a["cached"] is False and on_a["total_value"] == "80.00"


def test_an_answer_from_one_install_is_served_by_the_other_without_a_request(installs, openai_server):
    installs.run("A", "add", "40", "fun")
    first = installs.run("A", "ask", "can I afford a bike?", "--json").json
    assert first["cached"] is False and first["source"] == "openai" and openai_server.count == 1

    served = installs.run("B", "ask", "Can I afford a bike", "--json").json
    assert served["cached"] is True and served["answer"] == first["answer"]
    assert openai_server.count == 1  # B's hit sent no request
    assert served["quota"]["used"] == 1  # and cost no quota

    installs.run("B", "add", "5", "fun")  # a write on B: A's next ask is a new call
    assert installs.run("A", "ask", "can I afford a bike?", "--json").json["cached"] is False
    assert openai_server.count == 2
    assert installs.run("B", "ask", "can I afford a bike?", "--json").json["cached"] is True
    assert openai_server.count == 2

    installs.run("A", "add", "5", "fun")  # a write on A: B's next ask is a new call
    assert installs.run("B", "ask", "can I afford a bike?", "--json").json["cached"] is False
    assert openai_server.count == 3


# --- Redis away: a miss and one warning, never a failed or slow command -------------------------


def test_the_client_fails_fast_short_timeouts_and_no_retries(finbuddy_env, monkeypatch, closed_port_url):
    from finbuddy.config import load_settings

    use_redis(monkeypatch, closed_port_url)
    warnings = Warnings()
    cache = open_cache(load_settings(), Clock(T0), lambda: "db1", warn=warnings)
    assert cache.store is None  # nothing is opened (nor redis imported) before the first use
    assert cache.get("summary", "alice", 1) is None
    store = cache.store
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.1, 0.1)
    assert kwargs["retry"].get_retries() == 0 and kwargs["health_check_interval"] == 0
    assert cache.breaker_open and cache.breaker_trips == 1
    assert cache.open_until - time.monotonic() == pytest.approx(5.0, abs=1.0)
    for _ in range(20):  # while the breaker is open nothing tries Redis again: no second trip
        cache.put("summary", "alice", 1, value="x")
        assert cache.get("summary", "alice", 1) is None
    assert cache.breaker_trips == 1
    (warning,) = warnings
    assert closed_port_url in warning and "ConnectionError" in warning and "for 5 s" in warning


def test_the_breaker_skips_redis_while_open_and_tries_again_after(private_redis):
    clock = FakeMonotonic()
    cache, warnings = redis_cache(private_redis.url, "fb", monotonic=clock)
    cache.put("summary", "alice", 1, value="before")
    assert cache.get("summary", "alice", 1).value == "before"

    private_redis.pause()  # hung: the next call times out after 0.1 s and opens the breaker
    try:
        assert cache.get("summary", "alice", 1) is None
        assert cache.breaker_trips == 1 and cache.open_until == clock.now + 5.0
        clock.now += 4.9
        cache.put("summary", "alice", 2, value="during")
        assert cache.get("summary", "alice", 1) is None
    finally:
        private_redis.resume()
    # Redis is back but the breaker is still open: the entry Redis holds is not even asked for...
    assert cache.get("summary", "alice", 1) is None
    # ...and the write made while it was open never reached Redis.
    assert [k for k in keys_under(private_redis.url, "fb") if '"alice",2' in k] == []
    assert cache.breaker_trips == 1 and len(warnings) == 1 and "TimeoutError" in warnings[0]

    clock.now += 0.2  # the open period is over: the next call goes to Redis
    assert cache.get("summary", "alice", 1).value == "before"
    assert not cache.breaker_open

    private_redis.kill()  # a new outage after a recovery: one more warning (the daemon's case)
    assert cache.get("summary", "alice", 1) is None
    assert cache.breaker_trips == 2 and len(warnings) == 2 and "ConnectionError" in warnings[1]


def test_a_failing_open_period_retry_is_one_more_trip_but_no_more_warnings(closed_port_url):
    clock = FakeMonotonic()
    cache, warnings = redis_cache(closed_port_url, "fb", monotonic=clock)
    for _ in range(3):
        assert cache.get("summary", "alice", 1) is None
        clock.now += 5.1
    assert cache.breaker_trips == 3 and len(warnings) == 1


def test_cache_unavailable_names_how_long_redis_is_skipped(closed_port_url):
    from finbuddy.cache.redis import RedisCacheBackend

    store = RedisCacheBackend(closed_port_url, "fb", open_for=2.5)
    try:
        with pytest.raises(CacheUnavailable) as caught:
            store.get("k")
    finally:
        store.close()
    assert caught.value.retry_after == 2.5 and "for 2.5 s" in str(caught.value)


def _every_command_answers_with_one_warning(cli, tmp_path, *words: str) -> None:
    """add, summary, ask (offline), portfolio show: each exits 0 with the right figures; the ones that
    use the cache say so once (add never touches the cache: no warning at all)."""
    started = time.monotonic()
    result = cli("add", "12.50", "groceries", "--json")
    assert result.exit_code == 0 and result.json["amount"] == "12.50" and result.stderr == ""
    assert cli("portfolio", "add", "ACME", "10", "--cost", "5").exit_code == 0
    assert cli("portfolio", "price", "ACME", "7").exit_code == 0
    for args, check in [
        (("summary", "--json"), lambda d: d["expenses"] == "12.50" and d["cached"] is False),
        (("summary", "--json"), lambda d: d["cached"] is False),
        (("ask", "how am I doing?", "--json"), lambda d: d["source"] == "offline"),
        (("portfolio", "show", "--json"), lambda d: d["total_value"] == "70.00" and d["cached"] is False),
    ]:
        result = cli(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert check(result.json), (args, result.stdout)
        (line,) = warning_lines(result.stderr)
        assert result.stderr == line + "\n"
        assert "unavailable" in line and "not trying Redis again for 5 s" in line, line
        for word in words:
            assert word in line, line
    assert time.monotonic() - started < SAFETY_NET_S


def test_redis_on_a_closed_port_every_command_answers_with_one_warning(cli, monkeypatch, tmp_path, closed_port_url):
    use_redis(monkeypatch, closed_port_url)
    _every_command_answers_with_one_warning(cli, tmp_path, "ConnectionError", closed_port_url)


def test_redis_hung_every_command_answers_with_one_warning(cli, monkeypatch, tmp_path, private_redis):
    use_redis(monkeypatch, private_redis.url)
    private_redis.pause()
    try:
        _every_command_answers_with_one_warning(cli, tmp_path, "TimeoutError")
    finally:
        private_redis.resume()


def test_a_whole_process_with_redis_hung_answers_in_a_bounded_time(monkeypatch, private_redis):
    use_redis(monkeypatch, private_redis.url)
    assert run_process(["add", "12.50", "groceries"]).exit_code == 0
    private_redis.pause()
    try:
        started = time.monotonic()
        result = run_process(["summary", "--json"], timeout=60)
        elapsed = time.monotonic() - started
    finally:
        private_redis.resume()
    assert result.exit_code == 0 and result.json["expenses"] == "12.50"
    assert len(warning_lines(result.stderr)) == 1 and "TimeoutError" in result.stderr
    assert elapsed < SAFETY_NET_S


def test_the_password_in_the_cache_url_is_never_in_a_warning(cli, monkeypatch, closed_port_url):
    use_redis(monkeypatch, closed_port_url.replace("redis://", "redis://:s3cret@"))
    cli("add", "1", "x")
    result = cli("summary", "--json")
    assert result.exit_code == 0
    (line,) = warning_lines(result.stderr)
    assert "unavailable" in line and "s3cret" not in line and "redis://:****@127.0.0.1:" in line


def test_cache_maintenance_on_redis_culls_nothing_and_succeeds(cli, monkeypatch, redis_url, redis_prefix):
    use_redis(monkeypatch, redis_url, redis_prefix)
    cli("add", "1", "x")
    assert cli("summary", "--json").exit_code == 0
    run = cli("daemon", "run-once", "--json")
    ran = {item["job"]: item for item in run.json["ran"]}
    assert ran["cache-maintenance"]["status"] == "ok", run.stdout
    assert any(":summary:" in k for k in keys_under(redis_url, redis_prefix))


# --- without the redis client, and without cache.url ---------------------------------------------

# Run finbuddy in a process where `import redis` fails as if the package were not installed: a finder
# placed first on sys.meta_path refuses it (the library's absence is faked, finbuddy's code is not).
WITHOUT_REDIS = """
import sys

class NoRedis:
    def find_spec(self, name, path=None, target=None):
        if name == "redis" or name.startswith("redis."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoRedis())
from finbuddy.cli import main
code = main(sys.argv[1:])
assert "redis" not in sys.modules
sys.exit(code)
"""


def run_without_redis(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_REDIS, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cache_url_without_the_redis_client_is_exit_2_naming_the_extra(cli, monkeypatch):
    monkeypatch.setenv("FINBUDDY_CACHE_URL", "redis://:s3cret@127.0.0.1:6379/0")
    for args in (("add", "12.50", "groceries"), ("summary",), ("daemon", "run-once")):
        proc = run_without_redis(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        (line,) = proc.stderr.strip().splitlines()
        assert "pip install 'finbuddy[scale]'" in line and "cache" in line and "s3cret" not in line
        assert proc.stdout == ""
    proc = run_without_redis("add", "1", "x", "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["type"] == "config_error"
    monkeypatch.delenv("FINBUDDY_CACHE_URL")
    assert cli("list", "--json").json == []  # nothing was added


def test_without_cache_url_nothing_needs_or_imports_redis(cli):
    for args in (("add", "12.50", "groceries"), ("summary", "--json"), ("summary", "--json")):
        proc = run_without_redis(*args)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert cli("summary", "--json").json["cached"] is True  # the disk cache, as before
