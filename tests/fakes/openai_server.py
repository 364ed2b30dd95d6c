"""A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol, scriptable per request, and the
Batch API (files and batches, see FakeBatchAPI).

The real `openai` SDK (its retries, timeouts, error classes) runs against it, in-process or from
subprocesses. Every chat request body is recorded (thread-safe, and to a JSON-lines file if asked); Batch API
requests are recorded apart (`batch_api.requests`), so chat counts stay what they were.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


# --- the Batch API -------------------------------------------------------------------------------------------------

# The real API's limits on a batch input file (the stricter reading of "200 MB").
BATCH_MAX_LINES = 50_000
BATCH_MAX_BYTES = 200_000_000
BATCH_TERMINAL = ("completed", "failed", "expired", "cancelled")


class BatchApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{name: (filename, content)} of a multipart/form-data body (what the SDK's files.create sends)."""
    boundary = content_type.split("boundary=", 1)[1].split(";", 1)[0].strip().strip('"').encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk.partition(b"\r\n\r\n")
        disposition = next(
            (line for line in head.decode("latin-1").split("\r\n") if line.lower().startswith("content-disposition")),
            "",
        )
        fields = dict(item.strip().split("=", 1) for item in disposition.split(";")[1:] if "=" in item)
        name = fields.get("name", "").strip('"')
        filename = fields["filename"].strip('"') if "filename" in fields else None
        parts[name] = (filename, content[:-2] if content.endswith(b"\r\n") else content)
    return parts


class FakeBatchAPI:
    """The Batch API endpoints openai-python 3.x calls, with the real limits (50,000 lines, 200 MB, unique custom_id,
    url == endpoint, completion_window 24h), scriptable:

    - a batch completes on demand (`complete()`), or by itself on its `polls_to_complete`-th retrieve;
    - `fail_ids` / `fail_marker`: lines (by custom_id / by text in their messages) answered with an error line;
    - `expire()` / `fail()`: batches end expired (the first `answered` lines done) or failed as a whole;
    - `drop_create`: the next N creates make the batch, then hang up without answering (a lost answer);
    - `list_fails` / `upload_fails`: GET /v1/batches / POST /v1/files answer 500 while set;
    - `on_created(batch_id)`: called when a batch has been created, before the answer is sent;
    - `usage`: the usage every answer reports ({"prompt_tokens", "completion_tokens"}; default: characters / 4);
    - the output file lists the answers shuffled (the real API keeps no order either).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.polls_to_complete: int | None = None
        self.fail_ids: set[str] = set()
        self.fail_marker: str | None = None
        self.usage: dict[str, int] | None = None
        self.drop_create = 0
        self.list_fails = False
        self.upload_fails = False
        self.on_created: Callable[[str], None] | None = None
        self.random = random.Random(7)

    # --- control ---------------------------------------------------------------------------

    def complete(self) -> None:
        """Run every batch that is not finished: each line answered (or failed, as scripted)."""
        with self.lock:
            for batch in self.batches.values():
                if batch["status"] not in BATCH_TERMINAL:
                    self._run(batch, "completed", None)

    def expire(self, answered: int = 0) -> None:
        """Every unfinished batch expires, with its first `answered` lines done."""
        with self.lock:
            for batch in self.batches.values():
                if batch["status"] not in BATCH_TERMINAL:
                    self._run(batch, "expired", answered)

    def fail(self, message: str = "the input file is invalid") -> None:
        """Every unfinished batch fails as a whole (its validation), no line answered."""
        with self.lock:
            for batch in self.batches.values():
                if batch["status"] not in BATCH_TERMINAL:
                    batch["status"], batch["failed_at"] = "failed", int(time.time())
                    batch["errors"] = {"object": "list", "data": [{"code": "invalid_file", "message": message}]}

    def lines(self, batch_id: str) -> list[dict[str, Any]]:
        """The request lines of a batch, as uploaded."""
        with self.lock:
            return [json.loads(line) for line in self.batches[batch_id]["_lines"]]

    def all_lines(self) -> list[dict[str, Any]]:
        with self.lock:
            ids = list(self.batches)
        return [line for batch_id in ids for line in self.lines(batch_id)]

    def output(self, batch_id: str) -> list[dict[str, Any]]:
        """The lines of a finished batch's output file, in the order served."""
        with self.lock:
            file_id = self.batches[batch_id]["output_file_id"]
            data = self.files[file_id]["data"] if file_id else b""
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def statuses(self) -> list[str]:
        with self.lock:
            return [batch["status"] for batch in self.batches.values()]

    # --- serving -------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, str]:
        """(status, payload, content type) for a Batch API request; BatchApiError for a refused one."""
        with self.lock:
            self.requests.append((method, path))
            route = path.split("?", 1)[0].rstrip("/")
            query = dict(item.split("=", 1) for item in path.partition("?")[2].split("&") if "=" in item)
            parts = route.split("/")  # "", "v1", "files"|"batches", id, "content"|"cancel"
            if method == "POST" and route == "/v1/files":
                return 200, self._upload(headers.get("content-type", ""), raw), "application/json"
            if method == "GET" and len(parts) == 5 and parts[2] == "files" and parts[4] == "content":
                return 200, self._file(parts[3])["data"], "application/octet-stream"
            if method == "GET" and len(parts) == 4 and parts[2] == "files":
                return 200, self._file_object(self._file(parts[3])), "application/json"
            if method == "POST" and route == "/v1/batches":
                return 200, self._create(json.loads(raw or b"{}")), "application/json"
            if method == "GET" and route == "/v1/batches":
                return 200, self._list(query), "application/json"
            if method == "GET" and len(parts) == 4 and parts[2] == "batches":
                batch = self._batch(parts[3])
                batch["_polls"] += 1
                self._advance(batch)
                return 200, self._view(batch), "application/json"
            if method == "POST" and len(parts) == 5 and parts[2] == "batches" and parts[4] == "cancel":
                batch = self._batch(parts[3])
                if batch["status"] not in BATCH_TERMINAL:
                    batch["status"], batch["cancelled_at"] = "cancelled", int(time.time())
                return 200, self._view(batch), "application/json"
        raise BatchApiError(404, f"unknown path {path}")

    def _file(self, file_id: str) -> dict[str, Any]:
        found = self.files.get(file_id)
        if found is None:
            raise BatchApiError(404, f"no such file: {file_id}")
        return found

    def _batch(self, batch_id: str) -> dict[str, Any]:
        found = self.batches.get(batch_id)
        if found is None:
            raise BatchApiError(404, f"no such batch: {batch_id}")
        return found

    @staticmethod
    def _file_object(stored: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": stored["id"],
            "object": "file",
            "bytes": len(stored["data"]),
            "created_at": stored["created_at"],
            "filename": stored["filename"],
            "purpose": stored["purpose"],
            "status": "processed",
        }

    def _store(self, filename: str, purpose: str, data: bytes) -> str:
        file_id = "file-" + uuid.uuid4().hex[:24]
        self.files[file_id] = {
            "id": file_id,
            "filename": filename,
            "purpose": purpose,
            "data": data,
            "created_at": int(time.time()),
        }
        return file_id

    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        if self.upload_fails:
            raise BatchApiError(500, "the server had an error storing the file")
        if "multipart/form-data" not in content_type:
            raise BatchApiError(400, "files.create takes multipart/form-data")
        parts = _multipart(content_type, raw)
        if "file" not in parts or "purpose" not in parts:
            raise BatchApiError(400, "a file and a purpose are required")
        purpose = parts["purpose"][1].decode().strip()
        filename, data = parts["file"]
        if purpose == "batch":
            count = sum(1 for line in data.splitlines() if line.strip())
            if count > BATCH_MAX_LINES or len(data) > BATCH_MAX_BYTES:
                raise BatchApiError(400, f"a batch file holds at most 50,000 requests and 200 MB ({count} lines)")
        return self._file_object(self.files[self._store(filename or "upload", purpose, data)])

    def _create(self, request: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(request.get("input_file_id"))
        if stored is None or stored["purpose"] != "batch":
            raise BatchApiError(400, "input_file_id must name a file uploaded with purpose=batch")
        if request.get("completion_window") != "24h":
            raise BatchApiError(400, "completion_window must be 24h")
        lines = [line for line in stored["data"].decode("utf-8").splitlines() if line.strip()]
        seen: set[str] = set()
        for line in lines:
            item = json.loads(line)
            if (
                set(item) != {"custom_id", "method", "url", "body"}
                or item["method"] != "POST"
                or item["url"] != request.get("endpoint")
                or item["custom_id"] in seen
            ):
                raise BatchApiError(400, "bad line: " + line[:120])
            seen.add(item["custom_id"])
        batch_id = "batch_" + uuid.uuid4().hex[:24]
        now = int(time.time())
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "errors": None,
            "input_file_id": stored["id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": request.get("metadata"),
            "_lines": lines,
            "_polls": 0,
            "_seq": len(self.batches),
        }
        return self._view(self.batches[batch_id])

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        if self.list_fails:
            raise BatchApiError(500, "the server had an error listing batches")
        ordered = sorted(self.batches.values(), key=lambda b: -b["_seq"])  # newest first, like the real API
        after = query.get("after")
        if after:
            ids = [b["id"] for b in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", 20))
        page = ordered[:limit]
        data = [self._view(b) for b in page]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(ordered) > limit,
        }

    @staticmethod
    def _view(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _advance(self, batch: dict[str, Any]) -> None:
        if batch["status"] == "validating":
            batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
        if (
            batch["status"] == "in_progress"
            and self.polls_to_complete is not None
            and batch["_polls"] >= self.polls_to_complete
        ):
            self._run(batch, "completed", None)

    def _answer(self, item: dict[str, Any]) -> dict[str, Any]:
        body = item["body"]
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        text = f"Insight for {item['custom_id']}: keep an eye on your budgets."
        usage = self.usage or {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(text) // 4)}
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        }

    def _run(self, batch: dict[str, Any], status: str, answered: int | None) -> None:
        out, errors = [], []
        for index, line in enumerate(batch["_lines"]):
            if answered is not None and index >= answered:
                break
            item = json.loads(line)
            prompt = json.dumps(item["body"].get("messages", []))
            request_id = "req_" + uuid.uuid4().hex[:12]
            if item["custom_id"] in self.fail_ids or (self.fail_marker and self.fail_marker in prompt):
                error_body = {"error": {"message": "injected failure for this line", "type": "server_error"}}
                errors.append(
                    {
                        "id": "batch_req_" + uuid.uuid4().hex[:12],
                        "custom_id": item["custom_id"],
                        "response": {"status_code": 500, "request_id": request_id, "body": error_body},
                        "error": None,
                    }
                )
                continue
            out.append(
                {
                    "id": "batch_req_" + uuid.uuid4().hex[:12],
                    "custom_id": item["custom_id"],
                    "response": {"status_code": 200, "request_id": request_id, "body": self._answer(item)},
                    "error": None,
                }
            )
        self.random.shuffle(out)

        def jsonl(rows: list[dict[str, Any]]) -> bytes:
            return "".join(json.dumps(row) + "\n" for row in rows).encode()

        batch["output_file_id"] = self._store("batch_output.jsonl", "batch_output", jsonl(out)) if out else None
        batch["error_file_id"] = self._store("batch_errors.jsonl", "batch_output", jsonl(errors)) if errors else None
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(out), "failed": len(errors)}
        now = int(time.time())
        batch["status"] = status
        batch["finalizing_at"] = now
        batch["completed_at" if status == "completed" else "expired_at"] = now


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
        self.batch_api = FakeBatchAPI()
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

            def _batch_api(self, method: str, raw: bytes = b"") -> None:
                api = fake.batch_api
                headers = {name.lower(): value for name, value in self.headers.items()}
                route = self.path.split("?", 1)[0].rstrip("/")
                try:
                    status, payload, content_type = api.handle(method, self.path, headers, raw)
                except BatchApiError as refused:
                    error = {"message": refused.message, "type": "invalid_request_error", "code": None}
                    retry = {"retry-after-ms": "10"} if refused.status >= 500 else {}
                    reply = Reply(refused.status, headers=retry, content_type="application/json")
                    self._send(0, reply, {"error": error})
                    return
                if method == "POST" and route.endswith("/v1/batches"):
                    if api.on_created is not None:
                        api.on_created(payload["id"])
                    with api.lock:
                        drop = api.drop_create > 0
                        api.drop_create -= 1 if drop else 0
                    if drop:  # the batch exists, but its answer is lost: hang up
                        self.close_connection = True
                        return
                self._send(0, Reply(200, content_type=content_type), payload)

            def do_GET(self):
                self._batch_api("GET")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.startswith(("/v1/files", "/v1/batches")):
                    self._batch_api("POST", raw)
                    return
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
                if number:  # a chat request's (Batch API requests are numbered 0 and not listed)
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
