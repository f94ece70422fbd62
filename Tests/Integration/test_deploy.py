"""The deploy kit in deploy/: the example configuration, the nginx example in front of real
relays, and the publisher examples in four languages, each against a real relay.

Tools: nginx (nginx-light), go (golang-go), java (JDK 17), curl. `Tests/run` installs them
through deploy/apt-packages.sh; when one is missing here the test installs it the same way
(Debian 12, root), and fails if it cannot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SSEStream, free_port, tcp_accepts, wait_until

DEPLOY = REPO_ROOT / "deploy"
EXAMPLE_CONFIG = DEPLOY / "config.example.yaml"
NGINX_EXAMPLE = DEPLOY / "nginx" / "sse-relay.conf"
PUBLISHERS = DEPLOY / "publishers"
README = REPO_ROOT / "README.md"

# An event published after a stream opened must come through nginx within this time: with
# proxy buffering on it would wait for 4-8 KiB of stream data or the end of the stream.
PROMPT = 2.0


def ensure_tool(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        subprocess.run(["bash", str(DEPLOY / "apt-packages.sh"), package], check=True, timeout=600)
        path = shutil.which(command)
    assert path, f"{command} not found even after installing {package}"
    return path


# --------------------------------------------------------------------------------------
# the example configuration


def example_keys() -> set[str]:
    """Every key the example names, set or commented out (`#key: value` lines count),
    as dotted paths from the indentation."""
    keys, stack = set(), []  # stack of (indent, name)
    for raw in EXAMPLE_CONFIG.read_text().splitlines():
        m = re.match(r"^(\s*)#?([a-z][a-z0-9-]*):(\s|$)", raw)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        keys.add(".".join([n for _, n in stack] + [name]))
        stack.append((indent, name))
    return keys


def readme_keys() -> set[str]:
    """The keys of the README's configuration and cluster tables (first column): the
    sections from "## Configuration" up to "## Metrics" (other tables, such as the
    benchmark's scenarios, have code-formatted first columns too)."""
    text = README.read_text()
    text = text[text.index("\n## Configuration"):text.index("\n## Metrics")]
    return set(re.findall(r"^\| `([a-z][a-z0-9.-]*)` \|", text, re.M))


def test_example_config_lists_every_key():
    documented = readme_keys() | {"drain.period", "log.format"}
    assert len(documented) >= 25, f"README tables not found: {sorted(documented)}"
    named = example_keys()
    missing = sorted(k for k in documented if k not in named)
    assert not missing, f"deploy/config.example.yaml does not mention {missing}"
    text = EXAMPLE_CONFIG.read_text()
    for key in documented:  # each with a "Default:" line in its comment block
        leaf = key.split(".")[-1]
        block = re.search(rf"((?:^\s*#(?!\s*{re.escape(leaf)}:).*\n)+)\s*#?{re.escape(leaf)}:", text, re.M)
        assert block and "Default:" in block.group(1), f"{key}: no comment with its default"


def test_example_config_is_accepted_as_is(relay):
    """The relay starts from the example file unchanged (listen address and socket
    overridden by flags, which win over the file), answers health, and stops cleanly."""
    r = relay("--config", str(EXAMPLE_CONFIG))
    health = r.health()
    assert health["status"] == "ok" and health["mode"] == "standalone", health
    s = r.open_stream("cfg")
    r.publish("cfg", "from the example config")
    assert s.next_event(timeout=5).data == "from the example config"
    r.stop()
    assert r.proc.returncode == 0, r.stderr_text()[-2000:]


# --------------------------------------------------------------------------------------
# nginx in front of two relays


def private_nginx_config(workdir: Path, port: int, upstreams: list[int]) -> Path:
    """deploy/nginx/sse-relay.conf with the TLS listeners replaced by plain HTTP on a
    loopback port, the upstream servers by the test's relays, and the port-80 redirect
    server dropped; every proxy setting is kept as it is."""
    text = NGINX_EXAMPLE.read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in upstreams)
    text, n = re.subn(r"(upstream sse_relay \{\n)(?:.*\n)*?(?=\n)", lambda m: m.group(1) + servers.rstrip("\n"),
                      text, count=1)
    assert n == 1, "no upstream block"
    text = re.sub(r"^\s*server 10\.0\.0\.\d+:8080.*\n", "", text, flags=re.M)
    text, n = re.subn(r"^\s*listen 443 ssl http2;\n", f"    listen 127.0.0.1:{port};\n", text, count=1, flags=re.M)
    assert n == 1, "no 'listen 443 ssl http2' line"
    text = re.sub(r"^\s*listen \[::\]:443 ssl http2;\n", "", text, flags=re.M)
    text = re.sub(r"^\s*ssl_\w+ .*\n", "", text, flags=re.M)
    text, n = re.subn(r"# Plain HTTP: redirect to HTTPS\.\nserver \{(?:.*\n)*?\}\n?", "", text)
    assert n == 1, "no redirect server block"
    site = workdir / "sse-relay.conf"
    site.write_text(text)
    main = workdir / "nginx.conf"
    main.write_text(f"""
daemon off;
master_process on;
worker_processes 1;
user root;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {site};
}}
""")
    return main


@pytest.fixture
def nginx_binary():
    return ensure_tool("nginx", "nginx-light")


@pytest.fixture
def proxied(relay, nginx_binary, tmpdir_short):
    """Two relays behind a real nginx running the example's proxy settings."""
    relays = [relay(), relay()]
    port = free_port()
    workdir = Path(tmpdir_short)
    conf = private_nginx_config(workdir, port, [r.port for r in relays])
    check = subprocess.run([nginx_binary, "-t", "-c", str(conf), "-p", str(workdir)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t:\n{check.stderr}\n{(workdir / 'sse-relay.conf').read_text()}"
    proc = subprocess.Popen([nginx_binary, "-c", str(conf), "-p", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: proc.poll() is None and tcp_accepts(port), 10,
                   message=lambda: f"nginx on port {port} ({(workdir / 'error.log').read_text() if (workdir / 'error.log').exists() else ''})")
        yield port, relays
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def open_proxied_stream(port: int, client: str, headers: dict | None = None) -> SSEStream:
    s = SSEStream(port, f"/events/{client}", {"Accept": "text/event-stream", **(headers or {})})
    assert s.status == 200, f"through nginx: HTTP {s.status} {s.body[:300]!r}"
    return s


def relay_holding(relays, client: str):
    """The relay nginx connected this client's stream to (it has a connection for it)."""
    def find():
        holders = [r for r in relays if r.client_info(client)["connections"]]
        return holders[0] if len(holders) == 1 else None
    return wait_until(find, 5, message=f"exactly one relay holding client {client}")


def test_nginx_example_passes_nginx_t(nginx_binary, tmpdir_short):
    """The example itself (TLS, HTTP/2, placeholder certificates swapped for a throwaway
    self-signed pair) is a valid nginx configuration."""
    workdir = Path(tmpdir_short)
    ensure_tool("openssl", "openssl")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=events.example.com", "-keyout", str(workdir / "key.pem"),
                    "-out", str(workdir / "cert.pem")], check=True, capture_output=True, timeout=60)
    site = NGINX_EXAMPLE.read_text()
    site = site.replace("/etc/ssl/certs/events.example.com.pem", str(workdir / "cert.pem"))
    site = site.replace("/etc/ssl/private/events.example.com.key", str(workdir / "key.pem"))
    (workdir / "site.conf").write_text(site)
    (workdir / "nginx.conf").write_text(
        f"pid {workdir}/nginx.pid; error_log {workdir}/error.log; events {{}}\n"
        f"http {{ access_log off; include {workdir}/site.conf; }}\n")
    check = subprocess.run([nginx_binary, "-t", "-c", str(workdir / "nginx.conf"), "-p", str(workdir)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    for needle in ("proxy_buffering off", "proxy_http_version 1.1", 'proxy_set_header Connection ""',
                   "keepalive ", "listen 443 ssl http2", "location /events/", "proxy_read_timeout"):
        assert needle in site, needle
    assert "/v1/" not in re.sub(r"#.*", "", site), "the publish API must not be proxied"


def test_events_come_through_nginx_promptly(proxied):
    port, relays = proxied
    for n in range(4):  # several streams: nginx spreads them over both relays
        client = f"px{n}"
        s = open_proxied_stream(port, client)
        assert s.headers.get("Content-Type", "").startswith("text/event-stream"), dict(s.headers)
        s.wait_raw(lambda raw: b"sse-relay stream open" in raw, 5, "the stream's first bytes through nginx")
        holder = relay_holding(relays, client)
        sent = time.monotonic()
        report = holder.publish(client, f"prompt {n}").json()
        assert report["delivered"] == 1, report
        event = s.next_event(timeout=PROMPT)
        assert (event.data, event.id) == (f"prompt {n}", report["id"]), (event.data, event.id)
        assert time.monotonic() - sent < PROMPT
        s.close()


def test_last_event_id_replay_through_nginx(proxied):
    port, relays = proxied
    s = open_proxied_stream(port, "rp")
    holder = relay_holding(relays, "rp")
    first = holder.publish("rp", "one").json()
    assert s.next_event(timeout=PROMPT).data == "one"
    s.close()
    wait_until(lambda: not holder.client_info("rp")["connections"], 5, message="stream rp closed")
    missed = [holder.publish("rp", text).json()["id"] for text in ("two", "three")]

    # Standalone relays keep their own history: reconnect until nginx picks the same relay
    # (round robin over two), as `hash $sse_client_id` would do every time.
    for _ in range(4):
        again = open_proxied_stream(port, "rp", {"Last-Event-ID": first["id"]})
        if relay_holding(relays, "rp") is holder:
            break
        again.close()
        wait_until(lambda: not any(r.client_info("rp")["connections"] for r in relays), 5,
                   message="stream rp closed")
    else:
        pytest.fail("nginx never routed the reconnect to the relay holding the history")
    events = again.next_events(2, timeout=PROMPT)
    assert [(e.id, e.data) for e in events] == list(zip(missed, ("two", "three")))
    again.close()


# --------------------------------------------------------------------------------------
# publisher examples


def publisher_commands(tmp: Path) -> dict[str, tuple[list[str], dict]]:
    env = dict(os.environ)
    go_env = {**env, "GOCACHE": str(tmp / "gocache"), "GOPATH": str(tmp / "gopath"),
              "GO111MODULE": "off", "GOFLAGS": "", "GOTOOLCHAIN": "local"}
    return {
        "curl": (["bash", str(PUBLISHERS / "curl" / "publish.sh")], env),
        "python": (["python3", str(PUBLISHERS / "python" / "publish.py")], env),
        "java": (["java", str(PUBLISHERS / "java" / "Publish.java")], env),
        "go": (["go", "run", str(PUBLISHERS / "go" / "publish.go")], go_env),
    }


TOOLS = {"curl": ("curl", "curl"), "python": ("python3", "python3"), "java": ("java", "openjdk-17-jdk-headless"),
         "go": ("go", "golang-go")}


@pytest.mark.parametrize("language", ["curl", "python", "java", "go"])
def test_publisher_example(language, relay, tmp_path):
    ensure_tool(*TOOLS[language])
    command, env = publisher_commands(tmp_path)[language]
    r = relay()
    client = f"pub-{language}"
    s = r.open_stream(client)
    data = f'hello from {language}: "quoted" ünïcode'

    result = subprocess.run([*command, r.socket_path, client, data, f"{language}-event"],
                            capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["client"] == client and report["delivered"] == 1, report
    event = s.next_event(timeout=5)
    assert (event.id, event.event, event.data) == (report["id"], f"{language}-event", data)

    # An error status (no such client connected) is a non-zero exit, the report still printed.
    result = subprocess.run([*command, r.socket_path, "nobody-here", "x"],
                            capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1])["error"]["code"] == "client_not_connected"


# --------------------------------------------------------------------------------------
# deploy/install.sh into a root directory (what a container image build does)


def test_install_into_root_is_idempotent(tmp_path):
    from conftest import RELAY_BIN
    if os.geteuid() != 0:
        pytest.skip("install.sh runs as root")
    ensure_tool("systemd-sysusers", "systemd")
    root = tmp_path / "root"
    root.mkdir()
    command = ["bash", str(DEPLOY / "install.sh"), "--root", str(root), "--binary", RELAY_BIN]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, f"{first.stdout}\n{first.stderr}"

    binary = root / "usr/local/bin/sse-relay"
    assert binary.read_bytes() == Path(RELAY_BIN).read_bytes() and os.access(binary, os.X_OK)
    for unit in ("sse-relay.service", "sse-relay-http.socket", "sse-relay-publish.socket", "sse-relay-metrics.socket"):
        assert (root / "etc/systemd/system" / unit).read_text() == (REPO_ROOT / "systemd" / unit).read_text()
    assert (root / "etc/systemd/system/sockets.target.wants/sse-relay-http.socket").is_symlink()
    assert (root / "etc/systemd/system/sockets.target.wants/sse-relay-publish.socket").is_symlink()
    assert (root / "etc/systemd/system/sockets.target.wants/sse-relay-metrics.socket").is_symlink()
    assert (root / "etc/systemd/system/multi-user.target.wants/sse-relay.service").is_symlink()
    assert (root / "etc/sysusers.d/sse-relay.conf").exists() and (root / "etc/tmpfiles.d/sse-relay.conf").exists()
    groups = {line.split(":")[0]: int(line.split(":")[2]) for line in (root / "etc/group").read_text().splitlines()}
    assert "sse-relay" in groups and "sse-relay-publishers" in groups
    assert any(line.startswith("sse-relay:") for line in (root / "etc/passwd").read_text().splitlines())
    config = root / "etc/sse-relay/config.yaml"
    assert config.read_text() == EXAMPLE_CONFIG.read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o640" and config.stat().st_gid == groups["sse-relay"]

    # Again, after the operator edited the configuration: it is kept, nothing fails.
    config.write_text(EXAMPLE_CONFIG.read_text() + "# edited\n")
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, f"{second.stdout}\n{second.stderr}"
    assert config.read_text().endswith("# edited\n")
    assert "keeping the existing" in second.stdout
    assert (root / "etc/passwd").read_text().count("sse-relay:") == 1


def test_install_rejects_bad_arguments(tmp_path):
    result = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--root", str(tmp_path / "missing"),
                             "--binary", "/nonexistent"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "not a directory" in result.stderr, result.stderr
    result = subprocess.run(["bash", str(DEPLOY / "install.sh"), "--bogus"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "unknown argument" in result.stderr, result.stderr
