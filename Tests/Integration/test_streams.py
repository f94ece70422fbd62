"""Subscriber side: GET /events/{clientId} over TCP, read by an independent SSE parser."""

import threading
import time

import pytest

from conftest import assert_json_error, wait_until


def test_stream_response_headers_and_first_bytes(relay):
    r = relay("--retry", "1500ms")
    started = time.monotonic()
    s = r.stream("alice")
    assert s.status == 200, s.body
    ctype = (s.headers.get("Content-Type") or "").lower().replace(" ", "")
    assert ctype == "text/event-stream;charset=utf-8", s.headers.get("Content-Type")
    cache = [p.strip().lower() for p in (s.headers.get("Cache-Control") or "").split(",")]
    assert "no-cache" in cache and "no-transform" in cache, s.headers.get("Cache-Control")
    assert (s.headers.get("X-Accel-Buffering") or "").lower() == "no"
    # The body runs until the connection closes: no length, no chunk framing per event.
    assert (s.headers.get("Connection") or "").lower() == "close"
    assert s.headers.get("Content-Length") is None and s.headers.get("Transfer-Encoding") is None

    # the first bytes come at once, without any event having been published
    info = s.preamble(timeout=1.0)
    assert time.monotonic() - started < 1.5
    assert info["retry"] == ["1500"], info
    assert info["comments"], f"no comment line in the first bytes: {s.raw()[:200]!r}"
    assert len(info["id"]) == 1 and info["id"][0], f"no cursor id: line: {s.raw()[:200]!r}"
    s.expect_no_event(0.2)


def test_named_event_fields_match_report(relay):
    r = relay()
    s = r.open_stream("alice")
    rep = r.publish("alice", "hello", event="greeting")
    assert rep.status == 200, rep
    ev = s.next_event()
    assert ev.event == "greeting"
    assert ev.data == "hello"
    assert ev.id == rep.json()["id"]


def test_unnamed_event_has_no_event_field(relay):
    r = relay()
    s = r.open_stream("alice")
    rep = r.publish("alice", "plain")
    assert rep.status == 200, rep
    ev = s.next_event()
    assert ev.event == "message" and ev.data == "plain" and ev.id == rep.json()["id"]
    assert b"event:" not in s.raw(), s.raw()


def test_ids_are_distinct_and_each_event_carries_one(relay):
    r = relay()
    s = r.open_stream("alice")
    ids = []
    for i in range(5):
        rep = r.publish("alice", f"m{i}")
        assert rep.status == 200, rep
        ids.append(rep.json()["id"])
    evs = s.next_events(5)
    assert [e.data for e in evs] == [f"m{i}" for i in range(5)]
    assert [e.id for e in evs] == ids
    assert len(set(ids)) == 5 and all(isinstance(i, str) and i for i in ids)


def test_retry_field_is_sent(relay):
    r = relay()
    s = r.open_stream("alice")
    assert r.publish("alice", "x", retry=5000).status == 200
    ev = s.next_event()
    assert ev.data == "x"
    assert str(ev.retry) == "5000", s.raw()


@pytest.mark.parametrize("data, expected", [
    ("a\r\nb\rc\nd", "a\nb\nc\nd"),
    ("x\n\nevent: evil\ndata: y", "x\n\nevent: evil\ndata: y"),
    ("id: 1\nretry: 1\n\n\n:comment\r\n\r\nevent: x", "id: 1\nretry: 1\n\n\n:comment\n\nevent: x"),
    ("\n", "\n"),
    ("trailing\n\n", "trailing\n\n"),
    ("", ""),
    ("h\u00e9llo \u2713 \U0001F389", "h\u00e9llo \u2713 \U0001F389"),
], ids=["mixed-breaks", "injection", "injection-crlf", "lone-lf", "trailing-breaks", "empty",
        "unicode"])
def test_data_line_breaks_cannot_inject(relay, data, expected):
    r = relay()
    s = r.open_stream("alice")
    rep = r.publish("alice", data)
    assert rep.status == 200, rep
    assert r.publish("alice", "after").status == 200
    ev = s.next_event()
    assert ev.event == "message", f"an injected event name took effect: {s.raw()!r}"
    assert ev.data == expected, s.raw()
    assert ev.id == rep.json()["id"], f"an injected id took effect: {s.raw()!r}"
    after = s.next_event()
    assert after.data == "after", f"the payload produced an extra event: {s.raw()!r}"


def test_text_plain_payload_cannot_inject(relay):
    r = relay()
    s = r.open_stream("alice")
    rep = r.publish_text("/v1/clients/alice/events", "one\r\ntwo\n\nevent: evil\rdata: z", event="note")
    assert rep.status == 200, rep
    assert r.publish("alice", "after").status == 200
    ev = s.next_event()
    assert (ev.event, ev.data) == ("note", "one\ntwo\n\nevent: evil\ndata: z"), s.raw()
    assert s.next_event().data == "after"


def test_keep_alive_comment_when_idle(relay):
    r = relay("--keep-alive", "200ms")
    s = r.open_stream("idle")
    first = s.comment_lines()
    assert first, "no comment in the first bytes"
    preamble_at = s.chunks()[0][0]
    # at least two keep-alive comments after the preamble, within a deadline
    s.wait_raw(lambda _: len(s.comment_lines()) >= len(first) + 2, 3.0, "two keep-alive comments")
    comment_times = []
    seen = 0
    for t, chunk in s.chunks():
        for line in chunk.splitlines():
            if line.startswith(b":"):
                seen += 1
                if seen > len(first):
                    comment_times.append(t)
    assert comment_times[0] - preamble_at >= 0.1, "keep-alive sent before the stream was idle"
    s.expect_no_event(0.05)  # comments dispatch nothing


def test_keep_alive_not_sent_while_events_flow(relay):
    r = relay("--keep-alive", "400ms")
    s = r.open_stream("busy")
    base = len(s.comment_lines())
    for i in range(12):  # one event every ~80 ms for about a second
        assert r.publish("busy", f"e{i}").status == 200
        assert s.next_event().data == f"e{i}"
        time.sleep(0.08)
    assert len(s.comment_lines()) == base, (
        f"keep-alive comments were sent although the stream was never idle for 400ms: {s.raw()!r}")
    # and once idle, it comes
    s.wait_raw(lambda _: len(s.comment_lines()) > base, 2.0, "a keep-alive comment once idle")


def test_max_lifetime_closes_cleanly_and_reconnect_loses_nothing(relay):
    r = relay("--max-lifetime", "1s", "--history-size", "1000")
    total = 120
    errors = []
    published = threading.Event()

    received = []
    lifetimes = []
    s = r.open_stream("life")

    def publisher():
        try:
            for i in range(total):
                rep = r.publish("life", f"m{i}")
                if rep.status not in (200, 404):
                    errors.append(rep)
                time.sleep(0.02)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            published.set()

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    last_id = None
    connections = 1
    while len(received) < total and time.monotonic() < deadline:
        try:
            ev = s.next_event(timeout=0.2)
            received.append(ev.data)
            last_id = ev.id
            continue
        except AssertionError:
            pass
        if s.ended:
            kind = s.wait_ended(0)
            lifetime = s.ended_at - s.opened_at
            lifetimes.append(lifetime)
            assert kind == "clean", (
                f"connection not closed cleanly (no terminating chunk): {kind}; raw tail {s.raw_tail()}")
            rest = s.drain_events()  # events parsed before the close are ours
            received.extend(e.data for e in rest)
            if rest:
                last_id = rest[-1].id
            assert last_id is not None or not received
            s = r.open_stream("life", last_event_id=last_id or s.initial_id())
            connections += 1
    t.join(timeout=10)
    assert not errors, errors
    assert received == [f"m{i}" for i in range(total)], (
        f"lost or duplicated events across {connections} connections: {received}")
    assert lifetimes, "the relay never closed a connection although --max-lifetime 1s"
    for lt in lifetimes:
        assert 0.9 <= lt <= 1.5, f"connection lifetime {lt:.2f}s, expected about 1s"


def test_max_lifetime_is_kept_for_every_connection(relay):
    """Connections opened at different moments each live about --max-lifetime."""
    r = relay("--max-lifetime", "1s")
    streams = []
    for i in range(5):
        streams.append(r.open_stream(f"t{i}"))
        time.sleep(0.2)  # spacing between the opens (a precondition, not a wait)
    for s in streams:
        kind = s.wait_ended(5)
        assert kind == "clean", f"{s.path}: not closed cleanly: {kind}"
    lifetimes = [round(s.ended_at - s.opened_at, 2) for s in streams]
    assert all(0.9 <= lt <= 1.3 for lt in lifetimes), f"lifetimes {lifetimes}, expected about 1s each"


def test_several_connections_share_a_client_id(relay):
    r = relay()
    a = r.open_stream("bob")
    b = r.open_stream("bob")
    r.wait_connections("bob", 2)
    rep = r.publish("bob", "both", event="e")
    assert rep.status == 200, rep
    assert rep.json()["delivered"] == 2
    ea, eb = a.next_event(), b.next_event()
    assert (ea.id, ea.event, ea.data) == (eb.id, eb.event, eb.data) == (rep.json()["id"], "e", "both")


def test_events_go_only_to_their_client(relay):
    r = relay()
    a = r.open_stream("alice")
    b = r.open_stream("bob")
    assert r.publish("alice", "for-alice").status == 200
    assert r.publish("bob", "for-bob").status == 200
    assert a.next_event().data == "for-alice"
    assert b.next_event().data == "for-bob"
    assert r.publish("alice", "marker").status == 200
    assert a.next_event().data == "marker"
    b.expect_no_event(0.2)


def test_topic_subscription(relay):
    r = relay()
    s = r.open_stream("c1", topics=["news", "sports"])
    other = r.open_stream("c2", topics=["news"])
    assert r.publish_topic("news", "n1").json()["delivered"] == 2
    assert r.publish_topic("sports", "s1").json()["delivered"] == 1
    rep = r.publish_topic("weather", "w1")
    assert rep.status == 200 and rep.json()["delivered"] == 0
    assert r.publish("c1", "direct").json()["delivered"] == 1
    assert [e.data for e in s.next_events(3)] == ["n1", "s1", "direct"]
    assert other.next_event().data == "n1"
    other.expect_no_event(0.2)


@pytest.mark.parametrize("client_id", [
    "a".ljust(128, "b"), "A-Z.a_z:0@9-", "42",
])
def test_valid_client_ids(relay, client_id):
    r = relay()
    s = r.open_stream(client_id)
    assert r.publish(client_id, "ok").status == 200
    assert s.next_event().data == "ok"


@pytest.mark.parametrize("path", [
    "/events/" + "x" * 129,
    "/events/a%20b",
    "/events/a!b",
    "/events/a+b",
    "/events/a,b",
    "/events/caf%C3%A9",
    "/events/a%2Fb",
    "/events/%3Cscript%3E",
    "/events/good?topic=bad%20topic",
    "/events/good?topic=",
    "/events/good?topic=ok&topic=" + "t" * 129,
    "/events/good?topic=a%0Ab",
], ids=["too-long", "space", "bang", "plus", "comma", "non-ascii", "slash", "angle",
        "topic-space", "topic-empty", "topic-too-long", "topic-newline"])
def test_invalid_ids_are_rejected(relay, path):
    r = relay()
    resp = r.http("GET", path, headers={"Accept": "text/event-stream"})
    assert_json_error(resp.status, resp.headers, resp.body, 400)
    assert r.health()["status"] == "ok"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_events_are_405(relay, method):
    r = relay()
    resp = r.http(method, "/events/x", body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
    assert_json_error(resp.status, resp.headers, resp.body, 405)


def test_head_on_events_is_405(relay):
    r = relay()
    resp = r.http("HEAD", "/events/x")
    assert resp.status == 405


@pytest.mark.parametrize("method, path", [
    ("GET", "/"),
    ("GET", "/nope"),
    ("GET", "/eventsx/a"),
    ("POST", "/v1/clients/x/events"),
    ("DELETE", "/nope"),
])
def test_unknown_paths_are_404(relay, method, path):
    r = relay()
    resp = r.http(method, path, body=b"{}" if method == "POST" else None,
                  headers={"Content-Type": "application/json"} if method == "POST" else {})
    assert_json_error(resp.status, resp.headers, resp.body, 404)


def test_cors_preflight_and_stream(relay):
    r = relay("--allow-origin", "https://app.example")
    pre = r.http("OPTIONS", "/events/x", headers={
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "last-event-id",
    })
    assert pre.status == 204, pre
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://app.example", dict(pre.headers)
    s = r.open_stream("x", headers={"Origin": "https://app.example"})
    assert s.headers.get("Access-Control-Allow-Origin") == "https://app.example", dict(s.headers)


def test_options_without_cors_configured(relay):
    r = relay()
    pre = r.http("OPTIONS", "/events/x", headers={"Origin": "https://elsewhere.example",
                                                  "Access-Control-Request-Method": "GET"})
    assert pre.status == 204, pre
    assert pre.headers.get("Access-Control-Allow-Origin") in (None, ""), dict(pre.headers)


def test_client_disconnect_is_noticed(relay):
    r = relay()
    s = r.open_stream("gone")
    r.wait_connections("gone", 1)
    s.close()
    # the relay notices the closed socket (at the latest when it writes to it)
    def gone():
        r.publish("gone", "probe")
        return r.connection_count("gone") == 0
    wait_until(gone, 5.0, interval=0.1, message="the closed connection to be dropped")
