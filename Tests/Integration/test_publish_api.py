"""Publish side: HTTP/1.1 over the Unix socket given with --publish-socket."""

import datetime
import json
import socket

import pytest

from conftest import id_key, pipeline, publish_request, read_http_response, wait_until

NODE = "node-a"


def _check_report(doc, *, client=None, topic=None, delivered):
    assert isinstance(doc.get("id"), str) and doc["id"], doc
    if client is not None:
        assert doc.get("client") == client, doc
        assert "topic" not in doc, doc
    if topic is not None:
        assert doc.get("topic") == topic, doc
        assert "client" not in doc, doc
    assert doc.get("node") == NODE, doc
    assert doc.get("delivered") == delivered, doc
    assert doc.get("forwarded") == [], doc
    assert doc.get("stored") is True, doc


def test_publish_json_to_connected_client(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    rep = r.publish("42", "hi", event="greet")
    assert rep.status == 200, rep
    assert (rep.headers.get("Content-Type") or "").lower().startswith("application/json")
    doc = rep.json()
    _check_report(doc, client="42", delivered=1)
    ev = s.next_event()
    assert (ev.id, ev.event, ev.data) == (doc["id"], "greet", "hi")


def test_publish_text_plain_with_event_query(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    rep = r.publish_text("/v1/clients/42/events", "plain body\nline two", event="ping")
    assert rep.status == 200, rep
    _check_report(rep.json(), client="42", delivered=1)
    ev = s.next_event()
    assert (ev.event, ev.data) == ("ping", "plain body\nline two")


def test_publish_text_plain_without_charset(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    rep = r.publish_text("/v1/clients/42/events", "bare", content_type="text/plain")
    assert rep.status == 200, rep
    ev = s.next_event()
    assert (ev.event, ev.data) == ("message", "bare")


def test_publish_large_event_intact(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    data = "".join(f"{i:06d}," for i in range(9000))[:60000]
    rep = r.publish("42", data)
    assert rep.status == 200, rep
    assert s.next_event(timeout=10).data == data


@pytest.mark.parametrize("size", [65535, 65536, 100_000, 500_000])
def test_event_frames_of_64KiB_and_more_are_delivered(relay, size):
    """An event whose SSE frame exceeds 64 KiB arrives whole, and the stream goes on."""
    r = relay("--max-event-size", "1MiB", "--buffer-limit", "4MiB", node_id=NODE)
    s = r.open_stream("42")
    data = "".join(f"{i:07d}\n" for i in range(size // 8 + 1))[:size]
    rep = r.publish("42", data)
    assert rep.status == 200, rep
    # The relay writes the 875 KB frame in well under a second; the generous deadline is
    # for sseclient-py, whose line-by-line parse of 62,500 data lines is slow on a busy machine.
    ev = s.next_event(timeout=60)
    assert ev.data == data, (len(ev.data), size)
    assert r.publish("42", "small after").status == 200
    assert s.next_event(timeout=5).data == "small after"


def test_publish_to_unconnected_client_is_404_and_stored(relay):
    r = relay(node_id=NODE)
    rep = r.publish("nobody", "lost?")
    assert rep.status == 404, rep
    doc = rep.assert_error(404, "client_not_connected")
    assert isinstance(doc.get("id"), str) and doc["id"], doc
    assert doc.get("client") == "nobody", doc
    assert doc.get("delivered") == 0, doc
    assert doc.get("stored") is True, doc


def test_publish_to_topic(relay):
    r = relay(node_id=NODE)
    rep = r.publish_topic("news", "nobody listens")
    assert rep.status == 200, rep
    _check_report(rep.json(), topic="news", delivered=0)

    a = r.open_stream("a", topics=["news"])
    b = r.open_stream("b", topics=["news", "sports"])
    c = r.open_stream("c", topics=["sports"])
    rep = r.publish_topic("news", "headline", event="n")
    assert rep.status == 200, rep
    doc = rep.json()
    _check_report(doc, topic="news", delivered=2)
    for s in (a, b):
        ev = s.next_event()
        assert (ev.id, ev.event, ev.data) == (doc["id"], "n", "headline")
    c.expect_no_event(0.2)

    rep = r.publish_text("/v1/topics/sports/events", "goal", event="s")
    assert rep.status == 200, rep
    _check_report(rep.json(), topic="sports", delivered=2)
    assert b.next_event().data == "goal"
    assert c.next_event().data == "goal"


def test_ndjson_batch(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42", topics=["news"])
    lines = [
        json.dumps({"client": "42", "data": "first", "event": "e1"}),   # 1
        json.dumps({"topic": "news", "data": "second"}),                # 2
        '{"client": "42", "data": ',                                    # 3 malformed JSON
        json.dumps({"client": "42"}),                                   # 4 no data
        json.dumps({"client": "bad id!", "data": "x"}),                 # 5 invalid id
        "",                                                             # 6 blank: no report
        json.dumps({"client": "42", "data": "third", "retry": 3000}),   # 7
        json.dumps({"client": "ghost", "data": "stored"}),              # 8 not connected
    ]
    rep = r.publish_ndjson(lines)
    assert rep.status == 200, rep
    reports = rep.ndjson()
    assert len(reports) == 7, reports
    _check_report(reports[0], client="42", delivered=1)
    _check_report(reports[1], topic="news", delivered=1)
    for idx, line_no in ((2, 3), (3, 4), (4, 5)):
        bad = reports[idx]
        assert isinstance(bad.get("error"), dict), bad
        assert isinstance(bad["error"].get("code"), str) and bad["error"]["code"], bad
        assert isinstance(bad["error"].get("message"), str) and bad["error"]["message"], bad
        assert bad.get("line") == line_no, f"expected line {line_no} (1-based): {bad}"
    assert reports[2]["error"]["code"] == "invalid_json", reports[2]
    assert reports[4]["error"]["code"] == "invalid_client_id", reports[4]
    _check_report(reports[5], client="42", delivered=1)
    ghost = reports[6]
    assert ghost.get("client") == "ghost" and ghost.get("delivered") == 0, ghost
    assert ghost.get("stored") is True and isinstance(ghost.get("id"), str), ghost

    evs = s.next_events(3)
    assert [(e.event, e.data) for e in evs] == [("e1", "first"), ("message", "second"), ("message", "third")]
    assert [e.id for e in evs] == [reports[0]["id"], reports[1]["id"], reports[5]["id"]]
    assert str(evs[2].retry) == "3000"


def test_get_client_connections(relay):
    r = relay(node_id=NODE)
    empty = r.client_info("42")
    assert empty == {"client": "42", "connections": [], "complete": True,
                     "nodes": [{"node": NODE, "status": "answered", "connections": 0}]}, empty

    a = r.open_stream("42")
    b = r.open_stream("42", topics=["news", "sports"])
    info = r.wait_connections("42", 2)
    assert info["client"] == "42"
    peers = {}
    now = datetime.datetime.now(datetime.timezone.utc)
    for c in info["connections"]:
        assert c.get("node") == NODE, c
        since = datetime.datetime.fromisoformat(c["since"])
        if since.tzinfo is not None:
            assert abs((now - since).total_seconds()) < 60, c
        peers[c["peer"]] = sorted(c.get("topics") or [])
        assert isinstance(c.get("topics"), list), c
    assert peers == {f"127.0.0.1:{a.local_port}": [], f"127.0.0.1:{b.local_port}": ["news", "sports"]}, info


def test_delete_client_closes_streams(relay):
    r = relay(node_id=NODE)
    a = r.open_stream("42")
    b = r.open_stream("42")
    other = r.open_stream("43")
    r.wait_connections("42", 2)
    rep = r.request("DELETE", "/v1/clients/42")
    assert rep.status == 200, rep
    assert rep.json() == {"client": "42", "closed": 2, "complete": True,
                          "nodes": [{"node": NODE, "status": "answered", "closed": 2}]}
    a.wait_ended(5)
    b.wait_ended(5)
    assert r.client_info("42")["connections"] == []
    assert r.publish("42", "too late").status == 404
    assert r.publish("43", "still here").status == 200
    assert other.next_event().data == "still here"
    rep = r.request("DELETE", "/v1/clients/nobody")
    assert rep.status == 200 and rep.json()["closed"] == 0, rep


def test_health(relay):
    r = relay(node_id=NODE)
    h = r.health()
    assert h.get("status") == "ok" and h.get("node") == NODE and h.get("mode") == "standalone", h
    assert h.get("connections") == 0, h
    a = r.open_stream("x")
    b = r.open_stream("y")
    wait_until(lambda: r.health().get("connections") == 2, 5, message="health connections == 2")
    a.close()
    b.close()
    wait_until(lambda: r.health().get("connections") == 0, 5, message="health connections == 0")


BAD_REQUESTS = [
    # id, method, path, content-type, body, status, code
    ("malformed-json", "POST", "/v1/clients/42/events", "application/json", b'{"data": ', 400, "invalid_json"),
    ("json-not-object", "POST", "/v1/clients/42/events", "application/json", b'["x"]', 400, None),
    ("missing-data", "POST", "/v1/clients/42/events", "application/json", b'{"event": "x"}', 400, None),
    ("null-data", "POST", "/v1/clients/42/events", "application/json", b'{"data": null}', 400, None),
    ("retry-not-int", "POST", "/v1/clients/42/events", "application/json", b'{"data": "x", "retry": "soon"}', 400, None),
    ("xml", "POST", "/v1/clients/42/events", "application/xml", b"<data/>", 415, "unsupported_media_type"),
    ("ndjson-as-xml", "POST", "/v1/events", "application/xml", b'{"client": "42", "data": "x"}', 415, "unsupported_media_type"),
    ("bad-client-id", "POST", "/v1/clients/bad%20id/events", "application/json", b'{"data": "x"}', 400, "invalid_client_id"),
    ("long-client-id", "POST", "/v1/clients/" + "c" * 129 + "/events", "application/json", b'{"data": "x"}', 400, "invalid_client_id"),
    ("bad-client-id-get", "GET", "/v1/clients/a!b", None, None, 400, "invalid_client_id"),
    ("bad-client-id-delete", "DELETE", "/v1/clients/a!b", None, None, 400, "invalid_client_id"),
    ("json-invalid-utf8", "POST", "/v1/clients/42/events", "application/json", b'{"data": "\xff\xfe"}', 400, None),
    ("bad-topic", "POST", "/v1/topics/bad!topic/events", "application/json", b'{"data": "x"}', 400, "invalid_topic"),
    ("event-name-lf", "POST", "/v1/clients/42/events", "application/json", b'{"event": "a\\nb", "data": "x"}', 400, "invalid_event_name"),
    ("event-name-cr", "POST", "/v1/topics/t/events", "application/json", b'{"event": "a\\rb", "data": "x"}', 400, "invalid_event_name"),
    ("event-name-query-lf", "POST", "/v1/clients/42/events?event=a%0Ab", "text/plain", b"x", 400, "invalid_event_name"),
    ("too-large", "POST", "/v1/clients/42/events", "application/json", b'{"data": "' + b"y" * 1025 + b'"}', 413, "event_too_large"),
    ("too-large-text", "POST", "/v1/topics/t/events", "text/plain", b"z" * 1025, 413, "event_too_large"),
    ("invalid-utf8", "POST", "/v1/clients/42/events", "text/plain", b"ok \xff\xfe bad", 400, "invalid_utf8"),
    ("invalid-utf8-json", "POST", "/v1/clients/42/events", "application/json", b'{"data": "ok \xff bad"}', 400, "invalid_utf8"),
    ("two-problems-ranked", "POST", "/v1/clients/42/events", "application/json", b'{"retry": "x", "event": 5, "data": 1, "colour": 1}', 400, "unknown_field"),
    ("retry-before-data", "POST", "/v1/clients/42/events", "application/json", b'{"data": null, "retry": "soon"}', 400, "invalid_retry"),
    ("unknown-route", "GET", "/v1/nope", None, None, 404, "not_found"),
    ("unknown-subroute", "POST", "/v1/clients/42/nope", "application/json", b'{"data": "x"}', 404, "not_found"),
    ("get-events", "GET", "/v1/clients/42/events", None, None, 405, None),
    ("put-health", "PUT", "/v1/health", "application/json", b"{}", 405, None),
    ("post-client", "POST", "/v1/clients/42", "application/json", b'{"data": "x"}', 405, None),
]


@pytest.mark.parametrize("method, path, ctype, body, status, code",
                         [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_json_errors_and_relay_keeps_working(relay, method, path, ctype, body, status, code):
    r = relay("--max-event-size", "1KiB", node_id=NODE)
    s = r.open_stream("42")
    headers = {"Content-Type": ctype} if ctype else {}
    rep = r.request(method, path, body, headers)
    rep.assert_error(status, code)
    s.expect_no_event(0.1)
    # the relay keeps working
    assert r.health()["status"] == "ok"
    ok = r.publish("42", "still fine")
    assert ok.status == 200, ok
    assert s.next_event().data == "still fine"


def test_max_event_size_boundary(relay):
    r = relay("--max-event-size", "1KiB", node_id=NODE)
    s = r.open_stream("42")
    ok = r.publish("42", "a" * 1024)
    assert ok.status == 200, ok
    assert s.next_event().data == "a" * 1024
    r.publish("42", "a" * 1025).assert_error(413, "event_too_large")
    # multi-byte characters count as bytes: 400 x 3 bytes = 1200 bytes
    r.publish("42", "\u20ac" * 400).assert_error(413, "event_too_large")


def test_many_bad_requests_in_a_row_then_good(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    for _ in range(20):
        r.request("POST", "/v1/clients/42/events", b"{not json", {"Content-Type": "application/json"}).assert_error(400, "invalid_json")
        r.request("POST", "/v1/clients/42/events", b"x", {"Content-Type": "image/png"}).assert_error(415, "unsupported_media_type")
    assert r.publish("42", "fine").status == 200
    assert s.next_event().data == "fine"


def test_http_keep_alive_reuses_connection(relay):
    r = relay(node_id=NODE)
    conn = r.connection()
    try:
        conn.request("GET", "/v1/health")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
        first_sock = conn.sock
        assert first_sock is not None, "the relay closed the connection after one request"
        for i in range(3):
            conn.request("POST", "/v1/topics/t/events", body=json.dumps({"data": f"d{i}"}),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["topic"] == "t"
            assert conn.sock is first_sock, "the relay closed a keep-alive connection"
    finally:
        conn.close()


def test_pipelined_requests_answered_in_order(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("a")
    body = json.dumps({"data": "piped"}).encode()
    reqs = [
        b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /v1/clients/a HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"POST /v1/topics/t/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
        b"GET /v1/nope HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"POST /v1/clients/a/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\n\r\nhello",
        b"GET /v1/clients/zzz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(r.socket_path)
    try:
        sock.sendall(b"".join(reqs))
        reader = sock.makefile("rb")
        out = [read_http_response(reader) for _ in reqs]
    finally:
        sock.close()
    assert [o.status for o in out] == [200, 200, 200, 404, 200, 200], out
    assert out[0].json()["status"] == "ok"
    assert out[1].json()["client"] == "a" and len(out[1].json()["connections"]) == 1
    assert out[2].json()["topic"] == "t"
    out[3].assert_error(404, "not_found")
    assert out[4].json()["client"] == "a" and out[4].json()["delivered"] == 1
    assert out[5].json()["client"] == "zzz" and out[5].json()["connections"] == []
    assert s.next_event().data == "hello"


def test_pipelined_publishes_keep_their_order(relay):
    # 300 publishes down one connection at once: the relay works on several together
    # (up to its in-flight limit), but ids, deliveries and answers keep the request order.
    r = relay(node_id=NODE)
    s = r.open_stream("p")
    out, _ = pipeline(r.socket_path, [publish_request("/v1/clients/p/events", str(i)) for i in range(300)])
    assert [o.status for o in out] == [200] * 300, [o for o in out if o.status != 200][:3]
    ids = [o.json()["id"] for o in out]
    assert sorted(ids, key=id_key) == ids and len(set(ids)) == 300, ids
    events = s.next_events(300)
    assert [e.data for e in events] == [str(i) for i in range(300)]
    assert [e.id for e in events] == ids


def test_pipelined_connection_close_ends_the_line(relay):
    # Requests after one that says `Connection: close` are not processed: the relay answers
    # up to it, in order, and closes.
    r = relay(node_id=NODE)
    s = r.open_stream("q")
    requests = [publish_request("/v1/clients/q/events", str(i)) for i in range(20)]
    requests.append(publish_request("/v1/clients/q/events", "last", close=True))
    requests += [publish_request("/v1/clients/q/events", f"after-{i}") for i in range(20)]
    out, rest = pipeline(r.socket_path, requests, answers=21)
    assert [o.status for o in out] == [200] * 21, out
    assert out[-1].headers.get("Connection", "").lower() == "close"
    assert rest == b"", f"expected the relay to close the connection, got {rest[:200]!r}"
    r.publish("q", "marker")
    got = [e.data for e in s.next_events(22)]
    assert got == [str(i) for i in range(20)] + ["last", "marker"], got


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"])
def test_json_content_type_parameters_and_case(relay, ctype):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    rep = r.request("POST", "/v1/clients/42/events", json.dumps({"data": "typed"}), {"Content-Type": ctype})
    assert rep.status == 200, rep
    assert s.next_event().data == "typed"


def test_chunked_request_body(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    lines = [json.dumps({"client": "42", "data": f"c{i}"}).encode() + b"\n" for i in range(5)]
    conn = r.connection()
    try:
        conn.request("POST", "/v1/events", body=iter(lines), encode_chunked=True,
                     headers={"Content-Type": "application/x-ndjson", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    reports = [json.loads(l) for l in body.decode().splitlines() if l.strip()]
    assert [rep.get("delivered") for rep in reports] == [1] * 5, reports
    assert [e.data for e in s.next_events(5)] == [f"c{i}" for i in range(5)]


def test_ndjson_crlf_lines_and_missing_final_newline(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    body = (json.dumps({"client": "42", "data": "one"}) + "\r\n"
            + json.dumps({"client": "42", "data": "two"}) + "\r\n"
            + json.dumps({"client": "42", "data": "three"})).encode()
    rep = r.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
    assert rep.status == 200, rep
    reports = rep.ndjson()
    assert len(reports) == 3 and all(x.get("delivered") == 1 for x in reports), reports
    assert [e.data for e in s.next_events(3)] == ["one", "two", "three"]


def test_ndjson_invalid_utf8_line_is_its_own_error(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    body = (b'{"client": "42", "data": "before"}\n'
            + b'{"client": "42", "data": "bad \xff\xfe"}\n'
            + b'{"client": "42", "data": "after"}\n')
    rep = r.request("POST", "/v1/events", body, {"Content-Type": "application/x-ndjson"})
    assert rep.status == 200, rep
    reports = rep.ndjson()
    assert [x.get("delivered") for x in reports] == [1, None, 1], reports
    assert reports[1]["error"]["code"] == "invalid_utf8" and reports[1]["line"] == 2, reports
    assert [e.data for e in s.next_events(2)] == ["before", "after"]


def test_garbage_and_half_requests_do_not_hurt(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    # garbage on the publish socket
    g = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    g.settimeout(2)
    g.connect(r.socket_path)
    g.sendall(b"\x00\x01NOT HTTP AT ALL\r\n\r\n")
    # a request that never finishes its body, left open
    half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    half.connect(r.socket_path)
    half.sendall(b"POST /v1/clients/42/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 100\r\n\r\nabc")
    # garbage on the TCP port
    t = socket.create_connection(("127.0.0.1", r.port), timeout=2)
    t.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n")
    try:
        left_open = []
        for name, sock in (("publish socket", g), ("TCP port", t)):
            data = b""
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except socket.timeout:
                # open is fine only for a response that keeps the connection alive
                if not data or b"connection: close" in data.lower():
                    left_open.append((name, data[:200]))
            except ConnectionResetError:
                pass
            if data:
                assert data.startswith(b"HTTP/1.1 4"), data[:200]
        assert r.health()["status"] == "ok"
        rep = r.publish("42", "unaffected")
        assert rep.status == 200, rep
        assert s.next_event().data == "unaffected"
        other = r.open_stream("43")
        assert r.publish("43", "new stream ok").status == 200
        assert other.next_event().data == "new stream ok"
        # a connection answered with "Connection: close" (or not answered) must be closed
        assert not left_open, f"garbage connection(s) still open after 2s: {left_open}"
    finally:
        g.close()
        half.close()
        t.close()


def test_fan_out_to_many_connections(relay):
    r = relay(node_id=NODE)
    streams = [r.open_stream(f"user{i % 10}", topics=["all"]) for i in range(60)]
    wait_until(lambda: r.health().get("connections") == 60, 10, message="60 connections")
    rep = r.publish_topic("all", "broadcast")
    assert rep.status == 200 and rep.json()["delivered"] == 60, rep
    rep2 = r.publish("user3", "to user3")
    assert rep2.status == 200 and rep2.json()["delivered"] == 6, rep2
    for i, st in enumerate(streams):
        assert st.next_event().data == "broadcast"
        if i % 10 == 3:
            assert st.next_event().data == "to user3"


@pytest.mark.parametrize("value, text", [
    ("5", "5"), ("true", "true"), ('{"order": 5}', '{"order":5}'), ("[1, 2]", "[1,2]"),
])
def test_non_string_data_is_sent_as_compact_json(relay, value, text):
    """A first publish call often sends an object: it arrives as its compact JSON text."""
    r = relay()
    stream = r.open_stream("42")
    resp = r.request("POST", "/v1/clients/42/events", body='{"data": %s}' % value,
                     headers={"Content-Type": "application/json"})
    assert resp.status == 200, resp
    assert stream.next_event(timeout=5).data == text
