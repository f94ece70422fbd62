"""A subscriber that stops reading is cut off; everyone else keeps receiving; memory stays bounded."""

import socket
import time

from conftest import wait_until

MiB = 1024


def _read_until_eof(sock, timeout):
    """Reads (and discards) until the relay closes the connection."""
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            break
        except ConnectionResetError:
            return total, "reset"
        if not chunk:
            return total, "eof"
        total += len(chunk)
    raise AssertionError(f"slow connection still open after {timeout}s ({total} bytes drained)")


def test_slow_consumer_is_disconnected_without_hurting_others(relay):
    r = relay("--buffer-limit", "64KiB")
    fast = r.open_stream("fast")

    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", r.port))
    slow.sendall(b"GET /events/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    try:
        r.wait_connections("slow", 1)
        baseline = r.rss_kib()
        peak = baseline
        payload = "x" * 8192
        batches, per_batch = 20, 100  # up to 2000 events of 8 KiB for the slow client
        slow_gone_after = None
        for b in range(batches):
            if slow_gone_after is not None and b > slow_gone_after + 3:
                break  # cut off, and three more batches went by: enough
            lines = [{"client": "slow", "data": payload} for _ in range(per_batch)]
            lines.append({"client": "fast", "data": f"fast{b}"})
            rep = r.publish_ndjson(lines)
            assert rep.status == 200, rep
            reports = rep.ndjson()
            assert len(reports) == per_batch + 1
            assert reports[-1].get("delivered") == 1, reports[-1]
            # the normal subscriber keeps receiving, in time
            ev = fast.next_event(timeout=10)
            assert ev.data == f"fast{b}"
            peak = max(peak, r.rss_kib())
            if slow_gone_after is None and r.connection_count("slow") == 0:
                slow_gone_after = b
        wait_until(lambda: r.connection_count("slow") == 0, 20,
                   message="the slow client's connection to be closed by the relay")
        peak = max(peak, r.rss_kib())
        assert peak - baseline < 50 * MiB, (
            f"relay RSS grew by {(peak - baseline) / 1024:.1f} MiB while a client did not read")
        # the socket really is closed by the relay: draining it reaches EOF (or a reset)
        _read_until_eof(slow, 15)
        # and the relay is still fine
        assert r.health()["status"] == "ok"
        assert r.publish("fast", "after").status == 200
        assert fast.next_event().data == "after"
    finally:
        slow.close()


def test_reader_that_catches_up_in_time_is_not_disconnected(relay):
    """A consumer that reads keeps its connection through a burst smaller than its buffer."""
    r = relay("--buffer-limit", "64KiB")
    s = r.open_stream("reader")
    payload = "y" * 1024
    rep = r.publish_ndjson([{"client": "reader", "data": f"{i}:{payload}"} for i in range(50)])
    assert rep.status == 200, rep
    evs = s.next_events(50, timeout=15)
    assert [e.data.split(":", 1)[0] for e in evs] == [str(i) for i in range(50)]
    assert r.connection_count("reader") == 1
