"""Publisher access and publish-side limits, against the real binary.

* ``publish.socket-group`` / ``publish.socket-mode``: the socket file's group and mode.
* ``publish.allowed-uids`` / ``publish.allowed-gids``: the kernel's peer credentials
  (SO_PEERCRED, plus supplementary groups from /proc) decide who may publish; a refused
  publisher gets 403 with the JSON error and a warning naming its pid/uid/gid is logged
  (one per 10 s; every refusal is counted in the metrics).
  The tests that publish as another user fork a child that drops to that uid (root only).
* ``publish.max-body-size``, ``events.max-size``, ``publish.max-batch-events``: 413 with
  the JSON error.
* ``events.rate-limit-per-client``: events over the rate are dropped and each one reported.
* ``publish.request-timeout``: a request that never completes is disconnected.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import time

import pytest

from conftest import assert_json_error, read_http_response, tcp_accepts, wait_until

NOBODY = 65534
IS_ROOT = os.geteuid() == 0


def _as_user(socket_path: str, request: bytes, uid: int, gid: int, groups: list[int]) -> tuple[int, bytes]:
    """Sends ``request`` on the publish socket from a forked child running as uid/gid with
    supplementary ``groups``; returns the HTTP status and body it read."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, talk, report through the pipe
        code = 1
        try:
            os.close(read_end)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(socket_path)
                s.sendall(request)
                response = read_http_response(s.makefile("rb"))
            os.write(write_end, json.dumps({"status": response.status, "body": response.body.decode()}).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = json.loads(f.read() or b"{}")
    os.waitpid(pid, 0)
    assert "error" not in out, out
    return out["status"], out["body"].encode()


def _started(r):
    """Waits for a relay whose health check the test's own uid may not call."""
    wait_until(lambda: os.path.exists(r.socket_path) and tcp_accepts(r.port), 20, message="relay listening")
    return r


def _publish_request(client: str = "c1", data: str = "hi") -> bytes:
    body = json.dumps({"data": data}).encode()
    return (f"POST /v1/clients/{client}/events HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


# -- the socket file -------------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="chown to another group needs root")
def test_socket_group_and_mode_from_configuration(relay):
    r = relay("--socket-group", "4321", "--socket-mode", "0640")
    st = os.stat(r.socket_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_gid == 4321
    assert stat.S_IMODE(st.st_mode) == 0o640


def test_socket_group_by_name(relay):
    import grp
    own = grp.getgrgid(os.getgid()).gr_name
    r = relay("--socket-group", own)
    assert os.stat(r.socket_path).st_gid == os.getgid()


def test_unknown_socket_group_is_a_configuration_error(relay):
    r = relay("--socket-group", "no-such-group-xyz", wait_ready=False)
    assert r.wait_exit() != 0
    assert "publish.socket-group" in r.stderr_text()


# -- who may publish -------------------------------------------------------------------


def test_uid_not_allowed_gets_403_and_a_warning(relay):
    r = _started(relay("--allowed-uids", str(NOBODY), "--log-format", "text", wait_ready=False))
    resp = r.publish("c1", "hi")
    doc = assert_json_error(resp.status, resp.headers, resp.body, 403, "publisher_not_allowed")
    assert str(os.getuid()) in doc["error"]["message"]
    # Refusals are logged with the publisher's pid, uid and gid, but one per 10 s: a
    # publisher retrying in a loop must not flood the journal. Every one is counted.
    for _ in range(4):
        assert r.publish("c1", "again").status == 403
    line = wait_until(lambda: [l for l in r.stderr_text().splitlines() if "publisher refused" in l], 5,
                      message="refusal warnings")
    assert f"publisher.uid={os.getuid()}" in line[0] and "publisher.gid=" in line[0] and "publisher.pid=" in line[0], line[0]
    refused = wait_until(lambda: _metric(r, "sse_relay_publishers_refused_total") == 5 or None, 5,
                         message="5 refusals counted")
    assert refused
    assert len([l for l in r.stderr_text().splitlines() if "publisher refused" in l]) == 1, r.stderr_text()
    # Health is refused too: the whole API is for allowed publishers only.
    assert r.request("GET", "/v1/health").status == 403


def test_allowed_uid_or_primary_gid_publishes(relay):
    r = relay("--allowed-uids", f"{NOBODY},{os.getuid()}", wait_ready=False)
    r.wait_ready()
    assert r.publish("c1", "hi").status == 404  # allowed; nobody is connected
    r2 = relay("--allowed-gids", str(os.getgid()))
    assert r2.publish("c1", "hi").status == 404


@pytest.mark.skipif(not IS_ROOT, reason="publishing as another user needs root to switch uid")
def test_other_users_by_uid_primary_and_supplementary_group(relay):
    r = _started(relay("--socket-mode", "0666", "--allowed-uids", "5001", "--allowed-gids", "4242", wait_ready=False))
    os.chmod(r.workdir, 0o755)  # mkdtemp's 0700 would stop other users before the socket does
    request = _publish_request()
    status, body = _as_user(r.socket_path, request, uid=5001, gid=5001, groups=[])
    assert status == 404, body  # allowed by uid
    status, body = _as_user(r.socket_path, request, uid=5002, gid=4242, groups=[])
    assert status == 404, body  # allowed by primary group
    status, body = _as_user(r.socket_path, request, uid=5003, gid=5003, groups=[7, 4242])
    assert status == 404, body  # allowed by a supplementary group
    status, body = _as_user(r.socket_path, request, uid=5004, gid=5004, groups=[7])
    doc = json.loads(body)
    assert status == 403 and doc["error"]["code"] == "publisher_not_allowed", body
    assert "uid 5004" in doc["error"]["message"]


def test_unknown_user_is_a_configuration_error(relay):
    r = relay("--allowed-uids", "no-such-user-xyz", wait_ready=False)
    assert r.wait_exit() != 0
    assert "publish.allowed-uids" in r.stderr_text()


# -- limits ----------------------------------------------------------------------------


def test_body_too_large_is_413_json(relay):
    r = relay("--max-event-size", "1KiB", "--max-body-size", "4KiB")
    resp = r.request("POST", "/v1/events", b'{"client":"a","data":"x"}\n' * 400, {"Content-Type": "application/x-ndjson"})
    assert_json_error(resp.status, resp.headers, resp.body, 413, "body_too_large")
    resp = r.publish("c1", "x" * 2000)
    assert_json_error(resp.status, resp.headers, resp.body, 413, "event_too_large")


def test_batch_event_limit(relay):
    r = relay("--max-batch-events", "5")
    ok = r.publish_ndjson([{"topic": "t", "data": str(i)} for i in range(5)] + ["", "  "])
    assert ok.status == 200 and len(ok.ndjson()) == 5
    resp = r.publish_ndjson([{"topic": "t", "data": str(i)} for i in range(6)])
    doc = assert_json_error(resp.status, resp.headers, resp.body, 413, "too_many_events")
    assert "6 events" in doc["error"]["message"] and "5" in doc["error"]["message"]


def test_rate_limit_drops_and_reports_each_event(relay):
    r = relay("--rate-limit-per-client", "0.01", "--history-size", "0")
    s = r.open_stream("rl")
    lines = [{"client": "rl", "data": f"e{i}"} for i in range(3)] + [{"client": "other", "data": "x"}]
    # burst defaults to max(1, rate): one event goes out, the others are dropped.
    resp = r.publish_ndjson(lines)
    assert resp.status == 200
    reports = resp.ndjson()
    assert reports[0]["delivered"] == 1
    for line, report in zip((2, 3), reports[1:3]):
        assert report["dropped"] == "rate_limited" and report["error"]["code"] == "rate_limited", report
        assert report["line"] == line and report["client"] == "rl"
    assert "dropped" not in reports[3]  # other clients have their own bucket
    single = r.publish("rl", "single")
    assert_json_error(single.status, single.headers, single.body, 429, "rate_limited")
    assert single.json()["dropped"] == "rate_limited"
    assert s.next_event(timeout=5).data == "e0"
    s.expect_no_event(0.5)
    # Topics are not limited.
    for i in range(5):
        assert r.publish_topic("news", str(i)).status == 200


def test_rate_limit_coalesce_sends_the_latest_when_the_rate_allows(relay):
    r = relay("--rate-limit-per-client", "2", "--config", _write_config(relay, {"events": {"rate-limit-burst": 1, "rate-limit-action": "coalesce"}}))
    s = r.open_stream("co")
    reports = r.publish_ndjson([{"client": "co", "data": f"v{i}"} for i in range(4)]).ndjson()
    assert reports[0]["delivered"] == 1
    assert [x.get("deferred") for x in reports[1:]] == ["rate_limited"] * 3, reports
    assert [x["replacedEarlier"] for x in reports[1:]] == [False, True, True]
    single = r.publish("co", "v4")
    assert single.status == 202 and single.json()["replacedEarlier"] is True, single
    # v0 at once, then only the latest (v4) about half a second later; v1..v3 were replaced.
    assert s.next_event(timeout=5).data == "v0"
    assert s.next_event(timeout=5).data == "v4"
    s.expect_no_event(0.7)
    # Nothing is held now, so the flush stopped; a new hold must start it again.
    assert r.publish("co", "v5").status == 200
    assert r.publish("co", "v6").status == 202
    assert s.next_event(timeout=5).data == "v5"
    assert s.next_event(timeout=5).data == "v6"


def test_rate_limit_action_is_validated(relay):
    r = relay("--config", _write_config(relay, {"events": {"rate-limit-action": "explode"}}), wait_ready=False)
    assert r.wait_exit() != 0
    assert "events.rate-limit-action" in r.stderr_text()


# -- slow or stuck publishers ----------------------------------------------------------


def test_incomplete_request_head_is_disconnected(relay):
    r = relay("--config", _write_config(relay, {"publish": {"request-timeout": "500ms"}}))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(r.socket_path)
        s.sendall(b"POST /v1/clients/a/events HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        assert s.recv(100) == b""  # closed by the relay
        assert time.monotonic() - started < 5
    # A trickle: one byte every 200 ms never completes within the timeout either.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(r.socket_path)
        started = time.monotonic()
        closed = False
        for byte in b"GET /v1/health HTTP/1.1\r\nHost: trickle\r\nX-Pad: " + b"a" * 100:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
        assert closed, "the relay kept a trickling request open"
        assert time.monotonic() - started < 5
    # A truncated body is a request that never completes.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(r.socket_path)
        s.sendall(b"POST /v1/clients/a/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data\":")
        assert s.recv(100) == b""
    # Well-behaved keep-alive connections are unaffected: two requests 1 s apart (> timeout).
    conn = r.connection()
    for _ in range(2):
        conn.request("GET", "/v1/health")
        assert conn.getresponse().read() and True
        time.sleep(1.0)
    conn.close()


def test_publish_idle_timeout_closes_silent_connections(relay):
    r = relay("--config", _write_config(relay, {"publish": {"idle-timeout": "700ms"}}))
    conn = r.connection()
    conn.request("GET", "/v1/health")
    assert conn.getresponse().read()
    # Silent past the idle timeout: the relay closes it (a pool would see the FIN).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(r.socket_path)
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 0.5 < time.monotonic() - started < 5
    # The kept-alive connection above went the same way.
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("GET", "/v1/health")
        conn.getresponse().read()


def test_http_port_request_timeout_spares_streams(relay):
    r = relay("--config", _write_config(relay, {"http": {"request-timeout": "500ms"}}))
    s = r.open_stream("slow-ok")
    # A request head that never completes on the subscriber port is cut off ...
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as c:
        c.sendall(b"GET /events/x HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert c.recv(100) == b""
        assert time.monotonic() - started < 5
    # ... and so is a connection that never sends anything: idle ones have no use here.
    with socket.create_connection(("127.0.0.1", r.port), timeout=10) as c:
        started = time.monotonic()
        assert c.recv(100) == b""
        assert time.monotonic() - started < 5
    # ... while a stream, once open, is the relay's time: it outlives the timeout.
    time.sleep(1.5)
    assert r.publish("slow-ok", "still here").status == 200
    assert s.next_event(timeout=5).data == "still here"


def _write_config(relay, doc) -> str:
    path = os.path.join(relay.workdir(), "relay.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def _metric(r, name: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families
    text = r.metrics_request("/metrics").body.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    return None
