"""The systemd units in systemd/: they load cleanly and are hardened.

``systemd-analyze verify`` exits 0 even on unknown keys and bad values (it only warns), so
any output on stderr fails the test. It also checks that ExecStart='s binary exists: the
units are copied to a temporary directory with ``/usr/local/bin/sse-relay`` replaced by the
binary under test (nothing else changes), and verified there; the other units are found by
name in the same directory.

The hardening is scored by ``systemd-analyze security --offline=true`` (no running systemd
needed): the exposure must stay below 2.0.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import RELAY_BIN, REPO_ROOT

UNITS_DIR = REPO_ROOT / "systemd"
UNITS = ["sse-relay.service", "sse-relay-http.socket", "sse-relay-publish.socket", "sse-relay-metrics.socket"]
INSTALLED_BIN = "/usr/local/bin/sse-relay"
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed (package systemd)")


def unit_text(name: str) -> str:
    return (UNITS_DIR / name).read_text()


def directives(name: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order, comments skipped."""
    section, out = "", []
    for line in unit_text(name).splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(name: str, key: str) -> list[str]:
    return [v for _, k, v in directives(name) if k == key]


@pytest.fixture
def units_copy(tmp_path: Path) -> Path:
    assert Path(RELAY_BIN).is_file(), f"no relay binary at {RELAY_BIN}"
    for name in UNITS:
        text = unit_text(name)
        (tmp_path / name).write_text(text.replace(INSTALLED_BIN, RELAY_BIN))
    return tmp_path


def test_verify_has_no_complaints(units_copy: Path):
    result = subprocess.run(["systemd-analyze", "verify", *[str(units_copy / n) for n in UNITS]],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", (
        f"systemd-analyze verify exited {result.returncode}:\n{result.stderr}{result.stdout}")


def test_verify_catches_a_bad_unit(units_copy: Path):
    """The check above can fail: a misspelt key and a missing binary produce stderr."""
    service = units_copy / "sse-relay.service"
    service.write_text(service.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
                       .replace(RELAY_BIN, "/nonexistent/sse-relay"))
    result = subprocess.run(["systemd-analyze", "verify", str(service)],
                            capture_output=True, text=True, timeout=60)
    assert "NoNewPrivilege" in result.stderr, result.stderr
    assert "/nonexistent/sse-relay" in result.stderr, result.stderr


def exposure(path: Path) -> float:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(path)],
                            capture_output=True, text=True, timeout=60)
    text = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", text)
    assert match, f"no exposure level in the output (exit {result.returncode}):\n{text}"
    return float(match.group(1))


def test_security_exposure_below_2(units_copy: Path):
    score = exposure(units_copy / "sse-relay.service")
    assert score < MAX_EXPOSURE, f"exposure {score} is not below {MAX_EXPOSURE}"


def test_security_score_reacts_to_hardening(units_copy: Path):
    """The parser reads a real figure: the same unit without its hardening scores worse."""
    service = units_copy / "sse-relay.service"
    hardened = exposure(service)
    bare = [line for line in service.read_text().splitlines()
            if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability",
                                    "NoNewPrivileges", "MemoryDeny", "LockPersonality", "ProcSubset",
                                    "User=", "Group="))]
    service.write_text("\n".join(bare) + "\n")
    assert exposure(service) > max(hardened, 5.0)


def test_service_contract():
    """The settings the daemon's contract and the deploy kit rely on."""
    name = "sse-relay.service"
    assert values(name, "Type") == ["notify"]
    assert values(name, "ExecStart") == [f"{INSTALLED_BIN} serve --config /etc/sse-relay/config.yaml"]
    assert values(name, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values(name, "Restart") == ["on-failure"]
    assert values(name, "WatchdogSec") == ["20s"]
    assert values(name, "TimeoutStopSec") == ["30s"]
    assert values(name, "User") == ["sse-relay"] and values(name, "Group") == ["sse-relay"]
    assert values(name, "DynamicUser") in ([], ["no"])
    assert values(name, "LimitNOFILE") == ["1048576"]
    assert values(name, "Sockets") == ["sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket"]
    assert values(name, "CapabilityBoundingSet") == [""]
    assert values(name, "SystemCallFilter")[:2] == ["@system-service", "~@privileged @resources"]
    # RuntimeDirectory= would remove /run/sse-relay (and the listening publish socket in it)
    # whenever the service stops: the directory comes from tmpfiles.d instead.
    assert values(name, "RuntimeDirectory") == []
    assert "d /run/sse-relay 0755 sse-relay sse-relay" in (UNITS_DIR / "sse-relay.tmpfiles").read_text()


def test_socket_contract():
    http = dict((k, v) for _, k, v in directives("sse-relay-http.socket"))
    assert http["ListenStream"] == "127.0.0.1:8080"
    assert http["FileDescriptorName"] == "http"
    assert http["Service"] == "sse-relay.service"
    publish = dict((k, v) for _, k, v in directives("sse-relay-publish.socket"))
    assert publish["ListenStream"] == "/run/sse-relay/publish.sock"
    assert publish["FileDescriptorName"] == "publish"
    assert (publish["SocketUser"], publish["SocketGroup"], publish["SocketMode"]) == (
        "sse-relay", "sse-relay-publishers", "0660")
    metrics = dict((k, v) for _, k, v in directives("sse-relay-metrics.socket"))
    assert metrics["ListenStream"] == "127.0.0.1:9464"  # metrics.listen's default
    assert metrics["FileDescriptorName"] == "metrics"
    assert metrics["Service"] == "sse-relay.service"
    sysusers = (UNITS_DIR / "sse-relay.sysusers").read_text()
    assert re.search(r"^u sse-relay\b", sysusers, re.M) and re.search(r"^g sse-relay-publishers\b", sysusers, re.M)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None,
                    reason="systemd-sysusers / systemd-tmpfiles missing")
def test_sysusers_and_tmpfiles_apply_to_a_root(tmp_path: Path):
    """The sysusers.d and tmpfiles.d entries parse and create what the units expect."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    sysusers = subprocess.run(["systemd-sysusers", f"--root={root}", str(UNITS_DIR / "sse-relay.sysusers")],
                              capture_output=True, text=True, timeout=60)
    complaints = [line for line in sysusers.stderr.splitlines() if line and not line.startswith("Creating ")]
    assert sysusers.returncode == 0 and not complaints, sysusers.stderr
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0]: line.split(":") for line in (root / "etc/group").read_text().splitlines()}
    assert "sse-relay" in users and "sse-relay" in groups and "sse-relay-publishers" in groups
    assert int(users["sse-relay"][2]) < 1000, "a system user"

    tmpfiles = subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}",
                               str(UNITS_DIR / "sse-relay.tmpfiles")],
                              capture_output=True, text=True, timeout=60)
    assert tmpfiles.returncode == 0 and not tmpfiles.stderr.strip(), tmpfiles.stderr
    run = (root / "run/sse-relay").stat()
    assert oct(run.st_mode & 0o7777) == "0o755"
    assert run.st_uid == int(users["sse-relay"][2]) and run.st_gid == int(groups["sse-relay"][2])
