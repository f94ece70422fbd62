"""The service protocol without systemd as PID 1: the notify socket a test binds,
systemd-socket-activate for socket activation, and signals sent by hand.

What systemd would see: READY=1 only once the relay accepts (and, in cluster mode, its
backends answered), STATUS lines, WATCHDOG=1 at half the interval and none while the
process is frozen, RELOADING=1 ... READY=1 around SIGHUP, STOPPING=1 and a clean drain on
SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import RELAY_BIN, SSEStream, UnixHTTPConnection, free_port, wait_until
from servers import RabbitMQ, Redis


class NotifySocket:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ssr-notify-", dir="/tmp")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, dict]] = []
        self.seen = 0  # messages before this index were matched or skipped by wait_for

    def read(self, duration: float) -> list[tuple[float, dict]]:
        """Reads the datagrams that arrive within the next `duration` seconds."""
        deadline = time.monotonic() + duration
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536).decode()
            except socket.timeout:
                return got
            fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            got.append((time.monotonic(), fields))
            self.messages.append(got[-1])

    def wait_for(self, key: str, value: str | None = None, timeout: float = 15) -> dict:
        """The next message (after the last one matched) that carries KEY=value."""
        deadline = time.monotonic() + timeout
        while True:
            while self.seen < len(self.messages):
                fields = self.messages[self.seen][1]
                self.seen += 1
                if key in fields and (value is None or fields[key] == value):
                    return fields
            if time.monotonic() >= deadline:
                break
            self.read(0.2)
        raise AssertionError(f"no {key}={value or '*'} within {timeout}s; got {self.messages[-10:]}")


def start(args: list[str], env: dict, *, wrapper: list[str] | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_RELAY_", "WATCHDOG_", "LISTEN_"))}
    full.update(env)
    # A free metrics port: the default one would collide between relays run side by side.
    metrics = [] if "--metrics-listen" in args else ["--metrics-listen", f"127.0.0.1:{free_port()}"]
    return subprocess.Popen([*(wrapper or []), RELAY_BIN, "serve", "--drain-period", "500ms", *metrics, *args], env=full,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_ready_status_watchdog_reload_and_stopping():
    notify = NotifySocket()
    port, sock = free_port(), os.path.join(notify.dir, "publish.sock")
    relay = start(["--listen", f"127.0.0.1:{port}", "--publish-socket", sock],
                  {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"})
    try:
        ready = notify.wait_for("READY", "1")
        assert "standalone" in ready.get("STATUS", "")
        # Ready means accepting: both listeners answer right away.
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/v1/health")
        assert conn.getresponse().status == 200

        # Watchdog: every half interval while healthy...
        pings = [t for t, f in notify.read(2.2) if f.get("WATCHDOG") == "1"]
        assert len(pings) >= 3, notify.messages[-10:]
        # ... and none while the process is frozen (systemd would kill it).
        relay.send_signal(signal.SIGSTOP)
        notify.read(0.3)  # drop what was in flight
        notify.seen = len(notify.messages)
        frozen = [f for _, f in notify.read(1.5) if f.get("WATCHDOG") == "1"]
        relay.send_signal(signal.SIGCONT)
        assert frozen == []
        notify.seen = len(notify.messages)

        relay.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING", "1")
        notify.wait_for("READY", "1")

        relay.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING", "1")
        assert relay.wait(timeout=15) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()


def test_socket_activation_adopts_named_sockets():
    """systemd-socket-activate binds both sockets and passes them by name; the relay
    adopts them instead of binding (the publish socket file stays systemd's)."""
    directory = tempfile.mkdtemp(prefix="ssr-activate-", dir="/tmp")
    port, sock = free_port(), os.path.join(directory, "publish.sock")
    relay = start(["--listen", "127.0.0.1:1", "--publish-socket", os.path.join(directory, "unused.sock")], {},
                  wrapper=["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "-l", sock,
                           "--fdname=http:publish"])
    try:
        # systemd-socket-activate accepts lazily: the relay starts at the first connection.
        stream = wait_until(lambda: SSEStream(port, "/events/act"), 15, message="stream through the adopted socket")
        assert stream.status == 200
        conn = UnixHTTPConnection(sock)
        conn.request("POST", "/v1/clients/act/events", body='{"data":"hi"}', headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        assert stream.next_event(timeout=5).data == "hi"
        assert not os.path.exists(os.path.join(directory, "unused.sock")), "adopted, not bound"
        stream.close()
    finally:
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(timeout=15)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


def test_reload_applies_live_settings_and_rejects_a_bad_file(relay, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("stream:\n  keep-alive: 30s\nlog:\n  level: info\n")
    r = relay("--config", str(config))
    first = r.open_stream("hup")
    # A bad file is refused and the running configuration stays.
    config.write_text("stream:\n  keep-alive: soon\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in r.stderr_text(), 10, message="refusal logged")
    assert "stream.keep-alive" in r.stderr_text()
    first.expect_no_event(0.5)
    # A good one applies: keep-alives every 200 ms from now on, for open streams too.
    config.write_text("stream:\n  keep-alive: 200ms\nlog:\n  level: debug\n")
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in r.stderr_text(), 10, message="reload logged")
    first.wait_raw(lambda raw: raw.count(b":\n\n") >= 2, 5, what="keep-alives after the reload")
    assert r.connection_count("hup") == 1, "no connection dropped by the reload"


def test_sigterm_drains_with_a_retry_hint_then_exits_zero(relay):
    r = relay("--drain-period", "1s")
    streams = [r.open_stream(f"d{i}") for i in range(5)]
    started = time.monotonic()
    r.proc.send_signal(signal.SIGTERM)
    for stream in streams:
        kind = stream.wait_ended(10)
        assert kind == "clean"
        assert b"retry: " in stream.raw()[-40:], "told to come back soon"
    assert r.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def backends():
    redis, broker = Redis().start(), RabbitMQ().start()
    yield redis, broker
    redis.cleanup()
    broker.cleanup()


def test_cluster_ready_waits_for_backends_and_drain_deregisters(backends, relay):
    redis, broker = backends
    notify = NotifySocket()
    prefix = f"n{uuid.uuid4().hex[:6]}:"
    port, sock = free_port(), os.path.join(notify.dir, "publish.sock")
    # Redis is not there yet: no READY until it is.
    redis.stop()
    node = start(["--listen", f"127.0.0.1:{port}", "--publish-socket", sock, "--node-id", "n1",
                  "--redis", redis.url, "--amqp", broker.url, "--redis-key-prefix", prefix, "--startup-timeout", "60s"],
                 {"NOTIFY_SOCKET": notify.path})
    try:
        assert not [f for _, f in notify.read(2) if f.get("READY") == "1"], "READY before Redis answered"
        redis.start()
        notify.wait_for("READY", "1", timeout=30)
        assert redis.cli("EXISTS", f"{prefix}node:n1") == "1"
        node.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING", "1")
        assert node.wait(timeout=20) == 0
        assert redis.cli("EXISTS", f"{prefix}node:n1") == "0", "left the registry"
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
