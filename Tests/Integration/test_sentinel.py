"""Redis high availability: the relay finds the master through Sentinel, follows a
failover by itself, and re-registers its clients on the new master.

One master, one replica and one sentinel, each a private redis-server on loopback; the
test forces a failover while a publisher keeps publishing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import free_port, wait_until
from servers import RabbitMQ


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10).stdout.strip()


class SentinelSetup:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ssr-sentinel-", dir="/tmp")
        self.master, self.replica, self.sentinel = free_port(), free_port(), free_port()

    def start(self) -> "SentinelSetup":
        for port, extra in ((self.master, []), (self.replica, ["--replicaof", "127.0.0.1", str(self.master)])):
            subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
                            "--dir", self.dir, "--pidfile", f"{self.dir}/{port}.pid",
                            "--logfile", f"{self.dir}/{port}.log", "--save", "", "--appendonly", "no",
                            "--dbfilename", f"{port}.rdb", *extra], check=True, timeout=10)
        config = f"{self.dir}/sentinel.conf"
        with open(config, "w") as f:
            f.write(f"port {self.sentinel}\nbind 127.0.0.1\ndaemonize yes\n"
                    f"pidfile {self.dir}/sentinel.pid\nlogfile {self.dir}/sentinel.log\ndir {self.dir}\n"
                    f"sentinel monitor relay 127.0.0.1 {self.master} 1\n"
                    "sentinel down-after-milliseconds relay 1000\nsentinel failover-timeout relay 5000\n")
        subprocess.run(["redis-server", config, "--sentinel"], check=True, timeout=10)
        wait_until(lambda: redis_cli(self.replica, "INFO", "replication").find("master_link_status:up") >= 0, 15,
                   message="replica in sync")
        wait_until(lambda: redis_cli(self.sentinel, "SENTINEL", "replicas", "relay").count(str(self.replica)) > 0, 15,
                   message="sentinel knows the replica")
        return self

    def master_port(self) -> int:
        out = redis_cli(self.sentinel, "SENTINEL", "get-master-addr-by-name", "relay").split()
        return int(out[1])

    def cleanup(self) -> None:
        for port in (self.sentinel, self.master, self.replica):
            redis_cli(port, "SHUTDOWN", "NOSAVE")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def sentinel():
    setup = SentinelSetup().start()
    yield setup
    setup.cleanup()


@pytest.fixture(scope="module")
def broker():
    server = RabbitMQ().start()
    yield server
    server.cleanup()


def test_failover_while_publishing(relay, sentinel, broker):
    prefix = f"s{uuid.uuid4().hex[:6]}:"
    flags = ["--redis-sentinels", f"127.0.0.1:{sentinel.sentinel}", "--redis-master-name", "relay",
             "--amqp", broker.url, "--redis-key-prefix", prefix, "--heartbeat", "300ms", "--registry-ttl", "2s"]
    a = relay(*flags, node_id=f"a-{prefix[:-1]}")
    b = relay(*flags, node_id=f"b-{prefix[:-1]}")
    stream = a.open_stream("zoe")
    wait_until(lambda: b.publish("zoe", "probe").json().get("forwarded"), 5, message="zoe routed to a")

    results: list[int] = []
    stop = threading.Event()

    def publisher():
        while not stop.is_set():
            results.append(b.publish("zoe", f"n{len(results)}").status)
            time.sleep(0.01)

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        wait_until(lambda: len(results) > 20, 10, message="publishing before the failover")
        old = sentinel.master_port()
        assert redis_cli(sentinel.sentinel, "SENTINEL", "failover", "relay") == "OK"
        wait_until(lambda: sentinel.master_port() != old, 20, message="sentinel promotes the replica")
        new = sentinel.master_port()
        # The relay follows by itself: publishes succeed again, through the new master,
        # with the client registered there.
        before = len(results)
        wait_until(lambda: len(results) > before + 20 and all(s == 200 for s in results[-10:]), 30,
                   message="publishes succeed again after the failover")
        wait_until(lambda: redis_cli(new, "HKEYS", f"{prefix}client:zoe") == a.node_id, 10,
                   message="client re-registered on the new master")
    finally:
        stop.set()
        thread.join()
    assert set(results) <= {200, 503}, "during the switch, only clear 503s"
    # Everything acknowledged with 200 reached the browser, in order.
    delivered = [e.data for e in stream.drain_events() if e.data.startswith("n")]
    wait_until(lambda: delivered.extend(e.data for e in stream.drain_events() if e.data.startswith("n"))
               or len(delivered) >= results.count(200), 10, message="every acknowledged event arrived")
    numbers = [int(d[1:]) for d in delivered]
    assert numbers == sorted(numbers)
    assert len(delivered) == results.count(200)
