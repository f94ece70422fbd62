"""Private redis-server and rabbitmq-server instances for the cluster tests.

Each runs on its own free loopback port with its state in a private directory, started and
stopped through Tests/servers/*.sh (the same scripts Tests/run uses), so tests can stop and
restart them to show what an outage does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from conftest import free_port, tcp_accepts, wait_until

SERVERS = Path(__file__).resolve().parents[1] / "servers"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class Server:
    script = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"ssr-{self.script}-", dir="/tmp")

    def _run(self, action: str, timeout: float = 90) -> None:
        result = subprocess.run(["bash", str(SERVERS / f"{self.script}.sh"), action, str(self.port), self.dir],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"{self.script}.sh {action} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> "Server":
        self._run("start")
        return self

    def stop(self) -> None:
        self._run("stop")
        wait_until(lambda: not tcp_accepts(self.port), 30, message=f"{self.script} on {self.port} to stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Redis(Server):
    script = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                              text=True, timeout=10).stdout.strip()


class RabbitMQ(Server):
    script = "rabbitmq"

    def __init__(self) -> None:
        super().__init__()
        self._pick_port()

    def _pick_port(self) -> None:
        # The distribution port is PORT+20000: it must be in range and free too, on every
        # address (Erlang binds it on all of them).
        self.port = free_port()
        while self.port > 45000 or not port_is_free(self.port + 20000, "0.0.0.0"):
            self.port = free_port()

    def start(self) -> "RabbitMQ":
        # PORT+20000 is in the kernel's ephemeral range: a client connection elsewhere on the
        # machine can take it between the check above and the broker's bind. Another pair
        # of ports then; anything else is a real failure.
        for attempt in range(3):
            try:
                self._run("start")
                return self
            except AssertionError as error:
                if "dist_port_already_used" not in str(error) or attempt == 2:
                    raise
                self._pick_port()
        return self

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str) -> str:
        """rabbitmqctl against this node (the node name rabbitmq.sh gives it)."""
        result = subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-q", "-n", f"sse-relay-test-{self.port}@localhost", *args],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout
