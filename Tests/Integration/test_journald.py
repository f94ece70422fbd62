"""`--log-format journald`: native journal entries with structured fields, end to end.

A private `systemd-journald` runs inside a private mount namespace (tmpfs over `/run` and
`/var/log/journal`, so the host's journal is never touched and nothing is left behind);
the real `sse-relay` is exec'ed in the same namespace, so libsystemd's
`/run/systemd/journal/socket` is that journald. A client opens `GET /events/42` and goes
away; the entries are read back with `journalctl -o json` run in the namespace (nsenter).

Contract (RelaySystemd's JournaldLogHandler, wired by RelayApp):
`sse-relay serve --listen 127.0.0.1:PORT --publish-socket PATH --log-format journald` logs
"stream opened" (info) with SSE_CLIENT_ID and SSE_PEER when a client connects, and
"stream closed" with SSE_REASON (e.g. client_gone) when it leaves; SYSLOG_IDENTIFIER is
sse-relay.

Needs root, util-linux (unshare, nsenter) and systemd's journald and journalctl. The relay is
started here rather than with the `relay` fixture because it must run inside the namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import (READY_TIMEOUT, RELAY_BIN, STOP_TIMEOUT, SSEStream, UnixHTTPConnection,
                      free_port, run_cli, wait_until)

JOURNALD = "/lib/systemd/systemd-journald"

# Runs as `bash -c NAMESPACE_SETUP bash RELAY_ARGS...` inside `unshare -m`: mounts the
# journal's directories privately, starts journald, waits for its socket, then becomes the
# relay (same pid, so the test can signal it and nsenter its namespace).
NAMESPACE_SETUP = r"""
set -eu
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=2755 tmpfs /var/log/journal; fi
"$JOURNALD" >"$WORKDIR/journald.log" 2>&1 &
echo $! >"$WORKDIR/journald.pid"
for _ in $(seq 400); do
    [ -S /run/systemd/journal/socket ] && break
    sleep 0.025
done
if [ ! -S /run/systemd/journal/socket ]; then
    echo "journald did not create its socket" >&2
    exit 70
fi
exec "$RELAY_BIN" "$@"
"""


def _require_environment() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    for tool in ("unshare", "nsenter", "journalctl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    if not os.access(JOURNALD, os.X_OK):
        pytest.skip(f"{JOURNALD} not installed")
    if not os.path.exists(RELAY_BIN):
        pytest.fail(f"sse-relay binary not found at {RELAY_BIN} (set SSE_RELAY_BIN)")
    helped = run_cli("serve", "--help")
    if "--log-format" not in helped.stdout + helped.stderr:
        pytest.skip("this sse-relay build has no --log-format flag yet")


class NamespacedRelay:
    """`sse-relay serve ... --log-format journald` with its own journald in a private
    mount namespace."""

    def __init__(self, workdir: str, *flags: str):
        self.workdir = workdir
        self.port = free_port()
        self.socket_path = os.path.join(workdir, "publish.sock")
        self.args = ["serve", "--listen", f"127.0.0.1:{self.port}",
                     "--publish-socket", self.socket_path, "--log-format", "journald",
                     "--metrics-listen", f"127.0.0.1:{free_port()}", *flags]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SSE_RELAY_") and k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
        env.update(WORKDIR=workdir, RELAY_BIN=RELAY_BIN, JOURNALD=JOURNALD)
        self._stderr = open(os.path.join(workdir, "relay.stderr"), "wb")
        # unshare(1) without --fork execs bash in place, and bash execs the relay: one pid.
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "bash", "-c", NAMESPACE_SETUP,
             "bash", *self.args],
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr, env=env,
            cwd=workdir)

    def text(self, name: str) -> str:
        with contextlib.suppress(OSError), open(os.path.join(self.workdir, name), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]
        return ""

    def diagnostics(self) -> str:
        return (f"args={self.args}\nrelay stderr:\n{self.text('relay.stderr')}\n"
                f"journald:\n{self.text('journald.log')}")

    def health_ok(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"relay exited with {self.proc.returncode}\n{self.diagnostics()}")
        conn = UnixHTTPConnection(self.socket_path, timeout=2.0)
        try:
            conn.request("GET", "/v1/health")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def wait_ready(self) -> None:
        wait_until(self.health_ok, READY_TIMEOUT, message=lambda: f"relay health\n{self.diagnostics()}")

    def journal(self, *matches: str) -> list[dict]:
        """Entries matching `FIELD=value` terms, read by journalctl inside the namespace."""
        out = subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m",
             "journalctl", "-o", "json", "--no-pager", "--all", *matches],
            capture_output=True, text=True, timeout=30)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        # journald outlives the exec'ed relay (it was bash's child): stop it by its pid.
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(self.workdir, "journald.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        self._stderr.close()


def field(entry: dict, name: str) -> list[str]:
    """A field's values: journalctl prints one value as a string, repeated fields as a list,
    and non-UTF-8 values as byte arrays."""
    value = entry.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list) and (not value or not isinstance(value[0], int)) else [value]
    return [bytes(v).decode("utf-8", "replace") if isinstance(v, list) else str(v) for v in values]


@pytest.fixture
def journald_relay(tmpdir_short):
    _require_environment()
    relay = NamespacedRelay(tmpdir_short)
    try:
        relay.wait_ready()
        yield relay
    finally:
        relay.stop()


def test_stream_lifecycle_is_logged_with_fields(journald_relay):
    relay = journald_relay
    stream = SSEStream(relay.port, "/events/42")
    try:
        assert stream.status == 200, stream.body
        peer_port = stream.local_port

        def opened():
            return [e for e in relay.journal("SSE_CLIENT_ID=42")
                    if any("stream opened" in m for m in field(e, "MESSAGE"))]

        entries = wait_until(opened, 10.0, message=lambda: f"'stream opened' in the journal\n"
                                                            f"{relay.journal()[-20:]}\n{relay.diagnostics()}")
    finally:
        stream.close()
    entry = entries[-1]
    assert field(entry, "PRIORITY") == ["6"], entry
    assert field(entry, "SYSLOG_IDENTIFIER") == ["sse-relay"], entry
    assert field(entry, "SSE_CLIENT_ID") == ["42"], entry
    peers = field(entry, "SSE_PEER")
    assert peers and "127.0.0.1" in peers[0] and str(peer_port) in peers[0], entry
    assert field(entry, "CODE_FILE") and field(entry, "CODE_LINE"), entry
    # journald's own trusted fields prove a native entry from the relay's pid, not a line
    # from a stderr stream.
    assert field(entry, "_PID") == [str(relay.proc.pid)], entry
    assert field(entry, "_TRANSPORT") == ["journal"], entry

    def closed():
        return [e for e in relay.journal("SSE_CLIENT_ID=42")
                if any("stream closed" in m for m in field(e, "MESSAGE"))]

    entries = wait_until(closed, 10.0, message=lambda: f"'stream closed' in the journal\n"
                                                        f"{relay.journal()[-20:]}\n{relay.diagnostics()}")
    reasons = field(entries[-1], "SSE_REASON")
    assert reasons and reasons[0], entries[-1]
    assert reasons == ["client_gone"], entries[-1]
