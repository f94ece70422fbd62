"""Admin commands across a real cluster: `sse-relay nodes`, `clients show`, `kick`, `drain`.

Three `sse-relay serve` processes share a private Redis and RabbitMQ (fixtures from
test_cluster.py); the CLI talks to one node's publish socket and that node asks the others
through their RabbitMQ queues.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from conftest import SSEStream, free_port, run_cli, wait_until
from test_cluster import cluster, rabbitmq_server, redis_server, skip_to_marker, wait_routed  # noqa: F401 (fixtures)


def cli_json(node, *args: str, expect: int = 0, timeout: float = 30.0) -> dict:
    p = run_cli(*args, "--json", "--socket", node.socket_path, timeout=timeout)
    assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
    return json.loads(p.stdout)


def show(node, client: str, *flags: str, expect: int = 0) -> dict:
    return cli_json(node, "clients", "show", client, *flags, expect=expect)


def node_counts(node) -> dict:
    return {n["id"]: n["connections"] for n in cli_json(node, "nodes")["nodes"]}


def by_node(report: dict) -> dict:
    return {n["node"]: n for n in report["nodes"]}


# -- nodes --------------------------------------------------------------------------------

def test_nodes_lists_every_node_with_its_connection_count(cluster):
    a, b, c = cluster(3)
    a.open_stream("n1")
    a.open_stream("n2")
    b.open_stream("n1")
    expected = {a.node_id: 2, b.node_id: 1, c.node_id: 0}
    # Counts of other nodes come with their heartbeats (300 ms here).
    wait_until(lambda: node_counts(c) == expected, 5, message=f"counts {expected}")
    listing = {n["id"]: n for n in cli_json(c, "nodes")["nodes"]}
    assert listing[a.node_id]["address"] == f"127.0.0.1:{a.port}"
    assert listing[b.node_id]["version"] and listing[b.node_id]["epoch"] > 0
    assert not any(n["draining"] for n in listing.values())

    p = run_cli("nodes", "--socket", a.socket_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NODE", "ADDRESS", "CONNECTIONS", "STARTED", "VERSION", "STATE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(expected)
    assert rows[a.node_id][1:3] == [f"127.0.0.1:{a.port}", "2"] and rows[a.node_id][-1] == "up"


# -- clients show -------------------------------------------------------------------------

def test_clients_show_finds_the_connections_on_two_nodes(cluster):
    a, b, c = cluster(3)
    on_a = a.open_stream("s1", topics=["news"])
    on_b = b.open_stream("s1")
    wait_until(lambda: len(show(c, "s1")["connections"]) == 2, 5, message="both connections seen")
    skip_to_marker(on_a, lambda data: c.publish("s1", data))
    last = c.publish("s1", "latest").json()["id"]
    for stream in (on_a, on_b):
        wait_until(lambda s=stream: any(e.data == "latest" for e in s.drain_events()), 5, message="latest arrived")

    report = show(c, "s1")
    assert report["complete"] is True
    assert {n["node"]: (n["status"], n["connections"]) for n in report["nodes"]} == {
        a.node_id: ("answered", 1), b.node_id: ("answered", 1), c.node_id: ("answered", 0)}
    got = {conn["node"]: conn for conn in report["connections"]}
    assert set(got) == {a.node_id, b.node_id}
    assert got[a.node_id]["peer"] == f"127.0.0.1:{on_a.local_port}"
    assert got[b.node_id]["peer"] == f"127.0.0.1:{on_b.local_port}"
    assert got[a.node_id]["lastEventId"] == last and got[b.node_id]["lastEventId"] == last
    assert got[a.node_id]["topics"] == ["news"] and got[b.node_id]["topics"] == []

    # scope=node: only the asked node's own streams.
    assert show(a, "s1", "--node-only")["connections"][0]["node"] == a.node_id
    assert show(c, "s1", "--node-only")["connections"] == []

    p = run_cli("clients", "show", "s1", "--socket", c.socket_path)
    assert p.returncode == 0, p.stderr
    assert "client s1: 2 connections" in p.stdout
    assert f"127.0.0.1:{on_a.local_port}" in p.stdout and last in p.stdout


# -- kick ---------------------------------------------------------------------------------

def test_kick_from_a_third_node_closes_the_streams_on_both(cluster):
    a, b, c = cluster(3)
    on_a = a.open_stream("k1")
    on_b = b.open_stream("k1")
    other = a.open_stream("k2")
    wait_until(lambda: len(show(c, "k1")["connections"]) == 2, 5, message="both connections seen")

    p = run_cli("kick", "k1", "--socket", c.socket_path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "closed 2 connections of client k1" in p.stdout
    assert f"node {a.node_id}: closed 1" in p.stdout and f"node {b.node_id}: closed 1" in p.stdout
    on_a.wait_ended(5)
    on_b.wait_ended(5)
    assert not other.ended
    for node in (a, b):
        wait_until(lambda n=node: "kicked" in n.stderr_text(), 5, message=f"kick logged on {node.node_id}")
    assert show(c, "k1")["connections"] == []


def test_a_stopped_node_is_reported_and_the_command_does_not_hang(cluster):
    # A long registry TTL keeps the stopped node's routes, as a node frozen for a moment
    # would; the point is what the command does about a node that does not answer.
    a, b, c = cluster(3, "--registry-ttl", "60s")
    on_a = a.open_stream("k3")
    on_b = b.open_stream("k3")
    wait_until(lambda: len(show(c, "k3")["connections"]) == 2, 5, message="both connections seen")

    b.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        p = run_cli("kick", "k3", "--timeout", "1", "--json", "--socket", c.socket_path, timeout=20)
        elapsed = time.monotonic() - started
        assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
        report = json.loads(p.stdout)
        assert report["complete"] is False and report["closed"] == 1
        nodes = by_node(report)
        assert nodes[b.node_id]["status"] == "no_answer" and nodes[a.node_id]["status"] == "answered"
        assert elapsed < 10, f"kick took {elapsed:.1f}s with --timeout 1"
        on_a.wait_ended(5)

        human = run_cli("clients", "show", "k3", "--timeout", "0.5", "--socket", c.socket_path, timeout=20)
        assert human.returncode == 3 and f"node {b.node_id} no_answer" in human.stderr, human
    finally:
        b.proc.send_signal(signal.SIGCONT)
    # The kick b never answered had expired when b read it: its browser is still there
    # (b reads its queue in order, so the stale kick came before this question).
    def answered_by_all():
        p = run_cli("clients", "show", "k3", "--timeout", "5", "--json", "--socket", c.socket_path, timeout=20)
        return p.returncode == 0 and json.loads(p.stdout)
    report = wait_until(answered_by_all, 15, message="b answers again")
    assert [conn["node"] for conn in report["connections"]] == [b.node_id]
    assert not on_b.ended


# -- drain --------------------------------------------------------------------------------

def test_drain_moves_browsers_to_other_nodes(cluster):
    a, b, c = cluster(3, "--drain-period", "1s")
    stream = a.open_stream("d1")
    wait_routed(c, "d1", a)
    skip_to_marker(stream, lambda data: c.publish("d1", data))
    before = a.publish("d1", "before drain").json()
    assert stream.next_event(timeout=5).data == "before drain"

    p = run_cli("drain", "--timeout", "30", "--socket", a.socket_path, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "draining, 1 streams open" in p.stdout and "drained, no streams left" in p.stdout
    assert stream.wait_ended(5)
    assert b"retry: " in stream.raw()
    wait_until(lambda: "reason=drain" in a.stderr_text(), 5, message="drain logged")

    # New browsers are refused with a clear JSON answer.
    refused = a.stream("d2")
    assert refused.status == 503 and refused.headers["Retry-After"] == "2"
    assert json.loads(refused.body)["error"]["code"] == "draining"

    # Published on the drained node while the browser is between nodes: kept in history...
    missed = a.publish("d1", "while away").json()
    assert missed["delivered"] == 0
    # ... and replayed when it comes back elsewhere.
    moved = b.open_stream("d1", last_event_id=before["id"])
    assert moved.next_event(timeout=5).data == "while away"
    # The drained node's socket still publishes, to where the browser is now.
    wait_until(lambda: b.node_id in {f["node"] for f in a.publish("d1", "probe").json()["forwarded"]}, 5,
               message="drained node routes to b")
    skip_to_marker(moved, lambda data: a.publish("d1", data))

    # It has left the cluster; the others still list each other.
    assert a.node_id not in node_counts(c)
    assert set(node_counts(b)) == {b.node_id, c.node_id}
    assert a.health()["status"] == "ok"

    again = cli_json(a, "drain")
    assert again["draining"] is True and again["started"] is False and again["connections"] == 0


# -- standalone ---------------------------------------------------------------------------

def test_standalone_admin_commands(relay):
    r = relay("--drain-period", "500ms", node_id="solo")
    s1 = r.open_stream("x1")
    s2 = r.open_stream("x1", last_event_id="garbage")
    keep = r.open_stream("x2")
    sent = r.publish("x1", "hi").json()["id"]
    for s in (s1, s2):
        wait_until(lambda s=s: any(e.data == "hi" for e in s.drain_events()), 5, message="hi arrived")

    nodes = cli_json(r, "nodes")["nodes"]
    assert [(n["id"], n["connections"], n["draining"], n["address"]) for n in nodes] == [
        ("solo", 3, False, f"127.0.0.1:{r.port}")]
    report = show(r, "x1")
    assert report["complete"] is True and [n["node"] for n in report["nodes"]] == ["solo"]
    assert sorted(c["peer"] for c in report["connections"]) == sorted(f"127.0.0.1:{s.local_port}" for s in (s1, s2))
    assert {c["lastEventId"] for c in report["connections"]} == {sent}

    kicked = cli_json(r, "kick", "x1")
    assert kicked["closed"] == 2 and kicked["complete"] is True
    s1.wait_ended(5)
    s2.wait_ended(5)

    p = run_cli("drain", "--socket", r.socket_path, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    keep.wait_ended(5)
    assert r.stream("x3").status == 503
    assert cli_json(r, "nodes")["nodes"][0]["draining"] is True
    assert r.health()["status"] == "ok"


# -- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("path, status, code", [
    ("/v1/clients/e1?scope=galaxy", 400, "invalid_scope"),
    ("/v1/clients/e1?timeout=0", 400, "invalid_timeout"),
    ("/v1/clients/e1?timeout=soon", 400, "invalid_timeout"),
    ("/v1/clients/e1?colour=red", 400, "unknown_parameter"),
])
def test_admin_errors_are_json(relay, path, status, code):
    r = relay()
    for method in ("GET", "DELETE"):
        r.request(method, path).assert_error(status, code)


def test_admin_method_errors_and_cli_exit_codes(relay):
    r = relay()
    r.request("POST", "/v1/nodes").assert_error(405, "method_not_allowed")
    r.request("DELETE", "/v1/drain").assert_error(405, "method_not_allowed")
    p = run_cli("clients", "show", "e1", "--timeout", "0", "--socket", r.socket_path)
    assert p.returncode == 1 and "[invalid_timeout]" in p.stderr, p
    p = run_cli("nodes", "--socket", r.socket_path + ".missing")
    assert p.returncode == 1 and "cannot connect" in p.stderr, p


def test_cluster_admin_without_redis_is_a_clear_error(cluster, redis_server):
    a, = cluster(1)
    redis_server.stop()
    try:
        p = run_cli("nodes", "--socket", a.socket_path)
        assert p.returncode == 1 and "[registry_unavailable]" in p.stderr, p
        # This node alone still answers.
        assert show(a, "e2", "--node-only")["complete"] is True
    finally:
        redis_server.start()


# -- systemd ------------------------------------------------------------------------------

def test_drain_tells_systemd_and_a_drained_node_still_stops_cleanly(tmpdir_short):
    from test_systemd import NotifySocket, start

    notify = NotifySocket()
    port, sock = free_port(), os.path.join(notify.dir, "publish.sock")
    relay = start(["--listen", f"127.0.0.1:{port}", "--publish-socket", sock], {"NOTIFY_SOCKET": notify.path})
    try:
        notify.wait_for("READY", "1")
        stream = SSEStream(port, "/events/sd1", {"Accept": "text/event-stream"})
        assert stream.status == 200
        p = run_cli("drain", "--socket", sock, timeout=30)
        assert p.returncode == 0, (p.stdout, p.stderr)
        stream.wait_ended(5)
        notify.wait_for("STATUS", "draining")
        # Draining is not stopping: systemd must not think the service is going away.
        assert not any(f.get("STOPPING") == "1" for _, f in notify.messages), notify.messages
        assert relay.poll() is None
        relay.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING", "1")
        assert relay.wait(timeout=15) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
