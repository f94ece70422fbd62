#!/usr/bin/env python3
"""Long fuzzing runs against a fresh sse-relay (see relayfuzz.py for what is checked).

    Tests/fuzz/fuzz_relay.py --binary .build/debug/sse-relay --seconds 600 [--seed N]

Exits non-zero on the first failure, printing the seed that reproduces it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import relayfuzz


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("SSE_RELAY_BIN", ".build/debug/sse-relay"))
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rss-bound-mib", type=int, default=96)
    parser.add_argument("--request-timeout", default="2s")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    workdir = tempfile.mkdtemp(prefix="ssr-fuzz-", dir="/tmp")
    port = free_port()
    sock = os.path.join(workdir, "publish.sock")
    config = os.path.join(workdir, "fuzz.json")
    with open(config, "w") as f:
        json.dump({"publish": {"request-timeout": args.request_timeout}, "http": {"request-timeout": args.request_timeout}}, f)
    stderr = open(os.path.join(workdir, "relay.stderr"), "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_RELAY_")}
    proc = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--publish-socket", sock,
                             "--max-body-size", "1MiB", "--config", config, "--log-level", "warning"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                print(open(stderr.name).read()[-3000:], file=sys.stderr)
                return 2
            time.sleep(0.05)
        print(f"fuzzing pid {proc.pid} for {args.seconds:.0f}s with seed {seed}", flush=True)
        fuzzer = relayfuzz.Fuzzer(sock, port, proc.pid, seed, args.seconds, rss_bound_mib=args.rss_bound_mib,
                                  trickle_limit=8.0)
        try:
            fuzzer.run()
        except relayfuzz.FuzzFailure as failure:
            print(f"FAILED: {failure}", file=sys.stderr)
            print(f"relay stderr tail ({stderr.name}):\n" + open(stderr.name, errors="replace").read()[-3000:], file=sys.stderr)
            return 1
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        stderr.close()
        if proc.returncode in (0, -signal.SIGTERM):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
