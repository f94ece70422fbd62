"""Configuration: flags > environment > file > defaults; invalid values; the publish socket file."""

import json
import os
import socket
import stat
import time

import pytest

from conftest import free_port, tcp_accepts, wait_until


def _keep_alive_seen(stream, within):
    """True when a comment arrives after the first bytes within ``within`` seconds."""
    base = len(stream.preamble()["comments"])
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if len(stream.comment_lines()) > base:
            return True
        time.sleep(0.02)
    return False


def _socket_mode(path):
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode), f"{path} is not a socket"
    return stat.S_IMODE(st.st_mode)


# -- the socket file ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["0600", "0640", "0666"])
def test_socket_mode_flag(relay, mode):
    r = relay("--socket-mode", mode)
    assert _socket_mode(r.socket_path) == int(mode, 8), oct(_socket_mode(r.socket_path))


def test_defaults(relay):
    r = relay()
    assert _socket_mode(r.socket_path) == 0o660, oct(_socket_mode(r.socket_path))
    h = r.health()
    assert h["status"] == "ok" and h["mode"] == "standalone" and h["node"], h
    s = r.open_stream("d")
    assert s.preamble()["retry"] == ["2000"], s.raw()[:200]
    ok = r.publish("d", "m" * 65536)
    assert ok.status == 200, ok
    assert s.next_event().data == "m" * 65536
    r.publish("d", "m" * 65537).assert_error(413, "event_too_large")


def test_stale_socket_file_is_replaced(relay, tmpdir_short):
    path = os.path.join(tmpdir_short, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # leaves the file behind, nobody listening
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    r = relay(socket_path=path)
    assert r.health()["status"] == "ok"
    st = r.open_stream("x")
    assert r.publish("x", "works").status == 200
    assert st.next_event().data == "works"


def test_second_relay_on_live_socket_exits_and_first_keeps_working(relay):
    first = relay(node_id="first")
    s = first.open_stream("x")
    second = relay(socket_path=first.socket_path, node_id="second", wait_ready=False)
    code = second.wait_exit(15)
    assert code != 0, "the second relay took over a live socket"
    err = second.stderr_text()
    assert first.socket_path in err or "in use" in err.lower() or "already" in err.lower(), err
    assert not tcp_accepts(second.port)
    # the first relay still owns the path and works
    assert os.path.exists(first.socket_path)
    assert first.health()["node"] == "first"
    assert first.publish("x", "still mine").status == 200
    assert s.next_event().data == "still mine"


# -- config files and environment -------------------------------------------------------------


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def test_json_config_file(relay, tmpdir_short):
    port = free_port()
    sock = os.path.join(tmpdir_short, "p.sock")
    cfg = _write(os.path.join(tmpdir_short, "relay.json"), json.dumps({
        "listen": f"127.0.0.1:{port}",
        "publish": {"socket": sock, "socket-mode": "0600"},
        "node-id": "json-node",
        "stream": {"keep-alive": "200ms", "retry": "1234ms", "max-lifetime": "1h", "buffer-limit": "128KiB"},
        "history": {"size": 2, "age": "5m"},
        "events": {"max-size": "1KiB"},
        "cors": {"allow-origin": "https://app.example"},
        "log": {"level": "info"},
    }))
    r = relay("--config", cfg, default_listen=False, default_socket=False, port=port, socket_path=sock)
    assert r.health()["node"] == "json-node"
    assert _socket_mode(sock) == 0o600
    s = r.open_stream("c", headers={"Origin": "https://app.example"})
    assert s.headers.get("Access-Control-Allow-Origin") == "https://app.example"
    assert s.preamble()["retry"] == ["1234"]
    assert _keep_alive_seen(s, 1.5), "stream.keep-alive from the file not applied"
    r.publish("c", "z" * 1025).assert_error(413, "event_too_large")
    # history.size 2: missing 3 events means a reset
    assert r.publish("c", "e0").status == 200
    e0 = s.next_event()
    s.close()
    wait_until(lambda: r.connection_count("c") == 0, 5, message="connection dropped")
    for i in range(3):
        r.publish("c", f"m{i}")
    s2 = r.open_stream("c", last_event_id=e0.id)
    assert s2.next_event().event == "sse-relay.reset"


def test_yaml_config_file(relay, tmpdir_short):
    port = free_port()
    sock = os.path.join(tmpdir_short, "p.sock")
    cfg = _write(os.path.join(tmpdir_short, "relay.yaml"), f"""\
# sse-relay configuration
listen: "127.0.0.1:{port}"
publish:
  socket: "{sock}"
  socket-mode: "0640"
node-id: yaml-node
stream:
  keep-alive: 200ms
  retry: 4321ms
history:
  size: 50
events:
  max-size: 2KiB
""")
    r = relay("--config", cfg, default_listen=False, default_socket=False, port=port, socket_path=sock)
    assert r.health()["node"] == "yaml-node"
    assert _socket_mode(sock) == 0o640
    s = r.open_stream("c")
    assert s.preamble()["retry"] == ["4321"]
    assert _keep_alive_seen(s, 1.5), "stream.keep-alive from the YAML file not applied"
    assert r.publish("c", "z" * 2048).status == 200
    r.publish("c", "z" * 2049).assert_error(413, "event_too_large")


def test_environment_variables(relay, tmpdir_short):
    port = free_port()
    sock = os.path.join(tmpdir_short, "env.sock")
    env = {
        "SSE_RELAY_LISTEN": f"127.0.0.1:{port}",
        "SSE_RELAY_PUBLISH_SOCKET": sock,
        "SSE_RELAY_PUBLISH_SOCKET_MODE": "0600",
        "SSE_RELAY_NODE_ID": "env-node",
        "SSE_RELAY_STREAM_KEEP_ALIVE": "200ms",
        "SSE_RELAY_STREAM_RETRY": "777ms",
        "SSE_RELAY_EVENTS_MAX_SIZE": "1KiB",
        "SSE_RELAY_CORS_ALLOW_ORIGIN": "https://env.example",
    }
    r = relay(env=env, default_listen=False, default_socket=False, port=port, socket_path=sock)
    assert r.health()["node"] == "env-node"
    assert _socket_mode(sock) == 0o600
    s = r.open_stream("c", headers={"Origin": "https://env.example"})
    assert s.preamble()["retry"] == ["777"]
    assert s.headers.get("Access-Control-Allow-Origin") == "https://env.example"
    assert _keep_alive_seen(s, 1.5), "SSE_RELAY_STREAM_KEEP_ALIVE not applied"
    r.publish("c", "z" * 1025).assert_error(413, "event_too_large")


@pytest.mark.parametrize("layers, expected", [
    (("file",), "from-file"),
    (("file", "env"), "from-env"),
    (("file", "env", "flag"), "from-flag"),
    (("env", "flag"), "from-flag"),
])
def test_precedence_flags_env_file(relay, tmpdir_short, layers, expected):
    file_port, env_port, flag_port = free_port(), free_port(), free_port()
    sock = os.path.join(tmpdir_short, "p.sock")
    args, env = [], {}
    if "file" in layers:
        cfg = _write(os.path.join(tmpdir_short, "c.json"), json.dumps({
            "listen": f"127.0.0.1:{file_port}", "publish": {"socket": sock},
            "node-id": "from-file", "stream": {"retry": "1111ms"}}))
        args += ["--config", cfg]
    if "env" in layers:
        env = {"SSE_RELAY_LISTEN": f"127.0.0.1:{env_port}", "SSE_RELAY_NODE_ID": "from-env",
               "SSE_RELAY_STREAM_RETRY": "2222ms", "SSE_RELAY_PUBLISH_SOCKET": sock}
    if "flag" in layers:
        args += ["--listen", f"127.0.0.1:{flag_port}", "--node-id", "from-flag", "--retry", "3333ms"]
    port = {"file": file_port, "env": env_port, "flag": flag_port}[layers[-1]]
    r = relay(*args, env=env, default_listen=False, default_socket=False, port=port, socket_path=sock)
    assert r.health()["node"] == expected
    for other in {file_port, env_port, flag_port} - {port}:
        assert not tcp_accepts(other), f"relay also listens on a lower-precedence port {other}"
    s = r.open_stream("c")
    retry = {"file": "1111", "env": "2222", "flag": "3333"}[layers[-1]]
    assert s.preamble()["retry"] == [retry]


def test_flag_overrides_env_for_nested_key(relay):
    r = relay("--keep-alive", "1h", env={"SSE_RELAY_STREAM_KEEP_ALIVE": "100ms"})
    s = r.open_stream("c")
    assert not _keep_alive_seen(s, 1.0), "env keep-alive (100ms) won over the --keep-alive 1h flag"


# -- invalid configuration ---------------------------------------------------------------------


INVALID = [
    # id, flags, env, file (json text or None), key expected in stderr
    ("keep-alive", ["--keep-alive", "banana"], {}, None, "stream.keep-alive"),
    ("max-lifetime", ["--max-lifetime", "x1h"], {}, None, "stream.max-lifetime"),
    ("retry", ["--retry", "soon"], {}, None, "stream.retry"),
    ("buffer-limit", ["--buffer-limit", "12XB"], {}, None, "stream.buffer-limit"),
    ("history-size", ["--history-size", "lots"], {}, None, "history.size"),
    ("history-age", ["--history-age", "forever"], {}, None, "history.age"),
    ("max-event-size", ["--max-event-size", "big"], {}, None, "events.max-size"),
    ("socket-mode", ["--socket-mode", "0999"], {}, None, "publish.socket-mode"),
    ("log-level", ["--log-level", "loud"], {}, None, "log.level"),
    ("env-keep-alive", [], {"SSE_RELAY_STREAM_KEEP_ALIVE": "soon"}, None, "stream.keep-alive"),
    ("env-history-size", [], {"SSE_RELAY_HISTORY_SIZE": "many"}, None, "history.size"),
    ("file-keep-alive", [], {}, '{"stream": {"keep-alive": "zzz"}}', "stream.keep-alive"),
    ("file-history-size", [], {}, '{"history": {"size": "many"}}', "history.size"),
    ("file-buffer-limit", [], {}, '{"stream": {"buffer-limit": "lots"}}', "stream.buffer-limit"),
]


@pytest.mark.parametrize("flags, env, file_text, key", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_configuration_exits_before_binding(relay, tmpdir_short, flags, env, file_text, key):
    port = free_port()
    sock = os.path.join(tmpdir_short, "p.sock")
    args = list(flags)
    if file_text is not None:
        args += ["--config", _write(os.path.join(tmpdir_short, "bad.json"), file_text)]
    r = relay(*args, env=env, port=port, socket_path=sock, wait_ready=False)
    code = r.wait_exit(15)
    err = r.stderr_text()
    assert code != 0, f"relay accepted invalid configuration; stderr:\n{err}"
    assert key in err, f"stderr does not name {key!r}:\n{err}"
    assert not os.path.exists(sock), "the publish socket was created before the configuration was checked"
    assert not tcp_accepts(port)


def test_invalid_listen_address(relay, tmpdir_short):
    sock = os.path.join(tmpdir_short, "p.sock")
    r = relay("--listen", "not-an-address", default_listen=False, socket_path=sock, wait_ready=False)
    assert r.wait_exit(15) != 0
    assert "listen" in r.stderr_text().replace("--listen", ""), r.stderr_text()
    assert not os.path.exists(sock)


@pytest.mark.parametrize("kind", ["malformed-json", "malformed-yaml", "missing"])
def test_unusable_config_file(relay, tmpdir_short, kind):
    if kind == "malformed-json":
        path = _write(os.path.join(tmpdir_short, "broken.json"), '{"listen": "127.0.0.1:1", ')
    elif kind == "malformed-yaml":
        path = _write(os.path.join(tmpdir_short, "broken.yaml"), "stream:\n  keep-alive: [1, 2\n  : :\n")
    else:
        path = os.path.join(tmpdir_short, "does-not-exist.json")
    r = relay("--config", path, wait_ready=False)
    assert r.wait_exit(15) != 0
    assert os.path.basename(path) in r.stderr_text(), r.stderr_text()
