"""Shared harness for the sse-relay integration suite.

Everything here talks to the real `sse-relay` binary over real sockets:

* ``Relay`` starts one `sse-relay serve` process on a free TCP port and its own Unix
  publish socket in a private temporary directory, waits until ``GET /v1/health`` answers
  on the publish socket, and stops it (SIGTERM, then SIGKILL) at the end of the test.
* ``UnixHTTPConnection`` is ``http.client.HTTPConnection`` over an AF_UNIX socket, for the
  publish API.
* ``SSEStream`` opens ``GET /events/...`` with ``http.client`` and parses the body with the
  independent ``sseclient-py`` parser on a reader thread, so tests can wait for events with
  deadlines (``next_event(timeout=...)``) while the raw, de-chunked bytes stay available for
  checks that a parser hides (comments, the cursor in the first bytes, how the stream ended).

The binary: ``$SSE_RELAY_BIN`` if set, else ``<repo>/.build/debug/sse-relay``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
import sseclient

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]
RELAY_BIN = os.environ.get("SSE_RELAY_BIN") or str(REPO_ROOT / ".build" / "debug" / "sse-relay")

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.02


# --------------------------------------------------------------------------------------
# small utilities


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = POLL_INTERVAL,
               message: str | Callable[[], str] = "condition") -> Any:
    """Polls ``predicate`` until it returns a truthy value (returned) or the deadline passes
    (AssertionError naming ``message``)."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, http.client.HTTPException, ValueError) as exc:  # not up yet, etc.
            last_exc = exc
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {text}{extra}")
        time.sleep(interval)


def tcp_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def assert_json_error(status: int, headers: Any, body: bytes, expected_status: int,
                      code: str | None = None) -> dict:
    """Checks the relay's one error shape: ``{"error": {"code": "...", "message": "..."}}``."""
    text = body.decode("utf-8", "replace")
    assert status == expected_status, f"expected HTTP {expected_status}, got {status}: {text!r}"
    ctype = (headers.get("Content-Type") or "") if headers is not None else ""
    assert ctype.lower().startswith("application/json"), f"error Content-Type is {ctype!r}: {text!r}"
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise AssertionError(f"error body is not JSON: {text!r}") from exc
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), f"no error object: {doc!r}"
    err = doc["error"]
    assert isinstance(err.get("code"), str) and err["code"], f"error.code missing: {doc!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"error.message missing: {doc!r}"
    if code is not None:
        assert err["code"] == code, f"expected error code {code!r}, got {err['code']!r}: {doc!r}"
    return doc


# --------------------------------------------------------------------------------------
# HTTP over the Unix publish socket


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` whose ``connect()`` opens an AF_UNIX stream socket."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise AssertionError(f"HTTP {self.status} body is not JSON: {self.body[:2000]!r}") from exc

    def ndjson(self) -> list:
        out = []
        for line in self.body.decode("utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def assert_error(self, expected_status: int, code: str | None = None) -> dict:
        return assert_json_error(self.status, self.headers, self.body, expected_status, code)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:500]!r}>"


def read_http_response(reader, method: str = "GET") -> Response:
    """Reads one HTTP/1.1 response from a buffered binary reader (for pipelining tests,
    where several responses share one stream and ``http.client`` would over-read)."""
    status_line = reader.readline()
    if not status_line:
        raise AssertionError("connection closed before a response")
    parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    assert parts[0].startswith("HTTP/1."), f"bad status line {status_line!r}"
    status = int(parts[1])
    header_lines = []
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        header_lines.append(line)
    headers = http.client.parse_headers(_BytesLines(header_lines))
    body = b""
    te = (headers.get("Transfer-Encoding") or "").lower()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        pass
    elif "chunked" in te:
        chunks = []
        while True:
            size_line = reader.readline()
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(_read_exact(reader, size))
            reader.readline()
        body = b"".join(chunks)
    elif headers.get("Content-Length") is not None:
        body = _read_exact(reader, int(headers["Content-Length"]))
    else:
        body = reader.read()
    return Response(status, headers, body)


def publish_request(path: str, data: str, close: bool = False) -> bytes:
    """One raw JSON publish request, for sending many down one socket at once."""
    body = json.dumps({"data": data}).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n").encode() + body


def pipeline(socket_path: str, requests: list[bytes], answers: int | None = None,
             timeout: float = 30.0) -> tuple[list[Response], bytes]:
    """Sends every request at once on one publish-socket connection, reads `answers`
    responses (default: one per request), then whatever else arrives until the relay closes
    the connection or `timeout` (returned as the rest: b"" when it closed cleanly)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(socket_path)
    try:
        def send() -> None:
            with contextlib.suppress(OSError):  # the relay may close after a `close` answer
                sock.sendall(b"".join(requests))
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reader = sock.makefile("rb")
        out = [read_http_response(reader, "POST") for _ in range(len(requests) if answers is None else answers)]
        rest = b""
        if answers is not None:
            try:
                rest = reader.read()
            except (TimeoutError, OSError):
                rest = b"<still open>"
        sender.join(timeout)
        return out, rest
    finally:
        sock.close()


def id_key(event_id: str) -> tuple[int, int]:
    """An event id `epoch-sequence` as a sortable pair."""
    epoch, sequence = event_id.split("-")
    return int(epoch), int(sequence)


class _BytesLines:
    def __init__(self, lines):
        self._lines = list(lines) + [b"\r\n"]

    def readline(self, *_):
        return self._lines.pop(0) if self._lines else b""


def _read_exact(reader, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = reader.read(n - len(data))
        if not more:
            raise AssertionError(f"connection closed after {len(data)} of {n} body bytes")
        data += more
    return data


# --------------------------------------------------------------------------------------
# SSE streams over TCP


_CLOSED = object()
_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")


class SSEStream:
    """One ``GET /events/...`` connection, parsed by sseclient-py on a reader thread."""

    def __init__(self, port: int, path: str, headers: dict | None = None, timeout: float = 10.0,
                 host: str = "127.0.0.1", method: str = "GET"):
        self.path = path
        self.opened_at = time.monotonic()
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock
        self.local_port = self.sock.getsockname()[1]
        self.conn.request(method, path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.body = b""
        self._events: queue.Queue = queue.Queue()
        self._cv = threading.Condition()
        self._raw = bytearray()
        self._chunks: list[tuple[float, bytes]] = []
        self.end_kind: str | None = None  # "clean" (terminating chunk), "incomplete", "error:..."
        self.ended_at: float | None = None
        self._closed_locally = False
        self._thread: threading.Thread | None = None
        if self.status == 200:
            self.sock.settimeout(None)  # the reader blocks; close() wakes it with shutdown()
            self._thread = threading.Thread(target=self._reader, daemon=True,
                                            name=f"sse-reader {path}")
            self._thread.start()
        else:
            try:
                self.body = self.resp.read()
            finally:
                self.close()

    # -- reader thread --------------------------------------------------------------

    def _finish(self, kind: str) -> None:
        with self._cv:
            if self.end_kind is None:
                self.end_kind = kind
                self.ended_at = time.monotonic()
            self._cv.notify_all()

    def _source(self):
        while True:
            try:
                chunk = self.resp.read1(65536)
            except http.client.IncompleteRead:
                self._finish("incomplete")
                return
            except Exception as exc:  # socket reset, closed file, ...
                self._finish(f"error:{exc!r}")
                return
            if not chunk:
                self._finish("clean")
                return
            with self._cv:
                self._raw += chunk
                self._chunks.append((time.monotonic(), bytes(chunk)))
                self._cv.notify_all()
            yield chunk

    def _reader(self) -> None:
        try:
            for event in sseclient.SSEClient(self._source()).events():
                self._events.put(event)
        except Exception as exc:  # the parser itself failed: record it, the test will see
            self._finish(f"parser-error:{exc!r}")
        finally:
            self._finish("ended")
            self._events.put(_CLOSED)

    # -- waiting for things ---------------------------------------------------------

    def raw(self) -> bytes:
        with self._cv:
            return bytes(self._raw)

    def chunks(self) -> list[tuple[float, bytes]]:
        with self._cv:
            return list(self._chunks)

    def raw_tail(self, n: int = 600) -> str:
        return repr(self.raw()[-n:])

    def wait_raw(self, predicate: Callable[[bytes], Any], timeout: float, what: str = "bytes") -> Any:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                value = predicate(bytes(self._raw))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.1f}s waiting for {what} on {self.path}; "
                        f"ended={self.end_kind}; raw tail: {self.raw_tail()}")
                if self.end_kind is not None:
                    # no more bytes will come; one last check happens on the next loop
                    if not predicate(bytes(self._raw)):
                        raise AssertionError(
                            f"stream {self.path} ended ({self.end_kind}) before {what}; "
                            f"raw tail: {self.raw_tail()}")
                self._cv.wait(min(remaining, 0.1))

    def next_event(self, timeout: float = 5.0):
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no event within {timeout:.1f}s on {self.path}; raw tail: {self.raw_tail()}") from None
        if item is _CLOSED:
            self._events.put(_CLOSED)
            raise AssertionError(
                f"stream {self.path} ended ({self.end_kind}) while waiting for an event; "
                f"raw tail: {self.raw_tail()}")
        return item

    def next_events(self, n: int, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(n):
            out.append(self.next_event(max(0.01, deadline - time.monotonic())))
        return out

    def expect_no_event(self, duration: float) -> None:
        """A negative check: nothing is dispatched within ``duration``."""
        try:
            item = self._events.get(timeout=duration)
        except queue.Empty:
            return
        if item is _CLOSED:
            self._events.put(_CLOSED)
            return
        raise AssertionError(f"unexpected event on {self.path}: id={item.id!r} "
                             f"event={item.event!r} data={item.data!r}")

    def drain_events(self) -> list:
        out = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return out
            if item is _CLOSED:
                self._events.put(_CLOSED)
                return out
            out.append(item)

    def wait_ended(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.end_kind is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"stream {self.path} still open after {timeout:.1f}s; raw tail: {self.raw_tail()}")
                self._cv.wait(min(remaining, 0.1))
            return self.end_kind

    @property
    def ended(self) -> bool:
        return self.end_kind is not None

    # -- parsing the raw bytes ------------------------------------------------------

    def complete_lines(self) -> list[bytes]:
        raw = self.raw()
        parts = _LINE_SPLIT.split(raw)
        return parts[:-1]  # the last piece is not terminated yet (b"" when raw ends with EOL)

    def comment_lines(self) -> list[bytes]:
        return [line for line in self.complete_lines() if line.startswith(b":")]

    def preamble(self, timeout: float = 3.0) -> dict:
        """The fields of the data-less block(s) the stream starts with, once a complete
        block (ended by a blank line) has arrived: ``{"retry": [...], "id": [...],
        "comments": [...], "data_seen": bool}``."""
        def parse(raw: bytes):
            parts = _LINE_SPLIT.split(raw)[:-1]
            info = {"retry": [], "id": [], "comments": [], "blocks": 0}
            block: list[bytes] = []
            for line in parts:
                if line == b"":
                    if any(l.startswith(b"data") for l in block):
                        break
                    info["blocks"] += 1
                    for l in block:
                        if l.startswith(b":"):
                            info["comments"].append(l)
                        else:
                            name, _, value = l.partition(b":")
                            if value.startswith(b" "):
                                value = value[1:]
                            if name in (b"retry", b"id"):
                                info[name.decode()].append(value.decode("utf-8", "replace"))
                    block = []
                else:
                    block.append(line)
            return info if info["blocks"] else None
        return self.wait_raw(parse, timeout, "the stream's first block")

    def initial_id(self, timeout: float = 3.0) -> str:
        """The cursor the stream announced in its first bytes (``id:`` line without data)."""
        info = self.preamble(timeout)
        assert info["id"], f"no id: line in the first bytes of {self.path}: {self.raw()[:300]!r}"
        return info["id"][-1]

    # -- closing --------------------------------------------------------------------

    def close(self) -> None:
        self._closed_locally = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------------------
# the relay process


class Relay:
    def __init__(self, args: list[str], *, port: int, socket_path: str, workdir: str,
                 env: dict | None, node_id: str | None):
        self.args = args
        self.port = port
        self.socket_path = socket_path
        self.workdir = workdir
        self.node_id = node_id
        self.metrics_port: int | None = None
        self.stderr_path = os.path.join(workdir, "relay.stderr")
        self.stdout_path = os.path.join(workdir, "relay.stdout")
        self.streams: list[SSEStream] = []
        full_env = dict(os.environ)
        for key in list(full_env):
            if key.startswith("SSE_RELAY_") and key != "SSE_RELAY_BIN":
                del full_env[key]  # the caller's environment must not configure the relay
        full_env.update(env or {})
        self._stderr = open(self.stderr_path, "wb")
        self._stdout = open(self.stdout_path, "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([RELAY_BIN, *args], stdin=subprocess.DEVNULL,
                                     stdout=self._stdout, stderr=self._stderr, env=full_env,
                                     cwd=workdir)

    # -- lifecycle ------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_text(self) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_text(self) -> str:
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> "Relay":
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(f"sse-relay exited with {code} before it was ready; "
                                     f"args={self.args}\nstderr:\n{self.stderr_text()[-4000:]}")
            try:
                r = self.request("GET", "/v1/health", timeout=2.0)
                if r.status == 200 and tcp_accepts(self.port):
                    return self
                last = r
            except (OSError, http.client.HTTPException) as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise AssertionError(f"sse-relay not ready after {timeout}s (last: {last!r}); "
                                     f"args={self.args}\nstderr:\n{self.stderr_text()[-4000:]}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sse-relay still running after {timeout}s; args={self.args}\n"
                                 f"stderr:\n{self.stderr_text()[-4000:]}") from None

    def stop(self) -> None:
        for s in self.streams:
            s.close()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._stderr.close()
        self._stdout.close()

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")

    # -- publish API (Unix socket) --------------------------------------------------

    def connection(self, timeout: float = 10.0) -> UnixHTTPConnection:
        return UnixHTTPConnection(self.socket_path, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict | None = None, timeout: float = 10.0) -> Response:
        conn = self.connection(timeout)
        try:
            if isinstance(body, str):
                body = body.encode("utf-8")
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, resp.headers, data)
        finally:
            conn.close()

    def post_json(self, path: str, doc: Any) -> Response:
        return self.request("POST", path, json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                            {"Content-Type": "application/json"})

    def publish(self, client: str, data: str, event: str | None = None,
                retry: int | None = None) -> Response:
        doc: dict[str, Any] = {"data": data}
        if event is not None:
            doc["event"] = event
        if retry is not None:
            doc["retry"] = retry
        return self.post_json(f"/v1/clients/{client}/events", doc)

    def publish_topic(self, topic: str, data: str, event: str | None = None) -> Response:
        doc: dict[str, Any] = {"data": data}
        if event is not None:
            doc["event"] = event
        return self.post_json(f"/v1/topics/{topic}/events", doc)

    def publish_text(self, target_path: str, data: bytes | str, event: str | None = None,
                     content_type: str = "text/plain; charset=utf-8") -> Response:
        path = target_path
        if event is not None:
            path += "?event=" + urllib.parse.quote(event, safe="")
        return self.request("POST", path, data, {"Content-Type": content_type})

    def publish_ndjson(self, lines: Iterable[Any]) -> Response:
        body = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
        return self.request("POST", "/v1/events", body.encode("utf-8"),
                            {"Content-Type": "application/x-ndjson"}, timeout=60.0)

    def client_info(self, client: str) -> dict:
        r = self.request("GET", f"/v1/clients/{client}")
        assert r.status == 200, f"GET /v1/clients/{client}: {r!r}"
        return r.json()

    def connection_count(self, client: str) -> int:
        return len(self.client_info(client)["connections"])

    def wait_connections(self, client: str, n: int, timeout: float = 5.0) -> dict:
        return wait_until(lambda: (info := self.client_info(client)) and
                          len(info["connections"]) == n and info,
                          timeout, message=f"{n} connection(s) of client {client!r}")

    def health(self) -> dict:
        r = self.request("GET", "/v1/health")
        assert r.status == 200, f"health: {r!r}"
        return r.json()

    def metrics_request(self, path: str, timeout: float = 10.0) -> Response:
        """GET on the metrics port (``/metrics``, ``/healthz``, ``/readyz``, ``/status``)."""
        assert self.metrics_port, "this relay was started without a known metrics port"
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    # -- subscriber side (TCP) ------------------------------------------------------

    def stream(self, client: str, topics: Iterable[str] = (), last_event_id: str | None = None,
               query_last_event_id: str | None = None, headers: dict | None = None,
               path: str | None = None) -> SSEStream:
        if path is None:
            params = [("topic", t) for t in topics]
            if query_last_event_id is not None:
                params.append(("lastEventId", query_last_event_id))
            path = f"/events/{client}"
            if params:
                path += "?" + urllib.parse.urlencode(params)
        hdrs = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        hdrs.update(headers or {})
        s = SSEStream(self.port, path, hdrs)
        self.streams.append(s)
        return s

    def open_stream(self, client: str, **kw) -> SSEStream:
        """``stream()`` that must succeed with 200 and has delivered its first bytes."""
        s = self.stream(client, **kw)
        assert s.status == 200, f"GET {s.path}: HTTP {s.status} {s.body[:500]!r}"
        s.preamble()
        return s

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict | None = None, timeout: float = 10.0) -> Response:
        """One plain request on the TCP (subscriber) port."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            return Response(resp.status, resp.headers, data)
        finally:
            conn.close()

    def cli(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        return run_cli(*args, timeout=timeout)


def run_cli(*args: str, timeout: float = 30.0, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_RELAY_") or k == "SSE_RELAY_BIN"}
    full_env.update(env or {})
    return subprocess.run([RELAY_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


# --------------------------------------------------------------------------------------
# fixtures


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for relay in getattr(item, "_relays", []):
            text = relay.stderr_text()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            report.sections.append((f"sse-relay (port {relay.port}, args {relay.args}) stderr",
                                    text or "(empty)"))


class RelayFactory:
    def __init__(self, item):
        self.item = item
        self.relays: list[Relay] = []
        self.workdirs: list[str] = []

    def workdir(self) -> str:
        # short paths: AF_UNIX paths are limited to 107 bytes
        d = tempfile.mkdtemp(prefix="ssr-", dir="/tmp")
        self.workdirs.append(d)
        return d

    def __call__(self, *flags: str, env: dict | None = None, default_listen: bool = True,
                 default_socket: bool = True, port: int | None = None,
                 socket_path: str | None = None, node_id: str | None = None,
                 wait_ready: bool = True, command: str = "serve",
                 metrics_port: int | None = None) -> Relay:
        """Starts ``sse-relay serve --listen 127.0.0.1:PORT --publish-socket PATH *flags``.

        ``default_listen`` / ``default_socket`` False leave those flags out (for config-file
        and environment tests); pass ``port`` / ``socket_path`` so the harness knows where
        the relay will be."""
        workdir = self.workdir()
        port = port or free_port()
        socket_path = socket_path or os.path.join(workdir, "publish.sock")
        args = [command]
        if default_listen:
            args += ["--listen", f"127.0.0.1:{port}"]
        if default_socket:
            args += ["--publish-socket", socket_path]
        if node_id is not None:
            args += ["--node-id", node_id]
        if command == "serve" and "--metrics-listen" not in flags:
            # The default metrics port would collide between relays run side by side.
            metrics_port = metrics_port or free_port()
            args += ["--metrics-listen", f"127.0.0.1:{metrics_port}"]
        if command == "serve" and "--drain-period" not in flags:
            # Streams a test leaves open would otherwise drain for the default 10 s at stop.
            args += ["--drain-period", "200ms"]
        args += list(flags)
        relay = Relay(args, port=port, socket_path=socket_path, workdir=workdir, env=env,
                      node_id=node_id)
        relay.metrics_port = metrics_port
        self.relays.append(relay)
        self.item._relays = getattr(self.item, "_relays", []) + [relay]
        if wait_ready:
            relay.wait_ready()
        return relay

    def cleanup(self) -> None:
        for relay in self.relays:
            with contextlib.suppress(Exception):
                relay.stop()
        for d in self.workdirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def relay(request):
    """Factory: ``relay(*extra_flags, env=..., ...)`` starts a fresh relay for this test."""
    if not os.path.exists(RELAY_BIN):
        pytest.fail(f"sse-relay binary not found at {RELAY_BIN} (set SSE_RELAY_BIN)")
    factory = RelayFactory(request.node)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def tmpdir_short():
    d = tempfile.mkdtemp(prefix="ssr-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
