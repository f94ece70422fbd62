#!/usr/bin/env python3
"""Auth cost: streams accepted per second with JWT verification on vs off.

Starts the relay twice (auth.mode none, then jwt with an HS256 or ES256 key), opens N
streams from T threads (distinct client ids, tokens signed beforehand so only the relay's
work is timed), counting a stream as accepted when its 200 head has arrived, and prints
connections/s for each. Needs PyJWT[crypto] (Tests/Integration/requirements.txt).

    SSE_RELAY_BIN=.build/debug/sse-relay python3 Tests/auth-bench/connect_rate.py -n 2000 -t 8
"""

import argparse
import os
import socket
import subprocess
import tempfile
import threading
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, workdir, env_extra):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSE_RELAY_")}
    env.update(env_extra)
    env["SSE_RELAY_LOG_LEVEL"] = "warning"
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--publish-socket",
                             os.path.join(workdir, f"p{port}.sock")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("relay did not start")


def run(port, requests, threads):
    held, lock, refused = [], threading.Lock(), [0]

    def worker(chunk):
        for req in chunk:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                part = s.recv(4096)
                if not part:
                    break
                data += part
            with lock:
                if data.startswith(b"HTTP/1.1 200"):
                    held.append(s)
                else:
                    refused[0] += 1
                    s.close()

    chunks = [requests[i::threads] for i in range(threads)]
    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    for s in held:
        s.close()
    return len(held), refused[0], elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("-t", type=int, default=8)
    parser.add_argument("--alg", default="HS256", choices=["HS256", "ES256"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    binary = os.environ.get("SSE_RELAY_BIN", ".build/debug/sse-relay")
    with tempfile.TemporaryDirectory(prefix="ssr-bench-", dir="/tmp") as workdir:
        if args.alg == "HS256":
            signing = "bench-secret-0123456789abcdef-0123456789"
            keyfile = os.path.join(workdir, "secret")
            open(keyfile, "w").write(signing)
        else:
            signing = ec.generate_private_key(ec.SECP256R1())
            keyfile = os.path.join(workdir, "key.pem")
            open(keyfile, "wb").write(signing.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        exp = int(time.time()) + 3600
        plain = [f"GET /events/b{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(args.n)]
        signed = [(f"GET /events/b{i} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                   + jwt.encode({"sub": f"b{i}", "exp": exp}, signing, algorithm=args.alg)
                   + "\r\n\r\n").encode() for i in range(args.n)]
        for name, env, requests in [("off", {}, plain),
                                    ("jwt " + args.alg, {"SSE_RELAY_AUTH_MODE": "jwt",
                                                         "SSE_RELAY_AUTH_JWT_KEYS": f"{args.alg}:{keyfile}"}, signed)]:
            proc, port = start(binary, workdir, env)
            try:
                rates = []
                for _ in range(args.rounds):
                    ok, refused, elapsed = run(port, requests, args.t)
                    assert refused == 0, f"{refused} refused"
                    rates.append(ok / elapsed)
                    time.sleep(0.5)  # let the closes land before the next round
                print(f"auth {name}: {args.n} streams x {args.rounds} rounds, {args.t} threads: "
                      + ", ".join(f"{r:.0f}" for r in rates) + " connections/s")
            finally:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
