"""The other subcommands: publish, clients show, kick, status; help and shutdown."""

import json
import os
import signal

from conftest import run_cli, wait_until

NODE = "cli-node"


def _one_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {text!r}"
    return lines[0]


def test_publish_to_connected_client(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    p = run_cli("publish", "--socket", r.socket_path, "--client", "42", "--event", "greet", "hello world")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    doc = json.loads(p.stdout)
    assert doc.get("client") == "42" and doc.get("delivered") == 1 and doc.get("node") == NODE, doc
    ev = s.next_event()
    assert (ev.id, ev.event, ev.data) == (doc["id"], "greet", "hello world")


def test_publish_to_topic(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("a", topics=["news"])
    p = run_cli("publish", "--socket", r.socket_path, "--topic", "news", "extra! extra!")
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    doc = json.loads(p.stdout)
    assert doc.get("topic") == "news" and doc.get("delivered") == 1, doc
    ev = s.next_event()
    assert (ev.event, ev.data) == ("message", "extra! extra!")


def test_publish_to_unconnected_client_fails_with_one_line(relay):
    r = relay(node_id=NODE)
    p = run_cli("publish", "--socket", r.socket_path, "--client", "nobody", "hello")
    assert p.returncode != 0, (p.stdout, p.stderr)
    line = _one_line(p.stderr)
    # the line names the client or the reason; exact wording is the relay's choice
    assert "nobody" in line or "not connected" in line.lower() or "client_not_connected" in line, line


def test_publish_without_relay_fails_with_one_line(tmpdir_short):
    missing = os.path.join(tmpdir_short, "none.sock")
    p = run_cli("publish", "--socket", missing, "--client", "42", "hello")
    assert p.returncode != 0, (p.stdout, p.stderr)
    line = _one_line(p.stderr)
    assert missing in line or "none.sock" in line, line


def test_publish_invalid_event_name_fails(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    p = run_cli("publish", "--socket", r.socket_path, "--client", "42", "--event", "a\nb", "x")
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert p.stderr.strip(), "no error message"
    s.expect_no_event(0.2)


def test_clients_show(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42", topics=["news"])
    r.wait_connections("42", 1)
    p = run_cli("clients", "show", "42", "--socket", r.socket_path)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert f"127.0.0.1:{s.local_port}" in p.stdout, p.stdout
    assert "news" in p.stdout, p.stdout


def test_kick_closes_streams(relay):
    r = relay(node_id=NODE)
    a = r.open_stream("42")
    b = r.open_stream("42")
    keep = r.open_stream("43")
    r.wait_connections("42", 2)
    p = run_cli("kick", "42", "--socket", r.socket_path)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    a.wait_ended(5)
    b.wait_ended(5)
    assert r.connection_count("42") == 0
    assert r.connection_count("43") == 1
    assert not keep.ended


def test_status(relay):
    r = relay(node_id=NODE)
    r.open_stream("42")
    p = run_cli("status", "--socket", r.socket_path)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert NODE in p.stdout, p.stdout


def test_status_without_relay_fails(tmpdir_short):
    p = run_cli("status", "--socket", os.path.join(tmpdir_short, "none.sock"))
    assert p.returncode != 0
    assert p.stderr.strip()


def test_help_lists_subcommands_and_flags():
    p = run_cli("--help")
    assert p.returncode == 0, p.stderr
    for sub in ("serve", "publish", "clients", "kick", "nodes", "drain", "status"):
        assert sub in p.stdout, p.stdout
    p = run_cli("serve", "--help")
    assert p.returncode == 0, p.stderr
    for flag in ("--config", "--listen", "--publish-socket", "--socket-mode", "--node-id", "--keep-alive",
                 "--max-lifetime", "--history-size", "--history-age", "--buffer-limit",
                 "--max-event-size", "--allow-origin", "--retry", "--log-level"):
        assert flag in p.stdout, f"{flag} missing from serve --help:\n{p.stdout}"


def test_unknown_subcommand_and_flag_fail():
    assert run_cli("frobnicate").returncode != 0
    assert run_cli("serve", "--no-such-flag").returncode != 0


def test_sigterm_stops_relay_with_open_streams(relay):
    r = relay(node_id=NODE)
    s = r.open_stream("42")
    r.proc.send_signal(signal.SIGTERM)
    r.wait_exit(10)
    s.wait_ended(5)
