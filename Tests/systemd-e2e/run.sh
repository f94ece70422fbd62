#!/usr/bin/env bash
# End-to-end test of sse-relay under a real systemd: boots a Debian 12 root in
# systemd-nspawn (systemd as the container's PID 1, its own loopback), installs the relay
# with deploy/install.sh, runs it in cluster mode against redis-server and rabbitmq-server
# started by their own units inside the container, and checks:
#   - `systemctl start` through socket activation, Type=notify readiness;
#   - a subscriber (an EventSource stand-in that reconnects with Last-Event-ID) receives
#     what a member of the publishing group publishes through the Unix socket, and a user
#     outside the group cannot publish;
#   - `journalctl -u sse-relay SSE_CLIENT_ID=...` finds the client's entries;
#   - `systemctl restart` under a live subscriber while events are being published: every
#     event arrives exactly once, in order (replay from the shared history);
#   - socket activation: with the service stopped, a publish connection is queued by
#     systemd, starts the service and is answered by the new process; the held-back
#     subscriber then gets the event by replay;
#   - the watchdog: SIGSTOP the daemon, systemd kills and restarts it (NRestarts, journal).
#
# Needs root, mmdebstrap and systemd-container (installed here), a Swift toolchain unless
# SSE_RELAY_STATIC_BIN names a binary built with --static-swift-stdlib.
#
# Environment:
#   SSE_RELAY_STATIC_BIN   use this binary instead of building one (.build-static)
#   SSE_RELAY_BIN          use this binary, which may link the Swift runtime dynamically
#                          (the debug build CI already has): the toolchain libraries it
#                          loads are copied into the container's /usr/local/lib. This saves
#                          CI a second, release build of everything (~10 min); operators get
#                          the static binary from deploy/install.sh, which this test also
#                          uses without a prebuilt binary.
#   SSE_RELAY_E2E_CACHE    where the Debian root is cached (default /var/tmp/sse-relay-e2e)
#   KEEP_ROOT=1            keep this run's root (an overlay on the cached one) and logs
#   SSE_RELAY_E2E_INSTALL  install command to use instead of deploy/install.sh (debugging)
#
# Prints each step, a final "N passed, N failed" line; exits non-zero on any failure.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/Tests/systemd-e2e"
CACHE=${SSE_RELAY_E2E_CACHE:-/var/tmp/sse-relay-e2e}
SUITE=bookworm
# libhiredis0.14, librabbitmq4, libsystemd0: the C libraries the binary links dynamically.
INCLUDE=systemd,systemd-sysv,dbus,curl,libhiredis0.14,librabbitmq4,libsystemd0,redis-server,rabbitmq-server,procps
CLIENT=e2e
CTR_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

T_START=$(date +%s.%N)
PASSED=0
FAILED=0
ABORTED=""
NSPAWN_PID=""
LEADER=""
RUN=""
ROOT=""
MOUNTED=""

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[$(since "$T_START")s] $*"; }

pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; }

# check DESCRIPTION COMMAND...: runs the command (its output is shown), counts the result;
# must: the same, and the run stops when it fails.
check() { _check "$@" || true; }
must() { _check "$@" || { ABORTED=$1; log "stopping here"; exit 1; }; }
_check() {
    local desc=$1 t0 out rc=0
    shift
    t0=$(now)
    out=$("$@" 2>&1) || rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
    if [ "$rc" -eq 0 ]; then pass "$desc ($(since "$t0")s)"; else fail "$desc (exit $rc, $(since "$t0")s)"; fi
    return "$rc"
}

# wait_for SECONDS COMMAND...: polls the command every 0.1 s until it succeeds or the
# deadline passes (then returns 1). The command's output of the last try is kept in $WAIT_OUT.
WAIT_OUT=""
wait_for() {
    local deadline
    deadline=$(awk -v a="$(now)" -v s="$1" 'BEGIN { printf "%.3f", a + s }')
    shift
    while :; do
        if WAIT_OUT=$("$@" 2>&1); then return 0; fi
        if awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }'; then return 1; fi
        sleep 0.1
    done
}

# cx COMMAND...: runs a command inside the container (all of its namespaces), clean env.
cx() { nsenter -t "$LEADER" -a env -i PATH="$CTR_PATH" LANG=C.UTF-8 "$@"; }
cx_show() { cx systemctl show -p "$2" --value "$1"; }

summary() {
    echo
    log "timings: $TIMINGS"
    echo "systemd-e2e: $PASSED passed, $FAILED failed"
}
TIMINGS=""
timing() { TIMINGS="$TIMINGS $1=${2}s"; }

abort() {
    ABORTED=$*
    fail "$* -- stopping here"
    exit 1
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then dump_diagnostics; fi
        # SIGTERM makes nspawn ask the container's systemd to power off; then SIGKILL.
        kill -TERM "$NSPAWN_PID" 2>/dev/null
        for _ in $(seq 1 150); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$NSPAWN_PID" 2>/dev/null; then
            log "container did not power off in 15 s: SIGKILL"
            kill -KILL "$NSPAWN_PID" 2>/dev/null
            [ -n "$LEADER" ] && kill -KILL "$LEADER" 2>/dev/null
            wait "$NSPAWN_PID" 2>/dev/null
        fi
    fi
    if [ -n "$MOUNTED" ]; then
        umount "$ROOT" 2>/dev/null || umount -l "$ROOT"
    fi
    if [ -n "$RUN" ]; then
        if [ "${KEEP_ROOT:-0}" = 1 ]; then
            log "KEEP_ROOT=1: kept the root $ROOT and the console log $RUN/console.log"
        else
            rm -rf "$RUN"
        fi
    fi
    if [ -n "$ABORTED" ] || [ "$FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then
        [ "$rc" -eq 0 ] && rc=1
    fi
    summary
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dump_diagnostics() {
    [ -n "$LEADER" ] || return 0
    echo "---- diagnostics ----"
    cx systemctl --no-pager status sse-relay.service sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket 2>&1 | tail -40
    echo "---- journalctl -u sse-relay (last 60) ----"
    cx journalctl --no-pager -u sse-relay.service -n 60 2>&1
    echo "---- subscriber log ----"
    cat "$ROOT/var/lib/sse-e2e/client.log" 2>/dev/null | tail -20
    echo "---- subscriber stream (last 40 lines) ----"
    tail -40 "$ROOT/var/lib/sse-e2e/stream.out" 2>/dev/null
    echo "---- failed units ----"
    cx systemctl --no-pager --failed 2>&1
    echo "---------------------"
}

[ "$(id -u)" -eq 0 ] || { echo "run as root (systemd-nspawn, mounts)" >&2; exit 1; }
log "systemd-e2e: repo $REPO, cache $CACHE"

# ---- tools --------------------------------------------------------------------------
t0=$(now)
bash "$REPO/deploy/apt-packages.sh" mmdebstrap systemd-container util-linux procps >/dev/null
timing host-packages "$(since "$t0")"

# ---- the binary ---------------------------------------------------------------------
t0=$(now)
RUNTIME_LIBS=()
if [ -n "${SSE_RELAY_STATIC_BIN:-}" ]; then
    BIN=$SSE_RELAY_STATIC_BIN
    log "binary: $BIN (SSE_RELAY_STATIC_BIN)"
elif [ -n "${SSE_RELAY_BIN:-}" ]; then
    BIN=$SSE_RELAY_BIN
    [ -x "$BIN" ] || abort "SSE_RELAY_BIN=$BIN is not an executable"
    # The toolchain's own libraries (libswiftCore, Foundation, ...): everything ldd resolves
    # outside the system library directories, which the container's packages provide.
    mapfile -t RUNTIME_LIBS < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// && $3 !~ /^\/(usr\/)?lib\// { print $3 }')
    log "binary: $BIN (SSE_RELAY_BIN, with ${#RUNTIME_LIBS[@]} Swift runtime libraries)"
else
    bash "$REPO/deploy/apt-packages.sh" pkg-config libhiredis-dev librabbitmq-dev libsystemd-dev >/dev/null
    log "building the static binary (swift build -c release --static-swift-stdlib, .build-static)"
    (cd "$REPO" && swift build -c release --static-swift-stdlib --product sse-relay \
        --scratch-path .build-static 2>&1 | grep -v 'prohibited flag' | tail -5)
    BIN="$(cd "$REPO" && swift build -c release --static-swift-stdlib --product sse-relay \
        --scratch-path .build-static --show-bin-path)/sse-relay"
fi
[ -x "$BIN" ] || abort "no binary at $BIN"
if [ ${#RUNTIME_LIBS[@]} -eq 0 ] && ldd "$BIN" 2>/dev/null | grep -q 'libswift\|libFoundation'; then
    abort "$BIN links the Swift runtime dynamically: build it with --static-swift-stdlib"
fi
timing binary "$(since "$t0")"

# ---- the Debian root (cached) ---------------------------------------------------------
mkdir -p "$CACHE"
KEY=$(printf '%s' "$SUITE $INCLUDE" | sha256sum | cut -c1-12)
CACHED="$CACHE/root-$KEY"
t0=$(now)
exec 9>"$CACHE/root.lock"
flock 9
if [ -d "$CACHED" ]; then
    log "root: cached $CACHED"
    timing root-cached "$(since "$t0")"
else
    log "root: mmdebstrap --variant=minbase $SUITE (cold, ~1-2 min) -> $CACHED"
    rm -rf "$CACHED.tmp"
    mmdebstrap --quiet --variant=minbase --include="$INCLUDE" "$SUITE" "$CACHED.tmp" \
        || abort "mmdebstrap failed"
    mv "$CACHED.tmp" "$CACHED"
    timing root-cold "$(since "$t0")"
fi
flock -u 9

# ---- this run's root: an overlay on the cached one, or a copy ---------------------------
# (a copy when KEEP_ROOT=1, so the kept root is a plain directory, or without overlayfs)
t0=$(now)
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
ROOT="$RUN/root"
mkdir -p "$ROOT" "$RUN/upper" "$RUN/work"
if [ "${KEEP_ROOT:-0}" != 1 ] &&
    mount -t overlay overlay -o "lowerdir=$CACHED,upperdir=$RUN/upper,workdir=$RUN/work" "$ROOT" 2>/dev/null; then
    MOUNTED=1
else
    rmdir "$ROOT" "$RUN/upper" "$RUN/work"
    cp -a "$CACHED" "$ROOT"
fi
timing run-root "$(since "$t0")"

# The container's host name must resolve for RabbitMQ's node name (rabbit@sse-e2e).
echo sse-e2e >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost sse-e2e\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
mkdir -p "$ROOT/usr/local/lib/sse-e2e" "$ROOT/var/lib/sse-e2e"
chmod 1777 "$ROOT/var/lib/sse-e2e"   # the publisher loop runs as the user app
install -m 0755 "$HERE/sse-client.sh" "$HERE/publish-loop.sh" "$ROOT/usr/local/lib/sse-e2e/"

# ---- install the relay with the deploy script -----------------------------------------
t0=$(now)
INSTALL=${SSE_RELAY_E2E_INSTALL:-$REPO/deploy/install.sh}
[ -f "$INSTALL" ] || abort "install script $INSTALL is missing"
log "install: $INSTALL --root ROOT --binary $BIN --no-start"
must "deploy/install.sh --root ROOT --binary BIN --no-start" \
    bash "$INSTALL" --root "$ROOT" --binary "$BIN" --no-start
installed_files() {
    local f missing=0
    for f in /usr/local/bin/sse-relay /etc/sse-relay/config.yaml; do
        [ -e "$ROOT$f" ] || { echo "missing $f"; missing=1; }
    done
    for u in sse-relay.service sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket; do
        [ -n "$(find "$ROOT/etc/systemd/system" "$ROOT/usr/local/lib/systemd/system" \
                "$ROOT/lib/systemd/system" "$ROOT/usr/lib/systemd/system" -maxdepth 1 -name "$u" 2>/dev/null)" ] \
            || { echo "missing unit $u"; missing=1; }
    done
    return "$missing"
}
must "binary, config and the three units are in the root" installed_files
if [ ${#RUNTIME_LIBS[@]} -gt 0 ]; then
    cp -L "${RUNTIME_LIBS[@]}" "$ROOT/usr/local/lib/"
    ldconfig -r "$ROOT"
    # Proves the copied set is complete before anything depends on it.
    must "the binary runs inside the root with the copied Swift runtime" \
        chroot "$ROOT" /usr/local/bin/sse-relay --help
fi
# Cluster mode: shared history in Redis so a restart loses nothing.
if grep -Eq '^(redis|amqp):' "$ROOT/etc/sse-relay/config.yaml"; then
    log "config.yaml already has redis/amqp settings: leaving them"
else
    cat >>"$ROOT/etc/sse-relay/config.yaml" <<'EOF'

# added by Tests/systemd-e2e/run.sh: cluster mode against the container's own servers
redis:
  url: redis://127.0.0.1:6379/0
amqp:
  url: amqp://guest:guest@127.0.0.1:5672/
EOF
fi
# As the unit's comment suggests for a local Redis/RabbitMQ: order the relay after them.
mkdir -p "$ROOT/etc/systemd/system/sse-relay.service.d"
printf '[Unit]\nWants=%s\nAfter=%s\n' "redis-server.service rabbitmq-server.service" \
    "redis-server.service rabbitmq-server.service" \
    >"$ROOT/etc/systemd/system/sse-relay.service.d/10-local-cluster.conf"
timing install "$(since "$t0")"

# ---- boot -------------------------------------------------------------------------------
t0=$(now)
log "boot: systemd-nspawn -b --private-network"
systemd-nspawn -D "$ROOT" -b --console=pipe --register=no --keep-unit --private-network \
    -M "sse-e2e-$$" >"$RUN/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!

find_leader() {
    # The container's PID 1: a descendant of nspawn whose pid in its own namespace is 1.
    local queue=("$NSPAWN_PID") p c
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        for c in $(pgrep -P "$p" || true); do
            if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$c/status" 2>/dev/null; then
                echo "$c"
                return 0
            fi
            queue+=("$c")
        done
    done
    kill -0 "$NSPAWN_PID" 2>/dev/null || { echo "systemd-nspawn exited"; return 2; }
    return 1
}
wait_for 30 find_leader || { cat "$RUN/console.log"; abort "container PID 1 not found: $WAIT_OUT"; }
LEADER=$WAIT_OUT
system_up() {
    local s
    s=$(cx systemctl is-system-running 2>/dev/null) || true
    echo "$s"
    [ "$s" = running ] || [ "$s" = degraded ]
}
if wait_for 120 system_up; then
    pass "container booted: is-system-running=$WAIT_OUT (leader pid $LEADER, $(since "$t0")s)"
else
    tail -30 "$RUN/console.log"
    abort "container not up in 120 s (is-system-running=$WAIT_OUT)"
fi
timing boot "$(since "$t0")"
[ "$WAIT_OUT" = degraded ] && cx systemctl --no-pager --failed | sed 's/^/    /'
check "redis-server and rabbitmq-server active (their own units)" \
    cx systemctl is-active redis-server.service rabbitmq-server.service

# ---- scenario -----------------------------------------------------------------------------
T_SCENARIO=$(now)

setup_relay() {
    cx systemd-sysusers &&
        cx systemd-tmpfiles --create &&
        cx systemctl daemon-reload &&
        cx systemctl enable --now sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket sse-relay.service
}
must "systemd-sysusers, tmpfiles, daemon-reload, enable --now sockets and service" setup_relay

service_ready() {
    local type state status
    type=$(cx_show sse-relay.service Type)
    state=$(cx_show sse-relay.service ActiveState)
    status=$(cx_show sse-relay.service StatusText)
    echo "Type=$type ActiveState=$state StatusText=$status MainPID=$(cx_show sse-relay.service MainPID)"
    [ "$type" = notify ] && [ "$state" = active ]
}
check "sse-relay.service is Type=notify and active (READY=1 received)" service_ready

sockets_ok() {
    cx systemctl is-active sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket || return 1
    cx stat -c '%A %U:%G %n' /run/sse-relay/publish.sock
    [ "$(cx stat -c '%a %G' /run/sse-relay/publish.sock)" = "660 sse-relay-publishers" ]
}
check "sockets listening; publish.sock is 0660 group sse-relay-publishers" sockets_ok
metrics_adopted() {
    cx curl -sS --max-time 10 http://127.0.0.1:9464/healthz && echo &&
        cx journalctl --no-pager -u sse-relay.service -o cat SSE_SOCKETS=http,metrics,publish | grep -F 'adopting sockets'
}
check "the metrics port is served from the socket unit (socket activation, FileDescriptorName=metrics)" metrics_adopted

users() {
    cx useradd --create-home --groups sse-relay-publishers app &&
        cx useradd --create-home outsider && cx id app
}
check "users: app (in sse-relay-publishers), outsider (not)" users

# publish AS DATA: prints "<body> HTTP=<status>"
publish() {
    cx runuser -u "$1" -- curl -sS --max-time 30 --unix-socket /run/sse-relay/publish.sock \
        -H 'Content-Type: text/plain' --data-binary "$2" -w ' HTTP=%{http_code}' \
        "http://relay/v1/clients/$CLIENT/events"
}
STREAM="$ROOT/var/lib/sse-e2e/stream.out"
CLOG="$ROOT/var/lib/sse-e2e/client.log"
start_subscriber() {
    cx systemd-run --quiet --unit=e2e-subscriber --collect \
        /usr/local/lib/sse-e2e/sse-client.sh "http://127.0.0.1:8080/events/$CLIENT" \
        /var/lib/sse-e2e/stream.out /var/lib/sse-e2e/client.log
}
check "subscriber started (systemd-run unit e2e-subscriber: curl -N, reconnects with Last-Event-ID)" start_subscriber
# connected: the relay lists a connection for the client (GET /v1/clients/ID)
client_connected() {
    local r
    r=$(cx runuser -u app -- curl -sS --unix-socket /run/sse-relay/publish.sock \
        -w ' HTTP=%{http_code}' "http://relay/v1/clients/$CLIENT") || return 1
    echo "$r"
    [[ $r == *'"connections":[{'*"HTTP=200" ]]
}
if wait_for 20 client_connected; then
    pass "subscriber connected: $WAIT_OUT"
else
    fail "subscriber not connected in 20 s: $WAIT_OUT; the client's log ends:"
    tail -4 "$CLOG" | sed 's/^/    /'
fi

count_data() { grep -c -x "data: $1" "$STREAM" || true; }
received() { [ "$(count_data "$1")" -ge 1 ]; }

R=$(publish app hello-1 2>&1) || true
echo "    $R"
[[ $R == *'"delivered":1'*"HTTP=200" ]] && pass "app publishes through the socket: delivered 1" \
    || fail "app publish: $R"
wait_for 10 received hello-1 && pass "subscriber received hello-1" || fail "hello-1 not received in 10 s"

R=$(publish outsider nope 2>&1) && fail "outsider could publish: $R" \
    || { echo "    $R"; pass "outsider (not in sse-relay-publishers) cannot connect to the socket"; }

journal_entries() {
    local out
    out=$(cx journalctl --no-pager -o json -u sse-relay "SSE_CLIENT_ID=$CLIENT") || return 1
    [ -n "$out" ] || { echo "no entries"; return 1; }
    printf '%s\n' "$out" | python3 -c '
import json, sys
client = sys.argv[1]
entries = [json.loads(l) for l in sys.stdin if l.strip()]
bad = [e for e in entries if e.get("SSE_CLIENT_ID") != client or e.get("_SYSTEMD_UNIT") != "sse-relay.service"]
for e in entries[:5]:
    print("%s SSE_CLIENT_ID=%s: %s" % (e.get("_SYSTEMD_UNIT"), e.get("SSE_CLIENT_ID"), e.get("MESSAGE")))
print("%d entries, %d not matching" % (len(entries), len(bad)))
sys.exit(1 if bad or not entries else 0)
' "$CLIENT"
}
if wait_for 10 journal_entries; then
    printf '%s\n' "$WAIT_OUT" | sed 's/^/    /'
    pass "journalctl -u sse-relay SSE_CLIENT_ID=$CLIENT finds the client's entries"
else
    printf '%s\n' "$WAIT_OUT" | sed 's/^/    /'
    fail "journalctl -u sse-relay SSE_CLIENT_ID=$CLIENT: no matching entries in 10 s"
fi

# ---- restart under a live subscriber, publishing throughout ---------------------------------
# events_in_order PREFIX PUBLOG: every PREFIX-N event the relay accepted (its publish got a
# report with "stored":true in PUBLOG) reached the stream exactly once, in order, and no other.
events_in_order() {
    local prefix=$1 publog=$2 got want dup count
    got=$(grep -x "data: $prefix-[0-9]*" "$STREAM" | sed 's/^data: //' | tr '\n' ' ')
    want=$(grep '"stored":true' "$publog" | cut -d' ' -f1 | tr '\n' ' ')
    count=$(wc -w <<<"$want")
    dup=$(grep -x "data: $prefix-[0-9]*" "$STREAM" | sort | uniq -d | tr '\n' ' ')
    if [ "$got" != "$want" ]; then
        echo "got:  $got"
        echo "want: $want"
        [ -n "$dup" ] && echo "duplicates: $dup"
        return 1
    fi
    echo "$count accepted events, each once, in order"
}
no_reset() {
    if grep -q '^event: sse-relay.reset' "$STREAM"; then
        grep -A2 '^event: sse-relay.reset' "$STREAM"
        return 1
    fi
}
publish_results_ok() {
    # every publish answered: 200, or 404 client_not_connected with "stored":true
    local bad
    bad=$(grep -v '^done$' "$1" | grep -v 'HTTP=200$' | grep -v '"stored":true.*HTTP=404$' || true)
    echo "$(grep -c 'HTTP=200$' "$1") delivered live (200), $(grep -c 'HTTP=404$' "$1") stored for replay (404)"
    [ -z "$bad" ] || { echo "unexpected answers:"; echo "$bad"; return 1; }
}

PUBLOG="$ROOT/var/lib/sse-e2e/restart-publish.out"
lines_at_least() { [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
pid_before=$(cx_show sse-relay.service MainPID)
cx systemd-run --quiet --unit=e2e-publisher --collect -p User=app \
    /usr/local/lib/sse-e2e/publish-loop.sh "$CLIENT" r 40 0.05 /var/lib/sse-e2e/restart-publish.out
wait_for 20 lines_at_least "$PUBLOG" 8 || fail "publisher loop did not start"
t0=$(now)
check "systemctl restart sse-relay.service while publishing (pid $pid_before)" cx systemctl restart sse-relay.service
log "    restart took $(since "$t0")s, new MainPID $(cx_show sse-relay.service MainPID)"
[ "$(cx_show sse-relay.service MainPID)" != "$pid_before" ] && pass "a new process runs after the restart" \
    || fail "MainPID unchanged after restart"
wait_for 60 grep -qx done "$PUBLOG" || fail "publisher loop did not finish in 60 s"
check "every publish during the restart was answered" publish_results_ok "$PUBLOG"
if wait_for 20 events_in_order r "$PUBLOG"; then
    printf '%s\n' "$WAIT_OUT" | sed 's/^/    /'
    pass "restart: the subscriber got every accepted event of r-1..r-40 exactly once, in order"
else
    printf '%s\n' "$WAIT_OUT" | sed 's/^/    /'
    fail "restart: events lost, duplicated or out of order"
fi
reconnected() { grep -E '^connect [2-9][0-9]* last-event-id=[0-9]+-[0-9]+' "$CLOG" | tail -1 | grep .; }
check "the subscriber reconnected with Last-Event-ID" reconnected
check "no sse-relay.reset on the stream" no_reset

# ---- socket activation: a connection made while the service is stopped ------------------
touch "$ROOT/var/lib/sse-e2e/hold"   # the "browser" stays away until released
check "systemctl stop sse-relay.service (sockets stay)" cx systemctl stop sse-relay.service
sa_state() {
    local s h p m
    s=$(cx_show sse-relay.service ActiveState)
    h=$(cx_show sse-relay-http.socket ActiveState)
    p=$(cx_show sse-relay-publish.socket ActiveState)
    m=$(cx_show sse-relay-metrics.socket ActiveState)
    echo "service=$s http.socket=$h publish.socket=$p metrics.socket=$m"
    [ "$s" = inactive ] && [ "$h" = active ] && [ "$p" = active ] && [ "$m" = active ]
}
check "service inactive, the sockets still listening" sa_state
client_closed() { tail -1 "$CLOG" | grep '^closed'; }
wait_for 10 client_closed || fail "subscriber still connected after stop"
t0=$(now)
R=$(publish app sa-1 2>&1) || true
echo "    $R"
[[ $R == *'"stored":true'*"HTTP=404" ]] \
    && pass "publish while stopped: queued by the socket, answered by the activated service in $(since "$t0")s (stored for replay)" \
    || fail "publish while stopped: $R"
check "the connection started the service" bash -c "[ \"\$(nsenter -t $LEADER -a systemctl show -p ActiveState --value sse-relay.service)\" = active ]"
rm -f "$ROOT/var/lib/sse-e2e/hold"
wait_for 20 received sa-1 && pass "released subscriber got sa-1 by replay (Last-Event-ID)" \
    || fail "sa-1 not replayed in 20 s"
[ "$(count_data sa-1)" = 1 ] || fail "sa-1 received $(count_data sa-1) times"
check "no sse-relay.reset on the stream" no_reset

# ---- watchdog -------------------------------------------------------------------------------
wd_usec=$(cx_show sse-relay.service WatchdogUSec)
log "WatchdogUSec=$wd_usec Restart=$(cx_show sse-relay.service Restart)"
to_sec() { # systemd time span ("30s", "1min 30s", "500ms", "0") -> seconds
    awk '{ t = 0; for (i = 1; i <= NF; i++) { v = $i + 0; u = $i; sub(/^[0-9.]+/, "", u)
        if (u == "ms") t += v / 1000; else if (u == "min") t += v * 60; else if (u == "h") t += v * 3600;
        else if (u == "us") t += v / 1000000; else t += v }; printf "%d", t + 0.999 }' <<<"$1"
}
wd=$(to_sec "$wd_usec")
if [ "$wd" -le 0 ]; then
    fail "sse-relay.service has no WatchdogSec="
else
    wait_for 20 client_connected || true
    pid=$(cx_show sse-relay.service MainPID)
    n0=$(cx_show sse-relay.service NRestarts)
    since_ts=$(cx date '+%Y-%m-%d %H:%M:%S')
    t0=$(now)
    cx kill -STOP "$pid"
    log "SIGSTOP sent to sse-relay (pid $pid in the container, NRestarts=$n0, WatchdogSec=${wd}s)"
    restarted() {
        local n p s
        n=$(cx_show sse-relay.service NRestarts)
        p=$(cx_show sse-relay.service MainPID)
        s=$(cx_show sse-relay.service ActiveState)
        echo "NRestarts=$n MainPID=$p ActiveState=$s"
        [ "$n" -gt "$n0" ] && [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$s" = active ]
    }
    if wait_for $((wd * 3 + 60)) restarted; then
        pass "watchdog: frozen daemon killed and restarted after $(since "$t0")s ($WAIT_OUT)"
    else
        fail "watchdog: no restart within $((wd * 3 + 60))s ($WAIT_OUT)"
    fi
    wd_journal() { cx journalctl --no-pager -u sse-relay.service --since "$since_ts" | grep -i 'watchdog timeout'; }
    if wait_for 10 wd_journal; then pass "journal: $WAIT_OUT"; else fail "journal: no \"Watchdog timeout\" line"; fi
    check "the frozen process is gone" bash -c "! nsenter -t $LEADER -a kill -0 $pid 2>/dev/null"
    wait_for 30 client_connected || true
    R=$(publish app after-watchdog 2>&1) || true
    echo "    $R"
    [[ $R == *HTTP=200 || $R == *'"stored":true'*HTTP=404 ]] || fail "publish after watchdog restart: $R"
    wait_for 20 received after-watchdog && pass "after the watchdog restart the subscriber gets new events" \
        || fail "after-watchdog not received in 20 s"
fi
timing scenario "$(since "$T_SCENARIO")"

cx systemctl stop e2e-subscriber.service >/dev/null 2>&1 || true
timing total "$(since "$T_START")"
