"""Cluster mode: several relay processes sharing one Redis and one RabbitMQ.

Each node is a separate `sse-relay serve` process with its own port, socket and node id;
a browser held by one node receives events published on another, through Redis (where is
the client?) and that node's RabbitMQ queue.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest

from conftest import id_key, pipeline, publish_request, wait_until
from servers import RabbitMQ, Redis

FAST = ["--heartbeat", "300ms", "--registry-ttl", "1500ms"]


@pytest.fixture(scope="module")
def redis_server():
    server = Redis().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def rabbitmq_server():
    server = RabbitMQ().start()
    yield server
    server.cleanup()


@pytest.fixture
def cluster(relay, redis_server, rabbitmq_server):
    """Factory: ``cluster(n)`` starts n nodes (a, b, c…) on a fresh key prefix."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    suffix = uuid.uuid4().hex[:6]

    def start(count: int = 3, *flags: str):
        nodes = []
        for index in range(count):
            node_id = f"{'abcdefgh'[index]}-{suffix}"
            nodes.append(relay("--redis", redis_server.url, "--amqp", rabbitmq_server.url,
                               "--redis-key-prefix", prefix, *FAST, *flags, node_id=node_id))
        return nodes

    start.prefix = prefix
    return start


def forwarded(report: dict) -> dict:
    """Node → forwarding status (an error answer, e.g. while Redis reconnects, has none)."""
    return {entry["node"]: entry["status"] for entry in report.get("forwarded", [])}


def skip_to_marker(stream, publish) -> None:
    """Publishes a unique marker with `publish(data)` and reads the stream up to it, so
    probes sent while waiting for a route are behind us."""
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    publish(marker)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if stream.next_event(timeout=10).data == marker:
            return
    raise AssertionError("marker never arrived")


def wait_routed(publisher, client: str, node, timeout: float = 5.0):
    """Publishes probe events until `node` shows up in the route for `client` (registration
    is asynchronous by a few milliseconds); returns the report that reached it."""
    def probe():
        report = publisher.publish(client, "probe").json()
        return report if node.node_id in forwarded(report) else None
    return wait_until(probe, timeout, message=f"{client} routed to {node.node_id}")


def test_event_published_on_one_node_reaches_a_browser_on_another(cluster):
    a, b, c = cluster(3)
    stream = a.open_stream("alice")
    wait_routed(b, "alice", a)
    skip_to_marker(stream, lambda data: b.publish("alice", data))

    r = b.publish("alice", "hello from b", event="greet")
    assert r.status == 200, r
    report = r.json()
    assert report["delivered"] == 0 and report["node"] == b.node_id
    assert forwarded(report) == {a.node_id: "confirmed"}
    assert report["stored"] is True
    event = stream.next_event(timeout=5)
    assert (event.event, event.data, event.id) == ("greet", "hello from b", report["id"])

    # Published where the browser is: local delivery, the broker is not involved.
    local = a.publish("alice", "local").json()
    assert local["delivered"] == 1 and local["forwarded"] == []
    assert stream.next_event(timeout=5).data == "local"


def test_an_event_published_as_soon_as_a_stream_opens_reaches_it(cluster):
    """Apps publish right after the browser's EventSource fires `open` (the response head):
    by then the stream's route is in Redis, so another node forwards the event instead of
    answering client_not_connected. Many at once, as when page loads open streams and
    start jobs: before streams waited for their route, about 2% of these missed."""
    a, b = cluster(2)
    misses: list = []
    delivered: list = []

    def opener(worker: int) -> None:
        for i in range(100):
            client = f"fresh-{worker}-{i}-{uuid.uuid4().hex[:4]}"
            s = b.stream(client)  # returns once the response head is in
            try:
                assert s.status == 200
                route = forwarded(a.publish(client, "first").json())
                if route != {b.node_id: "confirmed"}:
                    misses.append((client, route))
                elif i % 10 == 0:
                    delivered.append(s.next_event(timeout=5).data)
            finally:
                s.close()

    workers = [threading.Thread(target=opener, args=(w,)) for w in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not misses, f"{len(misses)} of 600 fresh streams missed an event published right after `open`: {misses[:3]}"
    assert delivered == ["first"] * 60
    # Topics are routed the same way.
    s = b.stream("fresh-topic", topics=["fresh-news"])
    assert forwarded(a.publish_topic("fresh-news", "news").json()) == {b.node_id: "confirmed"}
    assert s.next_event(timeout=5).data == "news"


def test_pipelined_publishes_cross_nodes_in_order_and_share_round_trips(cluster):
    # One publisher connection pipelines 300 events for a browser on another node. The
    # relay works on them together: Redis round trips are shared (serial handling would
    # need one per event), yet ids, forwarding and delivery keep the request order.
    from test_metrics import scrape, value

    a, b = cluster(2)
    stream = a.open_stream("piper")
    wait_routed(b, "piper", a)
    skip_to_marker(stream, lambda data: b.publish("piper", data))
    metric = "sse_relay_redis_round_trip_seconds"
    before = value(scrape(b), metric + "_count", metric)

    out, _ = pipeline(b.socket_path, [publish_request("/v1/clients/piper/events", str(i)) for i in range(300)])

    round_trips = value(scrape(b), metric + "_count", metric) - before
    assert [o.status for o in out] == [200] * 300, [o for o in out if o.status != 200][:3]
    assert all(forwarded(o.json()) == {a.node_id: "confirmed"} for o in out), out[:3]
    ids = [o.json()["id"] for o in out]
    assert sorted(ids, key=id_key) == ids and len(set(ids)) == 300, ids
    events = stream.next_events(300, timeout=30)
    assert [e.data for e in events] == [str(i) for i in range(300)]
    assert [e.id for e in events] == ids
    # Heartbeats (every 300 ms here) add a few round trips of their own.
    assert round_trips < 250, f"{round_trips} Redis round trips for 300 pipelined events"


def test_tabs_on_two_nodes_each_get_every_event_once(cluster):
    a, b, c = cluster(3)
    tab_a = a.open_stream("bob")
    tab_b = b.open_stream("bob")
    wait_until(lambda: set(forwarded(c.publish("bob", "probe").json())) == {a.node_id, b.node_id}, 5,
               message="both nodes registered")
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    c.publish("bob", marker)
    for tab in (tab_a, tab_b):
        while tab.next_event(timeout=10).data != marker:
            pass

    sent = [c.publish("bob", f"n{i}").json()["id"] for i in range(20)]
    got_a = [e.data for e in tab_a.next_events(20, timeout=10)]
    got_b = [e.data for e in tab_b.next_events(20, timeout=10)]
    assert got_a == [f"n{i}" for i in range(20)] and got_b == got_a
    tab_a.expect_no_event(0.3)
    tab_b.expect_no_event(0.0)
    assert len(set(sent)) == 20


def test_topic_events_reach_only_nodes_with_subscribers(cluster):
    a, b, c = cluster(3)
    news_a = a.open_stream("u1", topics=["news"])
    news_b = b.open_stream("u2", topics=["news"])
    c.open_stream("u3", topics=["sports"])

    def routed():
        report = c.publish_topic("news", "probe").json()
        return report if set(forwarded(report)) == {a.node_id, b.node_id} else None
    report = wait_until(routed, 5, message="news routed to a and b")
    assert c.node_id not in forwarded(report)
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    c.publish_topic("news", marker)
    for stream in (news_a, news_b):
        while stream.next_event(timeout=10).data != marker:
            pass

    r = c.publish_topic("news", "headline").json()
    assert forwarded(r) == {a.node_id: "confirmed", b.node_id: "confirmed"}
    assert news_a.next_event(timeout=5).data == "headline"
    assert news_b.next_event(timeout=5).data == "headline"


def test_a_killed_node_stops_being_routed_to_within_the_ttl(cluster, redis_server):
    a, b = cluster(2)
    a.open_stream("carol")
    wait_routed(b, "carol", a)
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait(timeout=5)
    killed_at = time.monotonic()

    def gone():
        r = b.publish("carol", "anyone?")
        return r if r.status == 404 else None
    r = wait_until(gone, 5, message="carol no longer routed to the killed node")
    assert time.monotonic() - killed_at < 1.5 + 1.0, "within the TTL (1.5 s) plus a heartbeat"
    assert r.json()["error"]["code"] == "client_not_connected"
    # The dead node's entries vanish from Redis by themselves.
    wait_until(lambda: redis_server.cli("EXISTS", f"{cluster.prefix}node:{a.node_id}") == "0", 5,
               message="node key expired")


def test_reconnecting_to_another_node_resumes_without_gap_or_duplicate(cluster):
    a, b, c = cluster(3)
    first = a.open_stream("dave")
    wait_routed(c, "dave", a)
    skip_to_marker(first, lambda data: c.publish("dave", data))

    published = []
    stop = threading.Event()

    def publisher():
        i = 0
        while not stop.is_set() and i < 400:
            r = c.publish("dave", f"e{i}")
            assert r.status in (200, 404), r
            published.append((r.json()["id"], f"e{i}"))
            i += 1
            time.sleep(0.002)

    thread = threading.Thread(target=publisher)
    thread.start()
    received = [first.next_event(timeout=5) for _ in range(20)]
    first.close()
    wait_until(lambda: a.connection_count("dave") == 0, 5, message="first stream closed")
    second = b.open_stream("dave", last_event_id=received[-1].id)
    wait_until(lambda: len(published) >= 150, 20, message="publishing goes on")
    stop.set()
    thread.join()
    # Everything after the last id seen on a, exactly once and in order.
    expected = [data for _, data in published]
    got = [e.data for e in received]
    while len(got) < len(expected):
        event = second.next_event(timeout=10)
        if event.data == "probe":
            continue
        got.append(event.data)
    assert got == expected
    second.expect_no_event(0.3)


def test_redis_restart_while_publishing_recovers_by_itself(cluster, redis_server):
    a, b = cluster(2)
    stream = a.open_stream("erin")
    wait_routed(b, "erin", a)
    skip_to_marker(stream, lambda data: b.publish("erin", data))

    redis_server.stop()
    r = b.publish("erin", "during outage")
    assert r.status == 503, r
    assert r.json()["error"]["code"] == "registry_unavailable"
    redis_server.start()  # empty: Redis lost every key
    # Heartbeats re-register the node and its clients; then publishing works again.
    report = wait_routed(b, "erin", a, timeout=15)
    assert forwarded(report)[a.node_id] == "confirmed"
    assert stream.next_event(timeout=5).data == "probe"


def test_broker_outage_keeps_local_delivery_and_reports_remote_failures_honestly(cluster, rabbitmq_server):
    a, b = cluster(2)
    remote = a.open_stream("frank")
    local = b.open_stream("grace")
    wait_routed(b, "frank", a)
    skip_to_marker(remote, lambda data: b.publish("frank", data))

    rabbitmq_server.stop()
    try:
        r = b.publish("frank", "while the broker is down")
        report = r.json()
        assert r.status == 503 and report["error"]["code"] == "broker_unavailable", r
        assert report["stored"] is True
        assert forwarded(report)[a.node_id] in ("unavailable", "unconfirmed")
        ok = b.publish("grace", "local still works")
        assert ok.status == 200 and ok.json()["delivered"] == 1
        assert local.next_event(timeout=5).data == "local still works"
    finally:
        rabbitmq_server.start()
    # The relay reconnects by itself; confirmed delivery resumes.
    def confirmed():
        rep = b.publish("frank", "after").json()
        return rep if forwarded(rep).get(a.node_id) == "confirmed" else None
    wait_until(confirmed, 60, interval=0.3, message="forwarding confirmed again")
    skip_to_marker(remote, lambda data: b.publish("frank", data))
