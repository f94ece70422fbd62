"""Replay: Last-Event-ID / ?lastEventId= cursors, the history window, and resets."""

import threading
import time

import pytest

RESET = "sse-relay.reset"


def _receive_and_leave(r, client, n_events, **kw):
    """Opens a stream, publishes and receives ``n_events``, closes it, and waits until the
    relay has dropped the connection. Returns the events."""
    s = r.open_stream(client, **kw)
    for i in range(n_events):
        assert r.publish(client, f"seen{i}").status == 200
    evs = s.next_events(n_events)
    s.close()
    _wait_gone(r, client)
    return evs


def _wait_gone(r, client, timeout=5.0):
    deadline = time.monotonic() + timeout
    while r.connection_count(client) != 0:
        assert time.monotonic() < deadline, f"relay still lists a connection of {client!r}"
        time.sleep(0.02)


@pytest.mark.parametrize("via", ["header", "query"])
def test_reconnect_replays_missed_events_then_live(relay, via):
    r = relay()
    seen = _receive_and_leave(r, "c", 3)
    missed = []
    for i in range(4):
        rep = r.publish("c", f"missed{i}", event="m" if i % 2 else None)
        assert rep.status == 404, rep
        doc = rep.json()
        assert doc["stored"] is True and doc["delivered"] == 0, doc
        missed.append(doc["id"])
    kw = {"last_event_id": seen[-1].id} if via == "header" else {"query_last_event_id": seen[-1].id}
    s = r.open_stream("c", **kw)
    evs = s.next_events(4)
    assert [e.data for e in evs] == [f"missed{i}" for i in range(4)]
    assert [e.id for e in evs] == missed
    assert [e.event for e in evs] == ["message", "m", "message", "m"]
    rep = r.publish("c", "live")
    assert rep.status == 200, rep
    ev = s.next_event()
    assert (ev.data, ev.id) == ("live", rep.json()["id"])
    s.expect_no_event(0.2)


def test_reconnect_with_latest_cursor_replays_nothing(relay):
    r = relay()
    seen = _receive_and_leave(r, "c", 2)
    s = r.open_stream("c", last_event_id=seen[-1].id)
    assert r.publish("c", "live").status == 200
    ev = s.next_event()
    assert ev.data == "live", f"unexpected replay or reset: {s.raw()!r}"


@pytest.mark.parametrize("pace, every, mixed", [(0.003, None, False), (0.0, 25, False), (0.0, 25, True)],
                         ids=["paced", "flat-out", "flat-out-client-and-topic"])
def test_no_gap_no_duplicate_while_publishing_during_catch_up(relay, pace, every, mixed):
    r = relay("--history-size", "1000")
    total = 300
    errors = []
    topics = ["feed"] if mixed else []
    s = r.open_stream("cont", topics=topics)

    def publisher():
        try:
            for i in range(total):
                if mixed and i % 2:
                    rep = r.publish_topic("feed", f"m{i}")
                else:
                    rep = r.publish("cont", f"m{i}")
                if rep.status not in (200, 404):
                    errors.append(rep)
                if pace:
                    time.sleep(pace)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    received, last_id = [], None
    reconnects = [(60, "header"), (150, "query"), (151, "header"), (220, "header")]
    if every:
        reconnects = [(n, "header" if n % 2 else "query") for n in range(every, total, every)]
    deadline = time.monotonic() + 40
    try:
        while len(received) < total:
            assert time.monotonic() < deadline, f"only {len(received)} of {total} received: {received[-5:]}"
            ev = s.next_event(timeout=10)
            received.append(ev.data)
            last_id = ev.id
            if reconnects and len(received) >= reconnects[0][0]:
                _, via = reconnects.pop(0)
                s.close()  # whatever was in flight is lost for this connection
                kw = {"last_event_id": last_id} if via == "header" else {"query_last_event_id": last_id}
                s = r.open_stream("cont", topics=topics, **kw)
    finally:
        t.join(timeout=20)
    assert not errors, errors
    expected = [f"m{i}" for i in range(total)]
    assert received == expected, (
        "union of the connections is not the published sequence: "
        f"missing={sorted(set(expected) - set(received), key=lambda x: int(x[1:]))[:20]} "
        f"dupes={[x for x in set(received) if received.count(x) > 1][:20]}")
    s.expect_no_event(0.2)


@pytest.mark.parametrize("cursor_kind", ["too-old", "unknown", "malformed", "malformed-query"])
def test_unusable_cursor_gets_exactly_one_reset(relay, cursor_kind):
    r = relay("--history-size", "3")
    seen = _receive_and_leave(r, "c", 1)
    if cursor_kind == "too-old":
        for i in range(10):
            assert r.publish("c", f"missed{i}").status == 404
        kw = {"last_event_id": seen[-1].id}
    elif cursor_kind == "unknown":
        kw = {"last_event_id": "999999-1"}
    elif cursor_kind == "malformed":
        kw = {"last_event_id": "garbage"}
    else:
        kw = {"query_last_event_id": "garbage"}
    s = r.open_stream("c", **kw)
    first = s.next_event()
    assert first.event == RESET, f"expected {RESET!r} first, got {first.event!r} {first.data!r}; raw {s.raw()!r}"
    assert first.id, "the reset event carries no id"
    rep = r.publish("c", "live")
    assert rep.status == 200, rep
    ev = s.next_event()
    assert (ev.event, ev.data) == ("message", "live"), (
        f"expected the live event right after the reset, got {ev.event!r} {ev.data!r}; raw {s.raw()!r}")
    assert s.raw().count(RESET.encode()) == 1, s.raw()

    # the reset's id is a valid cursor: reconnecting with it gives no second reset
    s.close()
    _wait_gone(r, "c")
    s2 = r.open_stream("c", last_event_id=ev.id)
    assert r.publish("c", "after").status == 200
    ev2 = s2.next_event()
    assert (ev2.event, ev2.data) == ("message", "after"), s2.raw()


def test_cursor_older_than_history_age_gets_reset(relay):
    r = relay("--history-age", "1s")
    seen = _receive_and_leave(r, "c", 1)
    for i in range(3):
        assert r.publish("c", f"old{i}").status == 404
    time.sleep(1.6)  # precondition: let the missed events age out of the 1s window
    s = r.open_stream("c", last_event_id=seen[-1].id)
    ev = s.next_event()
    assert ev.event == RESET, f"expected a reset for events older than --history-age; raw {s.raw()!r}"
    assert r.publish("c", "live").status == 200
    assert s.next_event().data == "live"


def test_default_window_keeps_100_events(relay):
    r = relay()
    seen = _receive_and_leave(r, "w", 1)
    rep = r.publish_ndjson([{"client": "w", "data": f"m{i}"} for i in range(100)])
    assert rep.status == 200, rep
    assert len(rep.ndjson()) == 100
    s = r.open_stream("w", last_event_id=seen[-1].id)
    evs = s.next_events(100, timeout=10)
    assert [e.data for e in evs] == [f"m{i}" for i in range(100)], [e.event for e in evs[:3]]
    s.close()

    seen = _receive_and_leave(r, "w2", 1)
    rep = r.publish_ndjson([{"client": "w2", "data": f"m{i}"} for i in range(101)])
    assert rep.status == 200, rep
    s = r.open_stream("w2", last_event_id=seen[-1].id)
    assert s.next_event().event == RESET, "101 missed events should not fit the default window of 100"


def test_replay_merges_topic_and_client_events_in_id_order(relay):
    r = relay()
    seen = _receive_and_leave(r, "c", 1, topics=["news"])
    published = []
    for kind, target, data in [("client", "c", "c1"), ("topic", "news", "n1"), ("topic", "other", "x1"),
                               ("client", "c", "c2"), ("topic", "news", "n2"), ("client", "d", "d1"),
                               ("topic", "news", "n3"), ("client", "c", "c3")]:
        rep = r.publish(target, data) if kind == "client" else r.publish_topic(target, data)
        assert rep.status in (200, 404), rep
        if (kind, target) in (("client", "c"), ("topic", "news")):
            published.append((rep.json()["id"], data))
    s = r.open_stream("c", topics=["news"], last_event_id=seen[-1].id)
    evs = s.next_events(len(published))
    assert [(e.id, e.data) for e in evs] == published, s.raw()
    assert r.publish_topic("news", "live").status == 200
    assert s.next_event().data == "live"


def test_stream_without_events_resumes_from_its_initial_cursor(relay):
    r = relay()
    s = r.open_stream("fresh")
    cursor = s.initial_id()
    s.close()
    _wait_gone(r, "fresh")
    ids = []
    for i in range(3):
        rep = r.publish("fresh", f"while-away{i}")
        assert rep.status == 404, rep
        assert rep.json()["stored"] is True
        ids.append(rep.json()["id"])
    s2 = r.open_stream("fresh", last_event_id=cursor)
    evs = s2.next_events(3)
    assert [(e.id, e.data) for e in evs] == list(zip(ids, [f"while-away{i}" for i in range(3)])), s2.raw()


def test_initial_cursor_excludes_events_before_connect(relay):
    r = relay()
    # events stored before the stream opened are behind the stream's initial cursor
    assert r.publish("early", "before").status == 404
    s = r.open_stream("early")
    cursor = s.initial_id()
    s.close()
    _wait_gone(r, "early")
    assert r.publish("early", "after").status == 404
    s2 = r.open_stream("early", last_event_id=cursor)
    ev = s2.next_event()
    assert ev.data == "after", f"replayed an event from before the cursor: {s2.raw()!r}"


def test_history_size_bounds_memory(relay):
    """The window keeps the last N events per client: older ones are dropped, not just
    hidden, so publishing to an absent client cannot grow the relay without bound."""
    r = relay("--history-size", "10")
    data = "h" * 60000
    conn = r.connection()
    try:
        def publish(n):
            for _ in range(n):
                conn.request("POST", "/v1/clients/absent/events", body=data,
                             headers={"Content-Type": "text/plain"})
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 404, resp.status
        publish(30)  # fills the window (10 x 60 KB) and warms the allocator
        baseline = r.rss_kib()
        publish(500)  # 30 MB more, for a window of 600 KB
        grown = (r.rss_kib() - baseline) / 1024
    finally:
        conn.close()
    assert grown < 10, f"RSS grew by {grown:.1f} MiB for a history window of 10 x 60 KB"


def test_large_replay_to_a_reading_client_is_not_cut_off(relay):
    """A replay bigger than --buffer-limit goes out as the client reads it: the client is
    not a slow consumer and must get the whole window."""
    r = relay("--buffer-limit", "64KiB")
    seen = _receive_and_leave(r, "big", 1)
    payload = "r" * 8192
    rep = r.publish_ndjson([{"client": "big", "data": f"{i}:{payload}"} for i in range(100)])
    assert rep.status == 200, rep
    s = r.open_stream("big", last_event_id=seen[-1].id)
    evs = s.next_events(100, timeout=15)
    assert [e.data.split(":", 1)[0] for e in evs] == [str(i) for i in range(100)]
    assert not s.ended, f"stream ended ({s.end_kind}) after the replay"
    assert r.publish("big", "live").status == 200
    assert s.next_event().data == "live"
