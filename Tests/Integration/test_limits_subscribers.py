"""Subscriber-side limits against the real binary: each limit hit answers its status, JSON
error and Retry-After where it applies; counts stay exact across closes; X-Forwarded-For is
believed only from proxy.trusted."""

import socket

from conftest import assert_json_error, wait_until


def test_connections_per_node_503_and_exact_across_closes(relay):
    r = relay(env={"SSE_RELAY_LIMITS_CONNECTIONS": "2"})
    a = r.open_stream("a")
    b = r.open_stream("b")
    full = r.stream("c")
    assert_json_error(full.status, full.headers, full.body, 503, "node_full")
    assert full.headers.get("Retry-After")
    for _ in range(3):  # close and reopen: the count must come back to exactly 2
        a.close()
        wait_until(lambda: r.stream("c2").status == 200, 5, message="a place is free again")
        wait_until(lambda: r.connection_count("c2") == 1, 5)
        assert r.stream("d").status == 503
        for s in [s for s in r.streams if s.path.startswith("/events/c2")]:
            s.close()
        wait_until(lambda: r.connection_count("c2") == 0, 5)
        a = r.open_stream("a")
    b.close()


def test_connections_per_client_429(relay):
    r = relay(env={"SSE_RELAY_LIMITS_CONNECTIONS_PER_CLIENT": "2"})
    first = r.open_stream("tabs")
    r.open_stream("tabs")
    third = r.stream("tabs")
    assert_json_error(third.status, third.headers, third.body, 429, "too_many_streams")
    assert third.headers.get("Retry-After")
    r.open_stream("other").close()
    first.close()
    wait_until(lambda: r.connection_count("tabs") == 1, 5)
    r.open_stream("tabs")


def test_topics_per_stream_400(relay):
    r = relay(env={"SSE_RELAY_LIMITS_TOPICS_PER_STREAM": "2"})
    resp = r.stream("t", topics=["a", "b", "c"])
    assert_json_error(resp.status, resp.headers, resp.body, 400, "too_many_topics")
    r.open_stream("t", topics=["a", "b"])


def test_request_header_size_431(relay):
    r = relay(env={"SSE_RELAY_LIMITS_MAX_HEADER_SIZE": "2KiB"})
    resp = r.stream("h", headers={"X-Padding": "x" * 4000})
    assert_json_error(resp.status, resp.headers, resp.body, 431, "headers_too_large")
    r.open_stream("h", headers={"X-Padding": "x" * 500})


def test_huge_header_beyond_the_parser_is_431_too(relay):
    r = relay()
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as sock:
        sock.sendall(b"GET /events/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (200 << 10) + b"\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 431"), data[:200]
    assert b'"headers_too_large"' in data


def test_connect_rate_per_forwarded_address_from_a_trusted_proxy(relay):
    r = relay("--trusted-proxies", "127.0.0.1",
              env={"SSE_RELAY_LIMITS_CONNECT_RATE": "0.2", "SSE_RELAY_LIMITS_CONNECT_BURST": "2"})
    browser = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    for _ in range(2):
        r.open_stream("r", headers=browser).close()
    limited = r.stream("r", headers=browser)
    assert_json_error(limited.status, limited.headers, limited.body, 429, "rate_limited")
    assert int(limited.headers.get("Retry-After")) >= 1
    # Another browser behind the same proxy has its own bucket.
    r.open_stream("r", headers={"X-Forwarded-For": "198.51.100.8"}).close()
    wait_until(lambda: "198.51.100.7" in r.stderr_text() and "rate_limited" in r.stderr_text(), 5,
               message="refusal logged with the forwarded address")
    # A client hammering on: every refusal is answered and counted, one line per 10 s is
    # logged for it, and another address's refusal still gets its own line.
    for _ in range(30):
        hammer = r.stream("r", headers=browser)
        assert hammer.status == 429
    for _ in range(3):
        r.stream("r", headers={"X-Forwarded-For": "198.51.100.8"})
    def refusal_lines(address: str) -> list[str]:
        return [l for l in r.stderr_text().splitlines() if "stream refused" in l and address in l]
    wait_until(lambda: len(refusal_lines("198.51.100.8")) == 1, 5, message="the other address's refusal logged")
    assert len(refusal_lines("198.51.100.7")) == 1, refusal_lines("198.51.100.7")
    metrics = r.metrics_request("/metrics").body.decode()
    assert 'sse_relay_refusals_total{reason="rate_limited"} 33' in metrics, [l for l in metrics.splitlines() if "refusals" in l]


def test_forwarded_for_from_an_untrusted_peer_is_ignored(relay):
    # The proxy list names someone else: this peer's X-Forwarded-For means nothing, so the
    # limit counts the peer itself (loopback, which is never rate limited).
    r = relay("--trusted-proxies", "10.0.0.0/8",
              env={"SSE_RELAY_LIMITS_CONNECT_RATE": "0.2", "SSE_RELAY_LIMITS_CONNECT_BURST": "1"})
    for _ in range(4):
        s = r.open_stream("u", headers={"X-Forwarded-For": "198.51.100.7"})
        info = r.client_info("u")["connections"][0]
        assert info["peer"].startswith("127.0.0.1"), info
        s.close()
        wait_until(lambda: r.connection_count("u") == 0, 5)
