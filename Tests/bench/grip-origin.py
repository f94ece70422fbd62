#!/usr/bin/env python3
"""The GRIP origin behind Pushpin in the benchmark: every GET /events/ID[?topic=T] is answered with
an SSE response that Pushpin holds open as a stream subscribed to channel ID (and T), so each
client id is a channel, as with the relay. The body is a `retry:` line, which also gives the load
generator the first bytes it counts as "established".

    grip-origin.py PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlsplit(self.path)
        if not url.path.startswith("/events/") or len(url.path) <= len("/events/"):
            self.send_error(404)
            return
        channels = [url.path[len("/events/"):]] + parse_qs(url.query).get("topic", [])
        body = b"retry: 2000\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Grip-Hold", "stream")
        self.send_header("Grip-Channel", ", ".join(channels))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
