#!/usr/bin/env bash
# A private redis-server for the tests, on loopback, without persistence.
#   redis.sh start PORT DIR   starts it and waits (deadline 10 s) until it answers PING
#   redis.sh stop PORT DIR    stops it
set -euo pipefail
action=$1 port=$2 dir=$3

case "$action" in
start)
    mkdir -p "$dir"
    redis-server --port "$port" --bind "${BIND_ADDRESS:-127.0.0.1}" --daemonize yes --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
        --protected-mode no
    for _ in $(seq 1 100); do
        redis-cli -h "${BIND_ADDRESS:-127.0.0.1}" -p "$port" ping 2>/dev/null | grep -q PONG && exit 0
        sleep 0.1
    done
    echo "redis-server on port $port did not answer within 10 s:" >&2
    tail -20 "$dir/redis.log" >&2 || true
    exit 1
    ;;
stop)
    redis-cli -h "${BIND_ADDRESS:-127.0.0.1}" -p "$port" shutdown nosave >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start|stop PORT DIR" >&2
    exit 2
    ;;
esac
