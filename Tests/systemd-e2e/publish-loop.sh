#!/bin/sh
# Publishes COUNT text events PREFIX-1 .. PREFIX-COUNT to one client through the publish
# socket, one request each, about INTERVAL seconds apart, and appends one line per request:
#   PREFIX-N <response body> HTTP=<status>
# then "done". Runs inside the container as the publishing user (systemd-run -p User=app).
# Usage: publish-loop.sh CLIENT PREFIX COUNT INTERVAL OUT
client=$1 prefix=$2 count=$3 interval=$4 out=$5
socket=${SSE_RELAY_PUBLISH_SOCKET:-/run/sse-relay/publish.sock}
i=1
while [ "$i" -le "$count" ]; do
    r=$(curl -sS --max-time 30 --unix-socket "$socket" -H 'Content-Type: text/plain' \
        --data-binary "$prefix-$i" -w ' HTTP=%{http_code}' \
        "http://relay/v1/clients/$client/events" 2>&1)
    echo "$prefix-$i $r" >>"$out"
    i=$((i + 1))
    sleep "$interval"
done
echo done >>"$out"
