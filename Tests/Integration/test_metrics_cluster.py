"""Metrics and readiness of cluster nodes: forwarded / received counters, backend gauges,
and readiness following Redis going away and coming back."""

from __future__ import annotations

import uuid

import pytest

from conftest import wait_until
from servers import RabbitMQ, Redis
from test_cluster import FAST, forwarded, skip_to_marker, wait_routed
from test_metrics import scrape, value


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


def node(relay, redis_server, rabbitmq_server, prefix: str, name: str):
    return relay("--redis", redis_server.url, "--amqp", rabbitmq_server.url,
                 "--redis-key-prefix", prefix, *FAST, node_id=f"{name}-{uuid.uuid4().hex[:6]}")


def test_forwarded_and_received_counters_and_backend_gauges(relay, redis_server, rabbitmq_server):
    prefix = f"m{uuid.uuid4().hex[:8]}:"
    a = node(relay, redis_server, rabbitmq_server, prefix, "a")
    b = node(relay, redis_server, rabbitmq_server, prefix, "b")
    stream = b.open_stream("far")
    wait_routed(a, "far", b)
    skip_to_marker(stream, lambda data: a.publish("far", data))  # every probe has arrived

    before_a, before_b = scrape(a), scrape(b)
    for i in range(5):
        report = a.publish("far", f"e{i}").json()
        assert forwarded(report) == {b.node_id: "confirmed"}, report
    datas = []
    wait_until(lambda: datas.append(stream.next_event(timeout=5).data) or "e4" in datas, 10,
               message="the five events on node b")
    after_a, after_b = scrape(a), scrape(b)

    assert value(after_a, "sse_relay_events_forwarded_total") - value(before_a, "sse_relay_events_forwarded_total") == 5
    assert value(after_b, "sse_relay_events_received_total") - value(before_b, "sse_relay_events_received_total") == 5
    assert value(after_b, "sse_relay_events_delivered_total") - value(before_b, "sse_relay_events_delivered_total") == 5
    assert value(after_a, "sse_relay_events_published_total", kind="client") - \
        value(before_a, "sse_relay_events_published_total", kind="client") == 5
    for families in (after_a, after_b):
        assert value(families, "sse_relay_redis_up") == 1
        assert value(families, "sse_relay_amqp_up") == 1
        assert value(families, "sse_relay_redis_round_trip_seconds_count", "sse_relay_redis_round_trip_seconds") > 0
    assert value(after_a, "sse_relay_amqp_round_trip_seconds_count", "sse_relay_amqp_round_trip_seconds") >= 5
    assert value(after_b, "sse_relay_connections_open", node=b.node_id) == 1

    # The status feed lists both nodes from the registry.
    status = b.metrics_request("/status")
    assert status.status == 200
    stream.close()


def test_readiness_follows_redis(relay, redis_server, rabbitmq_server):
    prefix = f"m{uuid.uuid4().hex[:8]}:"
    a = node(relay, redis_server, rabbitmq_server, prefix, "a")
    assert a.metrics_request("/readyz").status == 200
    redis_before = value(scrape(a), "sse_relay_redis_reconnects_total")

    redis_server.stop()
    try:
        def not_ready():
            answer = a.metrics_request("/readyz", timeout=2)
            return answer.status == 503 and "redis down" in answer.json()["reasons"]
        wait_until(not_ready, 15, message="/readyz 503 with redis down")
        assert a.health()["ready"] is False
        assert value(scrape(a), "sse_relay_redis_up") == 0
        assert value(scrape(a), "sse_relay_redis_errors_total") >= 1
        assert a.metrics_request("/healthz").status == 200, "a backend outage is not a dead process"
    finally:
        redis_server.start()
    wait_until(lambda: a.metrics_request("/readyz", timeout=2).status == 200, 20, message="/readyz 200 again")
    families = scrape(a)
    assert value(families, "sse_relay_redis_up") == 1
    assert value(families, "sse_relay_redis_reconnects_total") == redis_before + 1
