#!/usr/bin/env bash
# Installs Debian 12 packages, as root or through sudo, retrying while another apt holds
# the dpkg lock (fresh machines often run an update at boot).
# Usage: deploy/apt-packages.sh PACKAGE...
set -euo pipefail

missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5 6; do
    if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        exit 0
    fi
    echo "apt-get failed (attempt $attempt); retrying in 5 s (the dpkg lock may be held)" >&2
    sleep 5
done
echo "could not install: ${missing[*]}" >&2
exit 1
