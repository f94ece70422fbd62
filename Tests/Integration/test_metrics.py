"""Metrics, health and readiness on the metrics port (`--metrics-listen`).

The exposition is parsed with ``prometheus_client``'s own parser (independent of the
swift-prometheus encoder the relay uses), after traffic whose counts the test knows.
"""

from __future__ import annotations

import signal

from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_until


def scrape(relay) -> dict:
    """Metric family name → {"type": ..., "samples": {(sample name, sorted labels): value}}."""
    r = relay.metrics_request("/metrics")
    assert r.status == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"]
    families = {}
    for family in text_string_to_metric_families(r.text):
        families[family.name] = {
            "type": family.type,
            "samples": {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples},
        }
    return families


def value(families: dict, sample: str, family: str | None = None, **labels) -> float:
    family = family or sample.removesuffix("_total")
    samples = families[family]["samples"]
    return samples.get((sample, tuple(sorted(labels.items()))), 0.0)


def test_counters_follow_known_traffic(relay):
    r = relay("--node-id", "m1")
    a1 = r.open_stream("alice")
    a2 = r.open_stream("alice")
    news = r.open_stream("bob", topics=["news"])

    for i in range(3):
        assert r.publish("alice", f"a{i}").status == 200
    for i in range(2):
        assert r.publish_topic("news", f"n{i}").status == 200
    bulk = [{"client": "alice", "data": "b0"}, {"client": "alice", "data": "b1"},
            {"topic": "news", "data": "b2"}, {"client": "nobody", "data": "b3"}]
    assert r.publish_ndjson(bulk).status == 200
    assert [e.data for e in a1.next_events(5)] == ["a0", "a1", "a2", "b0", "b1"]
    assert len(a2.next_events(5)) == 5
    assert [e.data for e in news.next_events(3)] == ["n0", "n1", "b2"]

    # A reconnect with a cursor replays; a bad cursor gets a reset event.
    cursor = r.health()["lastEventId"]
    replay = r.open_stream("bob", topics=["news"], last_event_id=cursor.rsplit("-", 1)[0] + "-1")
    assert replay.next_events(3)
    bad = r.open_stream("carol", last_event_id="not-a-cursor")

    families = scrape(r)
    assert families["sse_relay_events_published"]["type"] == "counter"
    assert value(families, "sse_relay_events_published_total", kind="client") == 3
    assert value(families, "sse_relay_events_published_total", kind="topic") == 2
    assert value(families, "sse_relay_events_published_total", kind="bulk") == 4
    # 3 to two alice streams, 2 + 1 to the news stream, 2 bulk to two alice streams.
    assert value(families, "sse_relay_events_delivered_total") == 3 * 2 + 2 + 1 + 2 * 2
    assert value(families, "sse_relay_connects_total") == 5
    assert families["sse_relay_connections_open"]["type"] == "gauge"
    assert value(families, "sse_relay_connections_open", node="m1") == 5
    assert value(families, "sse_relay_events_replayed_total") >= 1
    assert value(families, "sse_relay_resets_sent_total", reason="malformed_cursor") == 1
    assert families["sse_relay_publish_to_write_seconds"]["type"] == "histogram"
    assert value(families, "sse_relay_publish_to_write_seconds_count", "sse_relay_publish_to_write_seconds") >= 1
    assert "sse_relay_redis_up" not in families  # standalone: no backends

    # Disconnects by reason: two kicked, one gone.
    assert r.request("DELETE", "/v1/clients/alice").json()["closed"] == 2
    bad.close()
    wait_until(lambda: value(scrape(r), "sse_relay_disconnects_total", reason="client_gone") == 1, 5,
               message="client_gone counted")
    families = scrape(r)
    assert value(families, "sse_relay_disconnects_total", reason="kicked") == 2
    assert value(families, "sse_relay_disconnects_total", reason="slow_consumer") == 0
    assert value(families, "sse_relay_connections_open", node="m1") == 2
    assert (("sse_relay_disconnects_total", (("reason", "token_expired"),)) in
            families["sse_relay_disconnects"]["samples"]), "every reason is exported, zeros included"
    replay.close()
    news.close()


def test_health_endpoints_and_errors(relay):
    r = relay()
    live = r.metrics_request("/healthz")
    assert live.status == 200 and live.json() == {"status": "ok"}
    ready = r.metrics_request("/readyz")
    assert ready.status == 200 and ready.json() == {"ready": True, "reasons": []}
    health = r.health()
    assert health["ready"] is True and health["draining"] is False and health["notReady"] == []
    missing = r.metrics_request("/nope")
    assert missing.status == 404 and missing.json()["error"]["code"] == "not_found"
    page = r.metrics_request("/status")
    assert page.status == 200 and "<canvas" in page.text and "status/events" in page.text


def test_readiness_turns_false_while_draining(relay):
    r = relay("--drain-period", "4s")
    s = r.open_stream("held")  # keeps the drain busy for up to 4 s
    assert r.metrics_request("/readyz").status == 200
    r.proc.send_signal(signal.SIGTERM)

    def draining():
        answer = r.metrics_request("/readyz", timeout=2)
        return answer.status == 503 and answer.json() == {"ready": False, "reasons": ["draining"]}
    wait_until(draining, 5, message="/readyz 503 draining")
    assert r.metrics_request("/healthz").status == 200, "draining is not dead"
    s.close()
    assert r.wait_exit(15) == 0


def test_metrics_listener_can_be_turned_off_and_bad_values_are_refused(relay):
    r = relay("--metrics-listen", "off")
    assert r.health()["status"] == "ok"
    failed = relay("--metrics-listen", "nowhere", wait_ready=False)
    assert failed.wait_exit(10) != 0
    assert "metrics.listen" in failed.stderr_text()


def test_status_feed_is_sse_and_does_not_hold_up_shutdown(relay):
    import http.client
    import json

    import sseclient

    r = relay("--node-id", "feed")
    conn = http.client.HTTPConnection("127.0.0.1", r.metrics_port, timeout=10)
    conn.request("GET", "/status/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = sseclient.SSEClient(resp).events()
    first = next(e for e in events if e.event == "status")
    snapshot = json.loads(first.data)
    assert snapshot["node"] == "feed" and snapshot["ready"] is True and snapshot["mode"] == "standalone"
    assert snapshot["nodes"] == [{"id": "feed", "address": f"127.0.0.1:{r.port}", "connections": 0,
                                  "version": snapshot["version"]}]
    second = next(e for e in events if e.event == "status")
    assert int(second.id.rsplit("-", 1)[1]) > int(first.id.rsplit("-", 1)[1])
    r.proc.send_signal(signal.SIGTERM)
    assert r.wait_exit(10) == 0
    conn.close()


def test_refusals_and_rate_limited_events_are_counted(relay):
    r = relay(env={"SSE_RELAY_LIMITS_CONNECTIONS_PER_CLIENT": "1",
                   "SSE_RELAY_EVENTS_RATE_LIMIT_PER_CLIENT": "1", "SSE_RELAY_EVENTS_RATE_LIMIT_BURST": "1"})
    r.open_stream("tabs")
    for _ in range(2):
        assert r.stream("tabs").status == 429
    assert r.publish("tabs", "first").status == 200
    assert r.publish("tabs", "over the rate").status == 429

    families = scrape(r)
    assert value(families, "sse_relay_refusals_total", "sse_relay_refusals", reason="client_full") == 2
    assert value(families, "sse_relay_refusals_total", "sse_relay_refusals", reason="unauthenticated") == 0
    assert value(families, "sse_relay_publish_events_rate_limited_total", "sse_relay_publish_events_rate_limited") == 1
    assert value(families, "sse_relay_publishers_refused_total", "sse_relay_publishers_refused") == 0
