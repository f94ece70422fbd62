"""Cluster credentials: a Redis ACL user with a password (in the URL, or from a file as
systemd's LoadCredential= provides it), and secrets that never reach the logs."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from conftest import free_port, wait_until
from servers import RabbitMQ


@pytest.fixture
def secured_redis(tmp_path):
    port = free_port()
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
                    "--dir", str(tmp_path), "--pidfile", f"{tmp_path}/r.pid", "--logfile", f"{tmp_path}/r.log",
                    "--save", "", "--appendonly", "no", "--requirepass", "admin-pw"], check=True, timeout=10)
    cli = ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", "admin-pw"]
    wait_until(lambda: subprocess.run([*cli, "PING"], capture_output=True, text=True).stdout.strip() == "PONG", 10,
               message="redis up")
    subprocess.run([*cli, "ACL", "SETUSER", "relay", "on", ">s3cret-relay", "~*", "+@all"], check=True, timeout=10)
    yield port
    subprocess.run([*cli, "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def broker():
    server = RabbitMQ().start()
    yield server
    server.cleanup()


def test_acl_user_from_url_and_from_a_credentials_file(relay, secured_redis, broker, tmp_path):
    prefix = f"auth{uuid.uuid4().hex[:6]}:"
    common = ["--amqp", broker.url, "--redis-key-prefix", prefix, "--heartbeat", "300ms"]
    a = relay("--redis", f"redis://relay:s3cret-relay@127.0.0.1:{secured_redis}/0", *common,
              node_id=f"a-{prefix[:-1]}")
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "redis-password").write_text("s3cret-relay\n")
    b = relay("--redis", f"redis://relay@127.0.0.1:{secured_redis}/0", *common, node_id=f"b-{prefix[:-1]}",
              env={"SSE_RELAY_REDIS_PASSWORD_FILE": "redis-password", "CREDENTIALS_DIRECTORY": str(credentials)})
    stream = a.open_stream("ann")
    wait_until(lambda: b.publish("ann", "probe").json().get("forwarded"), 5, message="ann routed to a")
    while stream.next_event(timeout=5).data != "probe":
        pass
    for node in (a, b):
        assert "s3cret" not in node.stderr_text()


def test_wrong_password_stops_start_up_with_a_clear_error(relay, secured_redis, broker):
    r = relay("--redis", f"redis://relay:wrong-pw@127.0.0.1:{secured_redis}/0", "--amqp", broker.url,
              "--startup-timeout", "2s", node_id="nope", wait_ready=False)
    code = r.wait_exit(20)
    assert code != 0
    err = r.stderr_text()
    assert "Redis" in err and "wrong-pw" not in err, err[-2000:]
    assert "WRONGPASS" in err or "refused the login" in err, "the reason is given"
