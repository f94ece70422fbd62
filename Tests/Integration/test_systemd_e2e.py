"""The systemd end-to-end test: Tests/systemd-e2e/run.sh boots a Debian root under
systemd-nspawn and checks the relay as a real systemd service (socket activation,
Type=notify, journald fields, restart without loss in cluster mode, the watchdog).

A thin wrapper so that `pytest Tests/Integration` (CI) runs it. Needs root.
It runs the binary under test (SSE_RELAY_BIN, the debug build in CI) with the Swift runtime
libraries copied into the container; without SSE_RELAY_BIN, run.sh builds a static binary.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import RELAY_BIN

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "Tests" / "systemd-e2e" / "run.sh"
TIMEOUT = 15 * 60
CLEANUP_GRACE = 60  # run.sh's trap powers the container off and unmounts its root


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (systemd-nspawn, mmdebstrap, mounts)")
def test_systemd_e2e() -> None:
    proc = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=REPO_ROOT,
        env={**os.environ, "SSE_RELAY_BIN": RELAY_BIN},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script's trap then stops the container and cleans up.
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=CLEANUP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"{SCRIPT} did not finish in {TIMEOUT} s; its output:\n{out}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{SCRIPT} exited {proc.returncode}; its output:\n{out}", pytrace=False)
    print(out)
