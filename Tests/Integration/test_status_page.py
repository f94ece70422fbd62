"""The status page in a real browser: headless Chromium, driven over the DevTools protocol
(``websocket-client``), follows a burst of connections and events through the page's own
SSE feed. A screenshot is kept under Tests/Integration/artifacts/."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest
import websocket

from conftest import TESTS_DIR, free_port, wait_until

ARTIFACTS = TESTS_DIR / "artifacts"


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no chromium binary (Tests/run installs Debian's chromium package)")


class DevTools:
    """Just enough of the Chrome DevTools protocol: one page, commands by id."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=20)
        self.next_id = 0

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    def text(self, element_id: str) -> str:
        result = self.call("Runtime.evaluate", returnByValue=True,
                           expression=f"(document.getElementById({element_id!r}) || {{}}).textContent || ''")
        return result["result"].get("value", "")

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close()


@pytest.fixture
def browser():
    profile = tempfile.mkdtemp(prefix="ssr-chromium-", dir="/tmp")
    port = free_port()
    proc = subprocess.Popen(
        [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
         "--window-size=1280,900", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def page_socket():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        return pages[0]["webSocketDebuggerUrl"] if pages else None

    try:
        devtools = DevTools(wait_until(page_socket, 30, message="chromium's DevTools endpoint"))
        yield devtools
        devtools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def test_status_page_follows_a_burst(relay, browser):
    r = relay("--node-id", "page-node")
    browser.call("Page.enable")
    browser.call("Page.navigate", url=f"http://127.0.0.1:{r.metrics_port}/status")
    wait_until(lambda: browser.text("ready") == "ready" and browser.text("node") == "page-node", 15,
               message=lambda: f"the page live (ready={browser.text('ready')!r})")
    assert browser.text("connections") == "0"

    streams = [r.open_stream(f"viewer{i}", topics=["burst"]) for i in range(12)]
    for i in range(40):
        assert r.publish_topic("burst", f"event {i}").status == 200
    for s in streams:
        assert len(s.next_events(40, timeout=10)) == 40

    def follows():
        return (browser.text("connections") == "12" and browser.text("published-total") == "40"
                and browser.text("delivered-total") == str(12 * 40) and browser.text("connects-total") == "12")
    wait_until(follows, 10, message=lambda: "page numbers: " + ", ".join(
        f"{k}={browser.text(k)!r}" for k in ("connections", "published-total", "delivered-total", "connects-total")))

    # Kick a few: the disconnect table shows them.
    for i in range(3):
        r.request("DELETE", f"/v1/clients/viewer{i}")
    wait_until(lambda: browser.text("connections") == "9", 10, message="connections 9 after kicks")
    wait_until(lambda: "kicked33" in browser.text("closes").replace(" ", ""), 10,
               message=lambda: f"closes table: {browser.text('closes')!r}")

    ARTIFACTS.mkdir(exist_ok=True)
    shot = browser.call("Page.captureScreenshot", format="png")
    path = ARTIFACTS / "status-page.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"status page screenshot: {path}")
    for s in streams:
        s.close()
