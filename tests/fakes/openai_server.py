"""A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol, scriptable per request.

The real `openai` SDK (its retries, timeouts, error classes) runs against it, in-process or from
subprocesses. Every request body is recorded (thread-safe, and to a JSON-lines file if asked).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TEST_API_KEY = "sk-test-FAKEKEY-0123456789abcdefSECRET"


@dataclass(frozen=True)
class Reply:
    """One scripted response."""

    status: int = 200
    delay: float = 0.0
    text: str | None = None  # the answer for a 200; None: a default sentence
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Send the response one byte every `trickle` seconds (the body only; the status line and headers
    # too with trickle_headers): a server that is never silent long enough for a read timeout.
    trickle: float = 0.0
    trickle_headers: bool = False
    # A 200's payload: `body` replaces it whole (bytes/str sent as they are, anything else as JSON);
    # `usage` and `model` replace those fields of the normal completion.
    body: Any = None
    content_type: str = "application/json"
    usage: Any = None
    model: Any = None
    # Called (with the request number) when the request has arrived, before the answer is sent.
    on_request: Callable[[int], None] | None = None


@dataclass
class Delivery:
    """How much of one response went out: `complete` False means the client hung up first."""

    number: int
    total_bytes: int
    sent_bytes: int = 0
    complete: bool = False


def ok(text: str | None = None) -> Reply:
    return Reply(200, text=text)


def rate_limited() -> Reply:
    # retry-after-ms (preferred by the SDK) keeps the retry fast; Retry-After: 0 alone would fall back to backoff.
    return Reply(
        429,
        error={"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"},
        headers={"Retry-After": "0", "retry-after-ms": "10"},
    )


def server_error() -> Reply:
    return Reply(
        500,
        error={
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "code": None,
        },
        headers={"retry-after-ms": "10"},
    )


def insufficient_quota() -> Reply:
    return Reply(
        429,
        error={
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        },
        headers={"retry-after-ms": "10"},
    )


def bad_key(key: str) -> Reply:
    # Like OpenAI's real 401, the message echoes the key it rejected.
    return Reply(
        401,
        error={
            "message": f"Incorrect API key provided: {key}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        },
    )


def slow(seconds: float) -> Reply:
    return Reply(200, delay=seconds)


def trickle(interval: float = 0.5, headers: bool = False, text: str | None = None) -> Reply:
    """A 200 sent one byte every `interval` seconds (from the first header byte with headers=True)."""
    return Reply(200, trickle=interval, trickle_headers=headers, text=text)


def html_page() -> Reply:
    """A 200 with an HTML body: a captive portal or a web server where the API should be."""
    return Reply(
        200, body="<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>", content_type="text/html"
    )


def forbidden() -> Reply:
    """OpenAI's 403 for a key without access (here: an unsupported region)."""
    return Reply(
        403,
        error={
            "message": "Country, region, or territory not supported",
            "type": "request_forbidden",
            "code": "unsupported_country_region_territory",
        },
    )


class FakeOpenAI:
    """Answers from a script (a queue of replies), then with `default` once the script runs out."""

    def __init__(self, record_file: Path | None = None) -> None:
        self.record_file = record_file
        self.default = ok()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._deliveries: list[Delivery] = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)

    # --- control ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def always(self, reply: Reply) -> None:
        with self._lock:
            self._script.clear()
            self.default = reply

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received: {"path", "headers", "body"} (body parsed as JSON)."""
        with self._lock:
            return list(self._requests)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every response sent (or begun), in order of the requests."""
        with self._lock:
            return sorted(self._deliveries, key=lambda d: d.number)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def prompts(self) -> list[str]:
        """The full text of every request's messages."""
        return ["\n".join(m.get("content", "") for m in r["body"].get("messages", [])) for r in self.requests]

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= count:
                return True
            time.sleep(0.02)
        return self.count >= count

    # --- serving ------------------------------------------------------------------------

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _record(self, path: str, headers: dict[str, str], body: Any) -> int:
        entry = {"path": path, "headers": headers, "body": body}
        with self._lock:
            self._requests.append(entry)
            number = len(self._requests)
            if self.record_file is not None:
                with self.record_file.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
        return number

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm on, the client's
            # delayed ACK would add ~40 ms to every response and hide finbuddy's own timings.
            disable_nagle_algorithm = True

            def log_message(self, format, *args):
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                headers = {name.lower(): value for name, value in self.headers.items()}
                number = fake._record(self.path, headers, body)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(
                        404, {"error": {"message": f"unknown path {self.path}", "type": "invalid_request_error"}}
                    )
                    return
                reply = fake._next_reply()
                if reply.on_request is not None:
                    reply.on_request(number)
                if reply.delay and fake._stopping.wait(reply.delay):
                    return
                if reply.status != 200:
                    self._send(number, reply, {"error": reply.error or {"message": "error"}})
                    return
                if reply.body is not None:
                    self._send(number, reply, reply.body)
                    return
                prompt = "".join(m.get("content", "") for m in body.get("messages", []))
                text = reply.text or f"Fake advice #{number}: keep an eye on your budgets."
                usage = {
                    "prompt_tokens": max(1, len(prompt) // 4),
                    "completion_tokens": max(1, len(text) // 4),
                    "total_tokens": max(1, len(prompt) // 4) + max(1, len(text) // 4),
                }
                self._send(
                    number,
                    reply,
                    {
                        "id": f"chatcmpl-fake{number}",
                        "object": "chat.completion",
                        "created": 1764072000,
                        "model": reply.model if reply.model is not None else body.get("model", "gpt-4o-mini"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text, "refusal": None},
                                "logprobs": None,
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": reply.usage if reply.usage is not None else usage,
                    },
                )

            def _send(self, number: int, reply: Reply, payload: Any) -> None:
                if isinstance(payload, bytes):
                    data = payload
                elif isinstance(payload, str):
                    data = payload.encode("utf-8")
                else:
                    data = json.dumps(payload).encode("utf-8")
                lines = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
                headers = {
                    "Content-Type": reply.content_type,
                    "Content-Length": str(len(data)),
                    "x-request-id": "req_fake",
                    **reply.headers,
                }
                lines += [f"{name}: {value}" for name, value in headers.items()]
                head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
                delivery = Delivery(number, len(head) + len(data))
                with fake._lock:
                    fake._deliveries.append(delivery)
                try:
                    if not reply.trickle:
                        self.wfile.write(head + data)
                        delivery.sent_bytes = delivery.total_bytes
                    else:
                        if not reply.trickle_headers:
                            self.wfile.write(head)
                            delivery.sent_bytes = len(head)
                        rest = (head + data)[delivery.sent_bytes :]
                        for index in range(len(rest)):
                            if fake._stopping.wait(reply.trickle):
                                return
                            self.wfile.write(rest[index : index + 1])
                            self.wfile.flush()
                            delivery.sent_bytes += 1
                    self.wfile.flush()
                    delivery.complete = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout): nothing more to answer

        return Handler


@pytest.fixture
def openai_server(monkeypatch, tmp_path):
    """A started FakeOpenAI; finbuddy (in-process and subprocesses) points at it through OPENAI_BASE_URL,
    with a test key, ai.timeout 2 s and ai.max_retries 2."""
    server = FakeOpenAI(record_file=tmp_path / "openai-requests.jsonl").start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("FINBUDDY_AI_PROVIDER", "openai")
    monkeypatch.setenv("FINBUDDY_AI_TIMEOUT", "2")
    monkeypatch.setenv("FINBUDDY_AI_MAX_RETRIES", "2")
    try:
        yield server
    finally:
        server.stop()
