"""Redis and RabbitMQ content is not trusted blindly, nor is their good health.

Garbage written into the relay's real Redis keys (wrong types, junk route entries, a node
hash that is a string) and garbage published into a node's real RabbitMQ queue (random
bytes, truncated batches, a flood of them) is skipped — logged, rate-limited — and the
cluster keeps delivering good events. A broker that blocks publishers (a memory alarm)
gets them answered at once, not after a confirm timeout each.
"""

from __future__ import annotations

import os
import random
import time
import uuid

import pika

from conftest import wait_until
from test_cluster import cluster, forwarded, rabbitmq_server, redis_server, wait_routed  # noqa: F401 - fixtures


def test_garbage_in_redis_keys_is_skipped_and_repaired(cluster, redis_server):
    a, b = cluster(2)
    prefix = cluster.prefix
    s = b.open_stream("victim", topics=["news"])
    wait_routed(a, "victim", b)
    cli = redis_server.cli
    cli("SET", prefix + "client:ghost", "garbage")  # a route that is not a hash
    cli("HSET", prefix + "client:victim", "zzz", "not-an-epoch", "\x01\x02", "1")  # junk entries
    cli("SET", prefix + "node:zzz", "garbage")  # a node hash that is a string
    cli("DEL", prefix + "history:c:victim")
    cli("LPUSH", prefix + "history:c:victim", "garbage")  # history that is not a stream
    cli("SET", prefix + "topic:news", "garbage")  # the topic's route: now a string

    ghost = a.publish("ghost", "nobody")
    assert ghost.status == 404, ghost  # not 503: the bad key is skipped (and deleted)
    assert cli("TYPE", prefix + "client:ghost") == "none"

    r = a.publish("victim", "through the junk")
    assert r.status == 200 and b.node_id in {f["node"] for f in r.json()["forwarded"]}, r
    # The stream may see probes from wait_routed first; the event must arrive.
    wait_until(lambda: any(e.data == "through the junk" for e in [s.next_event(timeout=5)]), 15,
               message="the event published through junk entries")
    # The topic route was deleted by the first publish and rebuilt by b's heartbeat.
    def topic_delivered():
        marker = f"news-{uuid.uuid4().hex[:6]}"
        report = a.publish_topic("news", marker).json()
        return b.node_id in {f["node"] for f in report.get("forwarded", [])} and marker
    marker = wait_until(topic_delivered, 10, message="topic news routed to b again")
    while (event := s.next_event(timeout=5)).data != marker:
        pass
    assert b.proc.poll() is None and a.proc.poll() is None


def test_garbage_in_a_nodes_queue_is_dropped_without_requeue(cluster, rabbitmq_server):
    a, b = cluster(2, "--log-format", "text")
    s = b.open_stream("steady")
    wait_routed(a, "steady", b)
    rng = random.Random(int(os.environ.get("SSE_RELAY_FUZZ_SEED", "7")))
    params = pika.URLParameters(rabbitmq_server.url)
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    good = b"c:steady\nid: 1-1\ndata: forged but well formed\n\n"
    bodies = [b"", b"not a batch", b"c:steady\nid: 1-1\ndata: no blank line", b"x:bad\nid: 1-1\n\n",
              b"c:steady\nid: nope\n\n", good[:-3], bytes(rng.getrandbits(8) for _ in range(4096))]
    bodies += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 512))) for _ in range(200)]
    for body in bodies:
        channel.basic_publish(exchange="sse-relay", routing_key=f"node.{b.node_id}", body=body)
    connection.close()

    # Good events keep flowing to b's subscribers through the same queue.
    for i in range(5):
        r = a.publish("steady", f"after-garbage-{i}")
        assert r.status == 200 and r.json()["forwarded"][0]["status"] == "confirmed", r
    seen = []
    deadline = time.monotonic() + 15
    while len([d for d in seen if d.startswith("after-garbage-")]) < 5 and time.monotonic() < deadline:
        seen.append(s.next_event(timeout=10).data)
    assert [d for d in seen if d.startswith("after-garbage-")] == [f"after-garbage-{i}" for i in range(5)], seen

    # Nothing was requeued: the queue is empty again, and the warnings were rate-limited.
    def queue_empty():
        probe = pika.BlockingConnection(params)
        try:
            declared = probe.channel().queue_declare(queue=f"sse-relay.node.{b.node_id}", passive=True)
            return declared.method.message_count == 0
        finally:
            probe.close()
    wait_until(queue_empty, 10, message=f"b's queue drained")
    warnings = [l for l in b.stderr_text().splitlines() if "dropping a malformed forwarded message" in l]
    assert 1 <= len(warnings) <= 3, f"{len(warnings)} warnings for {len(bodies)} bad messages"
    assert b.proc.poll() is None


def test_a_broker_memory_alarm_is_answered_at_once_and_lifts_cleanly(cluster, rabbitmq_server):
    a, b = cluster(2, "--log-format", "text")
    remote = b.open_stream("far")
    local = a.open_stream("near")
    wait_routed(a, "far", b)
    try:
        rabbitmq_server.ctl("set_vm_memory_high_watermark", "absolute", "1")
        # The broker tells a publishing connection it is blocked when it next publishes: the
        # first event may wait out the confirm timeout (and is reported unconfirmed), the
        # ones after it are refused at once.
        def refused_at_once():
            started = time.monotonic()
            r = a.publish("far", "during the alarm")
            took = time.monotonic() - started
            entry = r.json().get("forwarded", [{}])[0]
            return (r, took) if entry.get("status") == "blocked" else None
        r, took = wait_until(refused_at_once, 30, message="a publish refused with status blocked")
        assert took < 1.0, took
        assert r.status == 503, r
        error = r.json()["error"]
        assert error["code"] == "broker_unavailable" and "refuses publishes" in error["message"], error
        assert r.json()["stored"] is True
        # Local delivery does not need the broker.
        assert a.publish("near", "here").json()["delivered"] == 1
        assert local.next_event(timeout=5).data == "here"
        wait_until(lambda: "RabbitMQ blocks publishing" in a.stderr_text(), 10, message="the blocked warning")
    finally:
        rabbitmq_server.ctl("set_vm_memory_high_watermark", "0.4")
    wait_until(lambda: "RabbitMQ unblocked publishing" in a.stderr_text(), 30, message="the unblocked notice")
    after = a.publish("far", "after the alarm")
    assert forwarded(after.json()) == {b.node_id: "confirmed"}, after
    while (event := remote.next_event(timeout=10)).data != "after the alarm":
        assert event.data in {"probe", "during the alarm"}, event
