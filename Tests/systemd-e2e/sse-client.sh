#!/bin/sh
# A browser's EventSource, as far as this test needs one: keeps one stream open and, when it
# ends, reconnects sending the last `id:` it saw as Last-Event-ID (like EventSource does).
# Runs inside the container as a transient unit (systemd-run); the test reads its files.
#
# Usage: sse-client.sh URL OUT LOG
#   OUT  the raw stream bytes of every connection, appended
#   LOG  one line per connect / close, with the Last-Event-ID sent
# While the file $HOLD (default /var/lib/sse-e2e/hold) exists the client does not reconnect:
# the test uses it to keep the "browser" away while it publishes events it must then replay.
url=$1 out=$2 log=$3
hold=${HOLD:-/var/lib/sse-e2e/hold}
n=0
: >>"$out"
while :; do
    while [ -e "$hold" ]; do sleep 0.05; done
    last=$(sed -n 's/^id: *//p' "$out" | tr -d '\r' | tail -n 1)
    n=$((n + 1))
    echo "connect $n last-event-id=${last:-none}" >>"$log"
    if [ -n "$last" ]; then
        curl -sSN --no-buffer -H "Last-Event-ID: $last" "$url" >>"$out" 2>>"$log"
    else
        curl -sSN --no-buffer "$url" >>"$out" 2>>"$log"
    fi
    echo "closed $n rc=$?" >>"$log"
    sleep 0.2   # the stream's retry: hint, shortened
done
