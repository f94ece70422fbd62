"""A bounded, seeded black-box fuzzer for a running sse-relay.

It throws hostile input at both doors — the publish API on the Unix socket and the
subscriber endpoint on the HTTP port — while well-formed traffic runs beside it:

* a live subscriber (``GET /events/fuzz-steady``) that must receive every event a steady
  publisher sends, in order, throughout;
* a steady publisher posting one numbered event every 20 ms that must always get 200.

Each hostile input goes out on its own connection, then the fuzzer half-closes its side
and reads until the relay closes: every response must be an HTTP status below 500, and the
relay must answer or close within ``answer_timeout`` (no hang). Slow trickles run beside
the rest and must be cut off by the relay's request timeout. At the end the relay must
still be alive and its RSS must not have grown more than ``rss_bound_mib`` since warm-up.

Reproducible: everything random comes from ``random.Random(seed)``; the seed is in every
failure message. (Timing-dependent interleavings with the steady traffic are not.)

Used by ``Tests/Integration/test_fuzz.py`` (bounded, CI) and ``Tests/fuzz/fuzz_relay.py``
(standalone, long runs).
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field


class FuzzFailure(AssertionError):
    pass


@dataclass
class Stats:
    inputs: int = 0
    by_kind: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)
    closed_without_answer: int = 0
    trickles: int = 0
    steady_published: int = 0
    steady_received: int = 0
    rss_start_kib: int = 0
    rss_end_kib: int = 0

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind.items()))
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()))
        return (f"{self.inputs} inputs ({kinds}); statuses: {statuses}; closed without answer: "
                f"{self.closed_without_answer}; trickles cut off: {self.trickles}; steady events "
                f"published {self.steady_published}, received {self.steady_received}; RSS "
                f"{self.rss_start_kib} -> {self.rss_end_kib} KiB")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise FuzzFailure(f"relay pid {pid} has no VmRSS (exited?)")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


# -- hostile inputs ---------------------------------------------------------------------

PUBLISH_PATHS = ["/v1/clients/fz{}/events", "/v1/topics/fz{}/events", "/v1/events", "/v1/health",
                 "/v1/clients/fz{}", "/v1/../etc/passwd", "/v1/clients/%00/events", "/v1/clients/" + "a" * 5000 + "/events"]
HTTP_PATHS = ["/events/fz{}", "/events/fz{}?topic=a&topic=b", "/events/", "/events/%ff%fe", "/events/fz{}?lastEventId=%0d%0aid:%201",
              "/" + "x" * 10000, "/events/fz{}?" + "topic=t&" * 500]
CONTENT_TYPES = ["application/json", "text/plain", "application/x-ndjson", "application/jsonl", "text/html", "", "application/json; charset=latin1"]
METHODS = ["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "BREW", "G\x00T", ""]


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def invalid_utf8(rng: random.Random) -> bytes:
    return rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\xbc", b"\xe2\x82", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"])


def hostile_text(rng: random.Random) -> bytes:
    pieces = [b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b":", b"data: x", b"event: evil", b"id: 1",
              b"\n\n", b"\\u0000", b'"', b"\\", b"{", b"}", b"[", b"]", "é".encode(), "😀".encode()]
    out = b"".join(rng.choice(pieces) if rng.random() < 0.6 else random_bytes(rng, rng.randint(1, 8))
                   for _ in range(rng.randint(0, 30)))
    if rng.random() < 0.3:
        out += invalid_utf8(rng)
    return out


def json_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2 ** 63, -(2 ** 64), 1e308, 86400001, 1500, 3.5])
    if kind in (3, 4):
        return hostile_text(rng).decode("utf-8", "replace")
    if kind == 5:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["data", "event", "retry", "client", "topic", "x", ""]): json_value(rng, depth + 1)
            for _ in range(rng.randint(0, 5))}


def event_body(rng: random.Random, n: int) -> bytes:
    choice = rng.randrange(10)
    if choice == 0:
        return b"[" * rng.randint(100, 100_000) + b"]" * rng.randint(0, 100)  # deep nesting
    if choice == 1:
        return b'{"data":"' + hostile_text(rng) + b'"}'  # raw control bytes / invalid UTF-8 in JSON
    if choice == 2:
        return b'{"data":"\\ud800\\udc00\\ud800","event":"a\\nb"}'  # lone surrogate, newline in name
    if choice == 3:
        return json.dumps(json_value(rng)).encode()
    doc = {"data": hostile_text(rng).decode("utf-8", "replace")}
    if rng.random() < 0.5:
        doc["event"] = hostile_text(rng).decode("utf-8", "replace")
    if rng.random() < 0.3:
        doc["retry"] = json_value(rng)
    if rng.random() < 0.3:
        doc["client" if rng.random() < 0.5 else "topic"] = f"fz{n}"
    if rng.random() < 0.2:
        doc[rng.choice(["data", "extra"])] = json_value(rng)
    return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()


def ndjson_body(rng: random.Random, n: int) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 40)):
        r = rng.random()
        if r < 0.4:
            lines.append(json.dumps({"client" if rng.random() < 0.5 else "topic": f"fz{n}", "data": hostile_text(rng).decode("utf-8", "replace")}).encode())
        elif r < 0.6:
            good = json.dumps({"topic": f"fz{n}", "data": "x"}).encode()
            lines.append(good[: rng.randint(0, len(good))])  # broken line
        elif r < 0.7:
            lines.append(hostile_text(rng))
        elif r < 0.8:
            lines.append(b"")
        else:
            lines.append(event_body(rng, n))
    sep = rng.choice([b"\n", b"\r\n", b"\r", b"\n\n"])
    return sep.join(lines) + (sep if rng.random() < 0.5 else b"")


def request(rng: random.Random, method: str, path: str, headers: list[tuple[str, str]], body: bytes,
            framing: str = "length") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\n".encode("utf-8", "surrogateescape")
    hs = list(headers)
    if framing == "length":
        hs.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        hs.append(("Transfer-Encoding", "chunked"))
        chunks = b""
        pos = 0
        while pos < len(body):
            size = rng.randint(1, max(1, len(body) - pos))
            chunks += f"{size:x}\r\n".encode() + body[pos:pos + size] + b"\r\n"
            pos += size
        body = chunks + b"0\r\n\r\n"
    out = head + b"".join(f"{k}: {v}\r\n".encode("utf-8", "surrogateescape") for k, v in hs) + b"\r\n" + body
    return out


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not data:
            data += random_bytes(rng, 4)
        op = rng.randrange(5)
        i = rng.randrange(len(data))
        if op == 0:
            data[i] = rng.getrandbits(8)
        elif op == 1:
            del data[i:i + rng.randint(1, 16)]
        elif op == 2:
            data[i:i] = rng.choice([b"\r\n", b"\r", b"\n", b"\x00", b":", b" ", b"\r\n\r\n", random_bytes(rng, rng.randint(1, 32))])
        elif op == 3:
            data[i:i] = data[i:i + rng.randint(1, 64)]
        else:
            data = data[:i]
    return bytes(data)


def hostile_input(rng: random.Random, n: int, door: str) -> tuple[str, bytes]:
    """One hostile input for ``door`` ("publish" or "http"): (kind, bytes)."""
    paths = PUBLISH_PATHS if door == "publish" else HTTP_PATHS
    path = rng.choice(paths).format(n)
    ctype = rng.choice(CONTENT_TYPES)
    base_headers = [("Host", "relay")] + ([("Content-Type", ctype)] if ctype else [])
    body = ndjson_body(rng, n) if ctype in ("application/x-ndjson", "application/jsonl") or path == "/v1/events" else event_body(rng, n)
    kind = rng.choice(["garbage", "mutated", "huge_header", "many_headers", "bad_length", "chunked_abuse",
                       "body", "body", "body", "pipelined", "truncated", "bad_method", "invalid_utf8_head"])
    if kind == "garbage":
        return kind, random_bytes(rng, rng.randint(1, 4096))
    if kind == "mutated":
        return kind, mutate(rng, request(rng, rng.choice(["GET", "POST"]), path, base_headers, body))
    if kind == "huge_header":
        size = rng.choice([8 << 10, 64 << 10, 1 << 20, 4 << 20])
        return kind, request(rng, "POST", path, base_headers + [("X-Huge", "a" * size)], body)
    if kind == "many_headers":
        return kind, request(rng, "GET", path, base_headers + [(f"X-{i}", "v") for i in range(rng.choice([100, 1000, 20000]))], b"", framing="none")
    if kind == "bad_length":
        cl = rng.choice(["99999999999999999999999", "-1", "abc", "1e3", " 5", "0x10", "18446744073709551616", "4294967296"])
        hs = base_headers + [("Content-Length", cl)]
        if rng.random() < 0.5:
            hs.append(("Content-Length", str(len(body) + 1)))
        if rng.random() < 0.3:
            hs.append(("Transfer-Encoding", "chunked"))
        return kind, request(rng, "POST", path, hs, body, framing="none")
    if kind == "chunked_abuse":
        chunk = rng.choice([b"zz\r\nabc\r\n0\r\n\r\n", b"fffffffffffffffffff\r\nabc", b"5\r\nabc\r\n0\r\n\r\n", b"3;" + b"e" * 70000 + b"\r\nabc\r\n0\r\n\r\n",
                            b"-1\r\n", b"3\r\nabcXX0\r\n\r\n", b"0\r\nTrailer: " + b"x" * 10000 + b"\r\n\r\n", b"7fffffffffffffff\r\n" + random_bytes(rng, 100)])
        te = rng.choice(["chunked", "gzip, chunked", "chunked, identity", "Chunked", "xchunked"])
        return kind, request(rng, "POST", path, base_headers + [("Transfer-Encoding", te)], chunk, framing="none")
    if kind == "body":
        framing = "chunked" if rng.random() < 0.3 else "length"
        return kind, request(rng, rng.choice(["POST", "POST", "DELETE", "GET"]), path, base_headers, body, framing=framing)
    if kind == "pipelined":
        good = request(rng, "GET", "/v1/health" if door == "publish" else f"/events/fz{n}x", [("Host", "relay")], b"", framing="none")
        parts = [good, request(rng, "POST", path, base_headers, body), random_bytes(rng, rng.randint(1, 200)), good]
        rng.shuffle(parts)
        return kind, b"".join(parts[: rng.randint(2, 4)])
    if kind == "truncated":
        full = request(rng, "POST", path, base_headers, body)
        return kind, full[: rng.randint(0, max(0, len(full) - 1))]
    if kind == "bad_method":
        return kind, request(rng, rng.choice(METHODS), path, base_headers, body)
    # invalid UTF-8 and control bytes in the request line and header values
    raw = f"POST {path}".encode() + invalid_utf8(rng) + b" HTTP/1.1\r\nHost: r\xff\x00\r\nX: \x01\x7f" + invalid_utf8(rng) + b"\r\nContent-Length: 2\r\n\r\n{}"
    return kind, raw


# -- the fuzzer ---------------------------------------------------------------------------


STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


class Fuzzer:
    def __init__(self, socket_path: str, port: int, pid: int, seed: int, duration: float, *,
                 answer_timeout: float = 10.0, trickle_limit: float = 30.0, rss_bound_mib: int = 96,
                 max_inputs: int | None = None, log=print):
        self.socket_path = socket_path
        self.port = port
        self.pid = pid
        self.seed = seed
        self.duration = duration
        self.answer_timeout = answer_timeout
        self.trickle_limit = trickle_limit
        self.rss_bound_mib = rss_bound_mib
        self.max_inputs = max_inputs
        self.log = log
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def fail(self, message: str) -> None:
        with self._lock:
            self.failures.append(f"[seed {self.seed}] {message}")
        self._stop.set()

    # -- connections ----------------------------------------------------------------

    def connect(self, door: str) -> socket.socket:
        if door == "publish":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.answer_timeout)
            s.connect(self.socket_path)
        else:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=self.answer_timeout)
        return s

    def send_and_collect(self, door: str, data: bytes) -> bytes:
        """Sends ``data``, half-closes, reads until the relay closes. Raises on a hang."""
        s = self.connect(door)
        received = bytearray()
        try:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the relay closed early (refused before reading everything): EPIPE, ECONNRESET, ENOTCONN
            deadline = time.monotonic() + self.answer_timeout
            while True:
                if time.monotonic() > deadline:
                    raise FuzzFailure(f"{door}: no answer and no close within {self.answer_timeout}s")
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                except socket.timeout:
                    raise FuzzFailure(f"{door}: no answer and no close within {self.answer_timeout}s") from None
                if not chunk:
                    break
                received += chunk
                if len(received) > 16 << 20:
                    break
        finally:
            s.close()
        return bytes(received)

    # -- well-formed traffic beside the fuzzing -----------------------------------------

    def _subscriber(self, ready: threading.Event) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"GET /events/fuzz-steady HTTP/1.1\r\nHost: relay\r\nAccept: text/event-stream\r\n\r\n")
            buffer = b""
            expected = 0
            while not self._stop.is_set():
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    if not self._stop.is_set():
                        self.fail("the steady subscriber's stream ended")
                    return
                buffer += chunk
                if not ready.is_set() and b"\n\n" in buffer:
                    ready.set()
                for match in re.finditer(rb"data: steady-(\d+)\n", buffer):
                    number = int(match.group(1))
                    if number != expected:
                        self.fail(f"steady subscriber got event {number}, expected {expected}")
                        return
                    expected += 1
                    self.stats.steady_received = expected
                buffer = buffer[buffer.rfind(b"\n") + 1:] if b"data: steady-" in buffer else buffer[-200:]
            s.close()
        except Exception as exc:  # noqa: BLE001
            self.fail(f"steady subscriber: {exc!r}")

    def _until(self, condition, timeout: float) -> bool:
        """Whether `condition` came true within `timeout` seconds (polled; the pause only
        paces the polling)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _publisher(self) -> None:
        n = 0
        try:
            s = self.connect("publish")
            reader = s.makefile("rb")
            while not self._stop.is_set():
                body = json.dumps({"data": f"steady-{n}"}).encode()
                started = time.monotonic()
                s.sendall(b"POST /v1/clients/fuzz-steady/events HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\n"
                          + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                status_line = reader.readline()
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                if not status_line.startswith(b"HTTP/1.1 200"):
                    self.fail(f"steady publish {n} answered {status_line!r}")
                    return
                if time.monotonic() - started > 5:
                    self.fail(f"steady publish {n} took {time.monotonic() - started:.1f}s")
                    return
                n += 1
                self.stats.steady_published = n
                self._stop.wait(0.02)
            s.close()
        except Exception as exc:  # noqa: BLE001
            self.fail(f"steady publisher after {n} events: {exc!r}")

    def _trickler(self, door: str, rng: random.Random) -> None:
        """Sends a request head one byte at a time and never finishes it: the relay must
        cut it off within ``trickle_limit``."""
        try:
            s = self.connect(door)
            s.settimeout(1)
            head = b"POST /v1/clients/t/events HTTP/1.1\r\nHost: trickle\r\nX-Pad: " + b"a" * 10_000
            started = time.monotonic()
            for byte in head:
                if self._stop.is_set():
                    s.close()
                    return
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                if time.monotonic() - started > self.trickle_limit:
                    self.fail(f"{door}: a trickled request head was still open after {self.trickle_limit}s")
                    s.close()
                    return
                self._stop.wait(rng.uniform(0.05, 0.3))
            s.close()
            with self._lock:
                self.stats.trickles += 1
        except Exception as exc:  # noqa: BLE001
            self.fail(f"trickler on {door}: {exc!r}")

    # -- main loop ------------------------------------------------------------------

    def run(self) -> Stats:
        ready = threading.Event()
        threads = [threading.Thread(target=self._subscriber, args=(ready,), daemon=True)]
        threads[0].start()
        if not ready.wait(10):
            raise FuzzFailure(f"[seed {self.seed}] the steady subscriber did not start")
        publisher = threading.Thread(target=self._publisher, daemon=True)
        publisher.start()
        threads.append(publisher)
        # Warm up before measuring memory: allocators and pools settle after some traffic
        # (50 events through the steady pair, about a second of it).
        if not self._until(lambda: self._stop.is_set() or self.stats.steady_received >= 50, 10):
            raise FuzzFailure(f"[seed {self.seed}] the steady pair moved {self.stats.steady_received} events in 10 s")
        self.stats.rss_start_kib = rss_kib(self.pid)
        deadline = time.monotonic() + self.duration
        tricklers: list[threading.Thread] = []
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.max_inputs is not None and self.stats.inputs >= self.max_inputs:
                break
            n = self.stats.inputs
            tricklers = [t for t in tricklers if t.is_alive()]
            if len(tricklers) < 4 and self.rng.random() < 0.02:
                t = threading.Thread(target=self._trickler, args=(self.rng.choice(["publish", "http"]), random.Random(self.rng.getrandbits(32))), daemon=True)
                t.start()
                tricklers.append(t)
            door = "publish" if self.rng.random() < 0.6 else "http"
            kind, data = hostile_input(self.rng, n, door)
            try:
                received = self.send_and_collect(door, data)
            except FuzzFailure as exc:
                self.fail(f"input {n} ({kind}, {len(data)} bytes, first 200: {data[:200]!r}): {exc}")
                break
            except OSError as exc:
                if not alive(self.pid):
                    self.fail(f"relay died on input {n} ({kind}): {exc!r}")
                    break
                self.fail(f"input {n} ({kind}) on {door}: {exc!r}")
                break
            self.stats.inputs += 1
            self.stats.by_kind[kind] = self.stats.by_kind.get(kind, 0) + 1
            statuses = [int(m.group(1)) for m in STATUS_LINE.finditer(received)] if received.startswith(b"HTTP/") else []
            if not statuses:
                self.stats.closed_without_answer += 1
            for status in statuses:
                self.stats.statuses[status] = self.stats.statuses.get(status, 0) + 1
            if any(status >= 500 for status in statuses):
                self.fail(f"input {n} ({kind}) on {door} got a 5xx: {received[:500]!r}; input: {data[:300]!r}")
                break
            if not alive(self.pid):
                self.fail(f"relay died after input {n} ({kind}): {data[:300]!r}")
                break
        # Let the tricklers prove they are cut off.
        for t in tricklers:
            t.join(self.trickle_limit + 5)
        # The steady subscriber must have caught up with everything published.
        published = self.stats.steady_published
        self._until(lambda: self._stop.is_set() or self.stats.steady_received >= published, 10)
        if not self._stop.is_set() and self.stats.steady_received < published:
            self.fail(f"steady subscriber received {self.stats.steady_received} of {published} events")
        self._stop.set()
        for t in threads:
            t.join(5)
        if alive(self.pid):
            self.stats.rss_end_kib = rss_kib(self.pid)
            grown = (self.stats.rss_end_kib - self.stats.rss_start_kib) / 1024
            if grown > self.rss_bound_mib:
                self.failures.append(f"[seed {self.seed}] RSS grew {grown:.0f} MiB (bound {self.rss_bound_mib} MiB)")
        else:
            self.failures.append(f"[seed {self.seed}] the relay is not running at the end")
        self.log(f"fuzz seed {self.seed}: {self.stats.summary()}")
        if self.failures:
            raise FuzzFailure("\n".join(self.failures) + f"\n{self.stats.summary()}\nreproduce with seed {self.seed}")
        return self.stats
