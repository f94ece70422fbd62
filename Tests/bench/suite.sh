#!/usr/bin/env bash
# Side-by-side benchmark: sse-relay vs nginx+nchan vs Pushpin vs the kernel floor, on loopback.
#
#   bash Tests/bench/suite.sh [--quick] [--keep]
#
# Installs what it needs (apt), builds sse-relay and sse-relay-bench in release, then for each
# server starts a private instance (config in a temp dir, ports 25000-25999), runs the same
# sse-relay-bench scenarios against it and stops it; then the cross-node runs (3 relays through a
# private Redis + RabbitMQ; 3 nginx+nchan sharing that Redis), the kernel floor, and
# Tests/bench/report.py (Debian's python3, for python3-matplotlib), which writes bench-results/results.md (the table, also printed) and
# latency plots. --quick: 1,000 connections and 3 s per scenario, to check the whole chain.
# --keep: leave the temp dir (configs, logs) for inspection. Needs root (apt, Pushpin).
# Not part of the test suite: figures depend on the machine.
set -euo pipefail

quick=0 keep=0 only=""
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --only=*) only=${arg#--only=} ;;
    *) echo "usage: $0 [--quick] [--keep] [--only=relay,nchan,pushpin,cross,floor]" >&2; exit 2 ;;
    esac
done
# --only: rerun some parts; the table is made from every result file in bench-results/.
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/bench-results"
work=$(mktemp -d /tmp/sse-bench.XXXXXX)
cores=$(nproc)
if [ "$quick" = 1 ]; then
    connections=1000 duration=3 floor_seconds=1 floor_sockets=1000
else
    connections=10000 duration=10 floor_seconds=5 floor_sockets=9000
fi
started=$(date +%s)

# Ports (all in 25000-25999).
relay_port=25080 node_ports=(25081 25082 25083)
nchan_sub=25090 nchan_pub=25091 nchan_cluster_ports=(25092 25094 25096)  # sub; pub is +1
pushpin_http=25100 pushpin_base=25101 origin_port=25105
redis_port=25110 amqp_port=25120
metrics_port=25130  # the relays' metrics listeners (on, as by default): 25130-25133

log() { printf '\n### %s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# --- what runs, and how it is stopped ---------------------------------------------------------
started_pids=()
nginx_confs=()
cleanup() {
    set +e
    for conf in "${nginx_confs[@]}"; do nginx -c "$conf" -s stop 2>/dev/null; done
    for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${started_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    bash "$root/Tests/servers/redis.sh" stop "$redis_port" "$work/redis" 2>/dev/null
    bash "$root/Tests/servers/rabbitmq.sh" stop "$amqp_port" "$work/rabbitmq" >/dev/null 2>&1
    if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_for_port() {  # PORT [SECONDS]
    local deadline=$(($(date +%s) + ${2:-20}))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "nothing listens on port $1" >&2; return 1; }
        sleep 0.1
    done
}

wait_for_socket() {  # PATH
    local deadline=$(($(date +%s) + 60))
    until curl -sf --unix-socket "$1" http://localhost/v1/health >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "no healthy relay on $1" >&2; return 1; }
        sleep 0.1
    done
}

stop_pid() {  # PID: SIGTERM, wait, SIGKILL
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}

tree_pids() {  # PID: it and all its descendants, for summing memory and CPU
    local pid=$1 child
    echo "$pid"
    for child in $(ps -o pid= --ppid "$pid"); do tree_pids "$child"; done
}

pid_args() { local pid; for pid in "$@"; do printf -- '--server-pid %s ' "$pid"; done; }

# --- 1. what it needs -------------------------------------------------------------------------
log "packages"
need=()
dpkg -s nginx >/dev/null 2>&1 || need+=(nginx)
dpkg -s libnginx-mod-nchan >/dev/null 2>&1 || need+=(libnginx-mod-nchan)
dpkg -s pushpin >/dev/null 2>&1 || need+=(pushpin)
dpkg -s python3-matplotlib >/dev/null 2>&1 || need+=(python3-matplotlib)
for pkg in gcc redis-server rabbitmq-server curl; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
# The packaged services (if running) are left alone: everything here uses its own ports.

log "build (release)"
(cd "$root" && swift build -c release --scratch-path .build-bench --product sse-relay-bench \
    && swift build -c release --scratch-path .build-bench --product sse-relay)
bin=$(cd "$root" && swift build -c release --scratch-path .build-bench --show-bin-path)
gcc -O2 -pthread -o "$work/kernel-floor" "$root/Tests/bench/kernel-floor.c"
mkdir -p "$out"
if [ -z "$only" ]; then
    rm -f "$out"/*.json "$out"/*.txt "$out"/*.png "$out"/results.md
fi

bench() {  # NAME ARGS...: one sse-relay-bench run, output to bench-results/NAME.{txt,json}
    local name=$1; shift
    log "bench $name"
    "$bin/sse-relay-bench" --connections "$connections" --duration "$duration" \
        --json "$out/$name.json" "$@" 2>&1 | tee "$out/$name.txt"
}
# Four publisher connections for every server: one pipelined connection to nchan stays near
# 3,000 requests/s at a third of a core here (it waits, it is not busy), which would measure the
# connection rather than nchan.
scenarios=(--scenario idle --scenario targeted-rate --scenario targeted-max --scenario bulk
    --scenario broadcast --scenario churn --publishers 4)

# --- 2. sse-relay, standalone -----------------------------------------------------------------
if want relay; then
log "sse-relay on $relay_port"
"$bin/sse-relay" serve --listen "127.0.0.1:$relay_port" --publish-socket "$work/relay.sock" \
    --node-id bench --metrics-listen "127.0.0.1:$metrics_port" --log-level warning >"$work/relay.log" 2>&1 &
relay_pid=$!
started_pids+=("$relay_pid")
wait_for_port "$relay_port" && wait_for_socket "$work/relay.sock"
bench relay --target relay --url "http://127.0.0.1:$relay_port" --socket "$work/relay.sock" \
    --relay-pid "$relay_pid" "${scenarios[@]}"
stop_pid "$relay_pid"

fi

# --- 3. nginx + nchan -------------------------------------------------------------------------
# Fair settings: a worker per core, connections well above the test's, the relay's own replay
# window (100 messages, 5 min), new subscribers get only new messages (like the relay without
# Last-Event-ID), keep-alive publishing without nginx's default 1,000-request cap, no access log.
nchan_conf() {  # DIR SUB_PORT PUB_PORT [REDIS_URL]
    local dir=$1 sub=$2 pub=$3 redis=${4:-} storage=""
    mkdir -p "$dir/tmp"
    if [ -n "$redis" ]; then
        storage="nchan_redis_url \"$redis\"; nchan_use_redis on;"
    fi
    cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
user root;
worker_processes $cores;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 20000; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    nchan_shared_memory_size 512m;
    nchan_message_buffer_length 100;
    nchan_message_timeout 5m;
    $storage
    server {
        listen 127.0.0.1:$sub backlog=4096;
        location ~ ^/sub/(.+)\$ {
            nchan_subscriber eventsource;
            nchan_channel_id \$1;
            nchan_subscriber_first_message newest;
        }
    }
    server {
        listen 127.0.0.1:$pub backlog=1024;
        location ~ ^/pub/(.+)\$ {
            nchan_publisher http;
            nchan_channel_id \$1;
        }
    }
}
CONF
    echo "$dir/nginx.conf"
}

start_nginx() {  # CONF: starts it and prints the master's and workers' pids
    local conf=$1
    nginx -t -q -c "$conf"
    nginx -c "$conf"
    nginx_confs+=("$conf")
    local pidfile deadline=$(($(date +%s) + 20))
    pidfile="$(dirname "$conf")/nginx.pid"
    until [ -s "$pidfile" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "nginx did not start" >&2; return 1; }
        sleep 0.1
    done
}

wait_port_free() { local d=$(($(date +%s) + 20)); while (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do [ "$(date +%s)" -lt "$d" ] || return 1; sleep 0.1; done; }
nginx_pids() { tree_pids "$(cat "$(dirname "$1")/nginx.pid")"; }

if want nchan; then
log "nginx+nchan on $nchan_sub (publish $nchan_pub), $cores workers"
conf=$(nchan_conf "$work/nchan" "$nchan_sub" "$nchan_pub")
start_nginx "$conf"
wait_for_port "$nchan_sub" && wait_for_port "$nchan_pub"
# shellcheck disable=SC2046
bench nchan --target nchan --url "http://127.0.0.1:$nchan_sub" --publish-url "http://127.0.0.1:$nchan_pub" \
    $(pid_args $(nginx_pids "$conf")) "${scenarios[@]}"
nginx -c "$conf" -s stop
wait_port_free "$nchan_sub"

fi

# --- 4. Pushpin -------------------------------------------------------------------------------
if want pushpin; then
# Private config and run dir; ports moved into our range; its own zurl (the package expects a
# system zurl service for the proxy's requests to the origin); the handler's publish throttle
# (message_rate 2,500/s by default) lifted so it measures Pushpin, not a setting; warnings-only
# logs (at the default level every subscribe and publish is a log line in each process).
# Connects go 50 at a time: at 500 Pushpin answers a quarter of them 502/500 here.
log "pushpin on $pushpin_http (publish $((pushpin_base + 2))), origin $origin_port"
mkdir -p "$work/pushpin/run" "$work/pushpin/log"
sed -e "s|^rundir=.*|rundir=$work/pushpin/run|" \
    -e "s|^ipc_prefix=.*|ipc_prefix=bench-|" \
    -e "s|^http_port=.*|http_port=$pushpin_http|" \
    -e "s|^logdir=.*|logdir=$work/pushpin/log|" \
    -e "s|^client_maxconn=.*|client_maxconn=19000|" \
    -e "s|^log_level=.*|log_level=1|" \
    -e "s|^routesfile=.*|routesfile=$work/pushpin/routes|" \
    -e "s|^push_in_spec=.*|push_in_spec=tcp://127.0.0.1:$pushpin_base|" \
    -e "s|^push_in_sub_specs=.*|push_in_sub_specs=tcp://127.0.0.1:$((pushpin_base + 1))|" \
    -e "s|^push_in_http_port=.*|push_in_http_port=$((pushpin_base + 2))|" \
    -e "s|^command_spec=tcp.*|command_spec=tcp://127.0.0.1:$((pushpin_base + 3))|" \
    -e "s|^message_rate=.*|message_rate=1000000|" \
    -e "s|^message_hwm=.*|message_hwm=1000000|" \
    -e "s|^stats_connection_ttl=.*|stats_connection_ttl=600|" \
    -e "s|^services=.*|services=condure,zurl,pushpin-proxy,pushpin-handler|" \
    -e "/^\[proxy\]/a zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in\nzurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream\nzurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out" \
    /etc/pushpin/pushpin.conf >"$work/pushpin/pushpin.conf"
echo "* 127.0.0.1:$origin_port" >"$work/pushpin/routes"
python3 "$root/Tests/bench/grip-origin.py" "$origin_port" >"$work/origin.log" 2>&1 &
origin_pid=$!
started_pids+=("$origin_pid")
pushpin --config "$work/pushpin/pushpin.conf" >"$work/pushpin/pushpin.out" 2>&1 &
pushpin_pid=$!
started_pids+=("$pushpin_pid")
wait_for_port "$origin_port" && wait_for_port "$pushpin_http" 30 && wait_for_port "$((pushpin_base + 2))" 30
# shellcheck disable=SC2046
bench pushpin --target pushpin --url "http://127.0.0.1:$pushpin_http" \
    --publish-url "http://127.0.0.1:$((pushpin_base + 2))" \
    --connect-concurrency 50 $(pid_args $(tree_pids "$pushpin_pid")) "${scenarios[@]}"
stop_pid "$pushpin_pid"
stop_pid "$origin_pid"

fi

# --- 5. cross-node: 3 relays through Redis + RabbitMQ; 3 nginx+nchan sharing that Redis --------
if want cross; then
# Subscribers on node 1, publishing on node 2, 2,000 events/s over 16 publisher connections.
log "redis $redis_port, rabbitmq $amqp_port"
bash "$root/Tests/servers/redis.sh" start "$redis_port" "$work/redis"
bash "$root/Tests/servers/rabbitmq.sh" start "$amqp_port" "$work/rabbitmq"
cross=(--scenario targeted-rate --rate 2000 --publishers 16)
node_pids=()
for i in 0 1 2; do
    "$bin/sse-relay" serve --listen "127.0.0.1:${node_ports[$i]}" --publish-socket "$work/node$i.sock" \
        --node-id "node$i" --redis "redis://127.0.0.1:$redis_port/0" \
        --amqp "amqp://guest:guest@127.0.0.1:$amqp_port/" --metrics-listen "127.0.0.1:$((metrics_port + 1 + i))" \
        --log-level warning >"$work/node$i.log" 2>&1 &
    node_pids+=($!)
    started_pids+=($!)
done
for i in 0 1 2; do wait_for_port "${node_ports[$i]}" 60 && wait_for_socket "$work/node$i.sock"; done
bench relay-cluster --target relay --url "http://127.0.0.1:${node_ports[0]}" --socket "$work/node1.sock" \
    --relay-pid "${node_pids[0]}" --server-pid "${node_pids[1]}" "${cross[@]}"
for pid in "${node_pids[@]}"; do stop_pid "$pid"; done

cluster_confs=()
for i in 0 1 2; do
    port=${nchan_cluster_ports[$i]}
    conf=$(nchan_conf "$work/nchan$i" "$port" "$((port + 1))" "redis://127.0.0.1:$redis_port/1")
    start_nginx "$conf"
    cluster_confs+=("$conf")
done
for i in 0 1 2; do wait_for_port "${nchan_cluster_ports[$i]}" && wait_for_port "$((nchan_cluster_ports[i] + 1))"; done
# shellcheck disable=SC2046
bench nchan-cluster --target nchan --url "http://127.0.0.1:${nchan_cluster_ports[0]}" \
    --publish-url "http://127.0.0.1:$((nchan_cluster_ports[1] + 1))" \
    $(pid_args $(nginx_pids "${cluster_confs[0]}") $(nginx_pids "${cluster_confs[1]}")) "${cross[@]}"
for conf in "${cluster_confs[@]}"; do nginx -c "$conf" -s stop; done

fi

# --- 6. the kernel floor ----------------------------------------------------------------------
if want floor; then
log "kernel floor, $floor_sockets sockets"
"$work/kernel-floor" "$floor_sockets" targeted "$floor_seconds" | tee "$out/kernel-targeted.txt"
"$work/kernel-floor" "$floor_sockets" broadcast "$floor_seconds" | tee "$out/kernel-broadcast.txt"

fi

# --- 7. the table -----------------------------------------------------------------------------
log "report"
seconds=$(($(date +%s) - started))
/usr/bin/python3 "$root/Tests/bench/report.py" "$out" --connections "$connections" --duration "$duration" \
    --elapsed "$seconds" $([ "$quick" = 1 ] && echo --quick)
echo "suite took ${seconds} s; results in $out/results.md"
