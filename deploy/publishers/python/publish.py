#!/usr/bin/env python3
"""Publishes one event to an sse-relay client over the relay's Unix socket.

Standard library only: http.client with a connect() that opens an AF_UNIX socket.

    python3 publish.py SOCKET CLIENT_ID DATA [EVENT_NAME]
    python3 publish.py /run/sse-relay/publish.sock 42 'hello'

Prints the relay's JSON delivery report; exits 1 on an error status (4xx/5xx, e.g. 404
client_not_connected, whose report still says the event was kept for replay), 2 on usage
or connection errors.
"""

import http.client
import json
import socket
import sys
import urllib.parse


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float = 10.0):
        super().__init__("localhost", timeout=timeout)  # the Host header; no TCP
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def publish(socket_path: str, client_id: str, data: str, event: str | None = None) -> tuple[int, str]:
    body = {"data": data}
    if event:
        body["event"] = event
    conn = UnixHTTPConnection(socket_path)
    try:
        conn.request("POST", "/v1/clients/" + urllib.parse.quote(client_id, safe="") + "/events",
                     body=json.dumps(body).encode("utf-8"),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(f"usage: {argv[0]} SOCKET CLIENT_ID DATA [EVENT_NAME]", file=sys.stderr)
        return 2
    try:
        status, report = publish(argv[1], argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    except OSError as error:
        print(f"publish: cannot reach {argv[1]}: {error}", file=sys.stderr)
        return 2
    print(report)
    if status >= 400:
        print(f"publish: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
