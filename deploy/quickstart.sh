#!/usr/bin/env bash
# Builds sse-relay and runs a standalone relay in the foreground (no Redis, no RabbitMQ).
# Needs Swift 6 on PATH (swift.org toolchain); installs the C libraries it links with.
#   SSE_RELAY_LISTEN  subscriber address (default 127.0.0.1:8080)
#   SSE_RELAY_PUBLISH_SOCKET  publish socket (default /tmp/sse-relay.sock)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null || { echo "swift is not on PATH: install a Swift 6 toolchain first (https://swift.org/install)" >&2; exit 1; }
bash deploy/apt-packages.sh pkg-config libhiredis-dev librabbitmq-dev libsystemd-dev curl
swift build -c release --product sse-relay
export SSE_RELAY_LISTEN="${SSE_RELAY_LISTEN:-127.0.0.1:8080}"
export SSE_RELAY_PUBLISH_SOCKET="${SSE_RELAY_PUBLISH_SOCKET:-/tmp/sse-relay.sock}"
echo "binary: $(pwd)/.build/release/sse-relay"
exec .build/release/sse-relay serve
