"""A network partition, on hosts of our own: network namespaces made by the test.

Redis and RabbitMQ run in one namespace ("svc"), relay nodes a and b in one each, and the
browser in the namespace that holds the bridge ("hub"). Taking node a's link down cuts it
off from everything. The test shows what that does: a's routes expire within the TTL, so
b stops forwarding to it and says the client is not connected; events are kept in the
shared history, so the browser, reconnecting to b with its last id, loses nothing; when the
link comes back, a reconnects and registers again by itself.

Needs root (ip netns); everything it creates is removed at the end, also on failure.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from conftest import RELAY_BIN, SSEStream, UnixHTTPConnection, wait_until

CLONE_NEWNET = 0x40000000
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Network:
    def __init__(self) -> None:
        tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:3]}"
        self.names = {role: f"ssr{tag}{role}" for role in ("hub", "svc", "a", "b")}
        self.subnet = f"10.213.{os.getpid() % 200 + 20}"
        self.address = {"svc": f"{self.subnet}.1", "a": f"{self.subnet}.2", "b": f"{self.subnet}.3",
                        "hub": f"{self.subnet}.254"}
        self.links = {role: f"v{tag}{role}"[:15] for role in ("svc", "a", "b")}

    def up(self) -> "Network":
        for name in self.names.values():
            ip("netns", "add", name)
        hub = self.names["hub"]
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")
        ip("-n", hub, "addr", "add", f"{self.address['hub']}/24", "dev", "br0")
        ip("-n", hub, "link", "set", "lo", "up")
        for role in ("svc", "a", "b"):
            ns, link = self.names[role], self.links[role]
            ip("-n", hub, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", hub, "link", "set", link, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.address[role]}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
        return self

    def set_link(self, role: str, up: bool) -> None:
        ip("-n", self.names["hub"], "link", "set", self.links[role], "up" if up else "down")

    def run(self, role: str, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.names[role], *args], **kwargs)

    def call(self, role: str, fn):
        """Runs `fn` on a thread that entered `role`'s network namespace: sockets it makes
        live there (a network namespace is per thread)."""
        result: dict = {}

        def target():
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{self.names[role]}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
                result["value"] = fn()
            except BaseException as exc:  # reported to the caller
                result["error"] = exc
            finally:
                os.close(fd)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]

    def down(self) -> None:
        for name in self.names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


class Node:
    def __init__(self, net: Network, role: str, workdir: str, redis: str, amqp: str, prefix: str):
        self.role, self.net = role, net
        self.node_id = f"{role}-{prefix[:-1]}"
        self.socket = os.path.join(workdir, f"{role}.sock")
        self.log = open(os.path.join(workdir, f"{role}.log"), "wb")
        self.proc = net.run(role, [RELAY_BIN, "serve", "--listen", f"{net.address[role]}:8080",
                                   # netns addresses are not loopback: say anonymous is meant
                                   "--allow-anonymous", "true",
                                   "--publish-socket", self.socket, "--node-id", self.node_id,
                                   "--redis", redis, "--amqp", amqp, "--redis-key-prefix", prefix,
                                   "--heartbeat", "300ms", "--registry-ttl", "1500ms"],
                            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.request("GET", "/v1/health")[0] == 200, 30, message=f"node {role} ready")

    def request(self, method: str, path: str, body: str | None = None):
        conn = UnixHTTPConnection(self.socket, timeout=10)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            resp = conn.getresponse()
            import json
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    def publish(self, client: str, data: str):
        import json
        return self.request("POST", f"/v1/clients/{client}/events", json.dumps({"data": data}))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def network():
    net = Network()
    try:
        yield net.up()
    finally:
        net.down()


def test_partitioned_node_is_routed_around_and_nothing_is_lost(network):
    servers = os.path.join(os.path.dirname(__file__), "..", "servers")
    workdir = tempfile.mkdtemp(prefix="ssr-part-", dir="/tmp")
    svc = network.address["svc"]
    env = dict(os.environ, BIND_ADDRESS=svc)
    nodes: list[Node] = []
    started: list[str] = []
    try:
        for script, port in (("redis", "6379"), ("rabbitmq", "5672")):
            subprocess.run(["ip", "netns", "exec", network.names["svc"], "bash", f"{servers}/{script}.sh", "start",
                            port, f"{workdir}/{script}"], check=True, env=env, timeout=120, capture_output=True)
            started.append(script)
        prefix = f"p{uuid.uuid4().hex[:6]}:"
        redis, amqp = f"redis://{svc}:6379/0", f"amqp://guest:guest@{svc}:5672/"
        a = Node(network, "a", workdir, redis, amqp, prefix)
        b = Node(network, "b", workdir, redis, amqp, prefix)
        nodes += [a, b]

        # The browser (in the hub namespace) holds a stream on a.
        stream = network.call("hub", lambda: SSEStream(8080, "/events/pat", host=network.address["a"]))
        wait_until(lambda: b.publish("pat", "probe")[1].get("forwarded"), 10, message="pat routed to a")
        marker = "before-" + uuid.uuid4().hex[:6]
        b.publish("pat", marker)
        seen = []
        while True:
            event = stream.next_event(timeout=10)
            seen.append(event)
            if event.data == marker:
                break

        # Partition: a loses its link to everything.
        network.set_link("a", False)
        cut = time.monotonic()
        # Until a's routes expire, b forwards to a's queue (the broker confirms: the queue
        # is there) but nobody reads it. Within the TTL (1.5 s) plus a heartbeat, b stops
        # routing to a and says the client is not connected.
        sent: list[tuple[str, str]] = []

        def publish_during():
            status, report = b.publish("pat", f"during-{len(sent)}")
            sent.append((report["id"], f"during-{len(sent)}"))
            return status == 404 and report
        report = wait_until(publish_during, 10, message="a's routes expire")
        assert time.monotonic() - cut < 1.5 + 1.5
        assert report["error"]["code"] == "client_not_connected" and report["stored"] is True
        for _ in range(5):
            publish_during()

        # The browser gives up on a and reconnects to b with its last id: the replay has
        # every event published since, including the ones b reported as not connected.
        stream.close()
        resumed = network.call("hub", lambda: SSEStream(8080, "/events/pat", host=network.address["b"],
                                                         headers={"Last-Event-ID": seen[-1].id}))
        replayed = [resumed.next_event(timeout=10) for _ in sent]
        assert [(e.id, e.data) for e in replayed] == sent
        resumed.expect_no_event(0.3)

        # The link comes back: a reconnects and announces itself again by itself.
        network.set_link("a", True)
        key = f"{prefix}node:{a.node_id}"
        wait_until(lambda: subprocess.run(["ip", "netns", "exec", network.names["svc"], "redis-cli", "-h", svc,
                                           "EXISTS", key], capture_output=True, text=True).stdout.strip() == "1",
                   30, message="a registered again after the partition")
        resumed.close()
    finally:
        for node in nodes:
            node.stop()
        for script in reversed(started):
            subprocess.run(["ip", "netns", "exec", network.names["svc"], "bash", f"{servers}/{script}.sh", "stop",
                            "6379" if script == "redis" else "5672", f"{workdir}/{script}"], env=env,
                           capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)
