"""Hostile input against the real binary, bounded for CI (see Tests/fuzz/relayfuzz.py).

Seeded: ``SSE_RELAY_FUZZ_SEED`` replays a run (the seed is printed on failure and in the
summary); ``SSE_RELAY_FUZZ_SECONDS`` lengthens it (default 40 s). For long runs use
``Tests/fuzz/fuzz_relay.py``.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuzz"))

import relayfuzz  # noqa: E402


def test_hostile_input_on_both_doors(relay):
    seed = int(os.environ.get("SSE_RELAY_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
    seconds = float(os.environ.get("SSE_RELAY_FUZZ_SECONDS", "40"))
    print(f"fuzz seed {seed}")
    r = relay("--max-body-size", "1MiB", "--config", _config(relay))
    fuzzer = relayfuzz.Fuzzer(r.socket_path, r.port, r.pid, seed, seconds, answer_timeout=10.0,
                              trickle_limit=8.0)
    stats = fuzzer.run()
    assert stats.inputs > 0
    assert r.proc.poll() is None, "the relay exited"


def _config(relay) -> str:
    import json
    path = os.path.join(relay.workdir(), "fuzz.json")
    with open(path, "w") as f:
        json.dump({"publish": {"request-timeout": "2s"}, "http": {"request-timeout": "2s"}}, f)
    return path
