#!/usr/bin/env bash
# Publishes one event to an sse-relay client over the relay's Unix socket, with curl.
#
#   publish.sh SOCKET CLIENT_ID DATA [EVENT_NAME]
#   publish.sh /run/sse-relay/publish.sock 42 'hello'
#
# DATA is sent as text/plain, byte for byte, so it needs no JSON escaping; the event name
# goes in the query (?event=). Prints the relay's JSON delivery report; exits 1 on an error
# status (e.g. 404 client_not_connected: the report still says the event was kept for
# replay), 2 on usage or connection errors.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: $0 SOCKET CLIENT_ID DATA [EVENT_NAME]" >&2
    exit 2
fi
socket=$1 client=$2 data=$3 event=${4:-}

# Percent-encodes every byte outside the unreserved set.
urlencode() {
    local LC_ALL=C text=$1 out="" char i
    for ((i = 0; i < ${#text}; i++)); do
        char=${text:i:1}
        case "$char" in
            [A-Za-z0-9._~-]) out+=$char ;;
            *) out+=$(printf '%%%02X' "'$char") ;;
        esac
    done
    printf '%s' "$out"
}

# The host name only fills the Host header: curl connects to the socket.
url="http://localhost/v1/clients/$(urlencode "$client")/events"
[ -z "$event" ] || url+="?event=$(urlencode "$event")"

# -w appends the status on a line of its own, for the exit code.
if ! output=$(printf '%s' "$data" | curl --silent --show-error --unix-socket "$socket" \
        -H 'Content-Type: text/plain; charset=utf-8' --data-binary @- \
        -w '\n%{http_code}' "$url"); then
    echo "publish: cannot reach $socket" >&2
    exit 2
fi
status=${output##*$'\n'}
printf '%s\n' "${output%$'\n'*}"
if [ "$status" -ge 400 ]; then
    echo "publish: HTTP $status" >&2
    exit 1
fi
