#!/usr/bin/env bash
# A private rabbitmq-server for the integration tests, run as root without systemd.
#
#   rabbitmq.sh start PORT DIR   boots node sse-relay-test-PORT@localhost on 127.0.0.1:PORT,
#                                keeping its state and logs in DIR; silent on success
#   rabbitmq.sh stop PORT DIR    stops that node
#
# Why it looks like this (see shared/TESTING-NOTES.md):
# - /usr/lib/rabbitmq/bin/rabbitmq-server, not the /usr/sbin wrapper: the wrapper switches to
#   the rabbitmq user and its Erlang cookie, and rabbitmqctl run as root could then not stop it.
# - NAME@localhost: a node name with an unresolvable host fails only after ~50 s, exit code 0.
# - The distribution port is PORT+20000 so that several test brokers can run side by side.
# - An empty plugin list boots faster; loopback_users = none lets guest log in over 127.0.0.1.
# - Exit codes of the server prove nothing: readiness is the AMQP port accepting, within 60 s.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop PORT DIR" >&2
    exit 2
}
[ $# -eq 3 ] || usage
command=$1
port=$2
dir=$3
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 45535 ] || {
    echo "rabbitmq.sh: PORT must be 1-45535 (the distribution port is PORT+20000)" >&2
    exit 2
}

bin=/usr/lib/rabbitmq/bin
node="sse-relay-test-$port@localhost"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Erlang writes crash dumps and Mnesia files into the working directory: keep them in DIR.
cd "$dir"

export RABBITMQ_NODENAME="$node"
# BIND_ADDRESS: another address than loopback, e.g. inside a test network namespace.
address=${BIND_ADDRESS:-127.0.0.1}
export RABBITMQ_NODE_IP_ADDRESS=$address
export RABBITMQ_NODE_PORT="$port"
export RABBITMQ_DIST_PORT=$((port + 20000))
export RABBITMQ_MNESIA_BASE="$dir/mnesia"
export RABBITMQ_LOG_BASE="$dir/log"
export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
# No scheduler busy-waiting: on a machine whose cores the broker shares with the relays and
# the test (RabbitMQ's own advice for shared hosts), spinning Erlang schedulers take CPU the
# others are waiting for. The caller may pass its own flags instead.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-+sbwt none +sbwtdcpu none +sbwtdio none}

port_open() {
    (exec 3<>"/dev/tcp/$address/$port") 2>/dev/null
}

log_tail() {
    echo "--- $dir/server.out" >&2
    tail -n 30 "$dir/server.out" >&2 2>/dev/null || true
    for log in "$dir"/log/*.log; do
        [ -f "$log" ] || continue
        echo "--- $log" >&2
        tail -n 30 "$log" >&2
    done
}

start() {
    if [ ! -x "$bin/rabbitmq-server" ]; then
        echo "rabbitmq.sh: $bin/rabbitmq-server not found (apt-get install rabbitmq-server)" >&2
        exit 1
    fi
    if port_open; then
        echo "rabbitmq.sh: something already listens on $address:$port" >&2
        exit 1
    fi
    mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
    echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    printf 'listeners.tcp.default = %s:%s\nloopback_users = none\n' "$address" "$port" >"$RABBITMQ_CONFIG_FILE"
    : >"$RABBITMQ_CONF_ENV_FILE"

    # setsid: the broker must outlive this script and not receive the caller's terminal signals.
    setsid "$bin/rabbitmq-server" >"$dir/server.out" 2>&1 </dev/null &
    local launcher=$!

    local deadline=$((SECONDS + 60))
    until port_open; do
        if ! kill -0 "$launcher" 2>/dev/null; then
            echo "rabbitmq.sh: rabbitmq-server exited before accepting connections on port $port" >&2
            log_tail
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "rabbitmq.sh: rabbitmq-server did not accept connections on port $port within 60 s" >&2
            log_tail
            kill "$launcher" 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
}

stop() {
    if "$bin/rabbitmqctl" -q -n "$node" shutdown >"$dir/shutdown.out" 2>&1; then
        return 0
    fi
    # rabbitmqctl could not reach the node (cookie, half-booted node): fall back to its pid.
    local pid
    pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then
        local deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
        return 0
    fi
    if port_open; then
        echo "rabbitmq.sh: could not stop node $node" >&2
        cat "$dir/shutdown.out" >&2
        exit 1
    fi
}

case $command in
start) start ;;
stop) stop ;;
*) usage ;;
esac
