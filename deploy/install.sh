#!/usr/bin/env bash
# Installs sse-relay as a systemd service on a Debian 12 host (or into a root directory).
#
#   deploy/install.sh                     build (swift build -c release), install, start
#   deploy/install.sh --binary PATH       install a prebuilt binary instead of building
#   deploy/install.sh --no-start          install and daemon-reload, but enable/start nothing
#   deploy/install.sh --root DIR          install into DIR (a container image root): no live
#                                         systemctl; units are enabled with `systemctl --root`
#                                         unless --no-start is given
#
# What it installs (the same paths under --root):
#   /usr/local/bin/sse-relay
#   /etc/systemd/system/sse-relay.service, sse-relay-http.socket, sse-relay-publish.socket,
#   sse-relay-metrics.socket
#   /etc/sysusers.d/sse-relay.conf   (user sse-relay, group sse-relay-publishers)
#   /etc/tmpfiles.d/sse-relay.conf   (/run/sse-relay, /etc/sse-relay)
#   /etc/sse-relay/config.yaml       from deploy/config.example.yaml, never overwritten
# plus the runtime libraries from Debian (libhiredis0.14, librabbitmq4, libsystemd0).
#
# Idempotent: running it again upgrades the binary and units, keeps the configuration, and
# restarts the service if it was running (systemctl restart; the sockets stay open).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
runtime_packages=(libhiredis0.14 librabbitmq4 libsystemd0 libstdc++6 libgcc-s1)
units=(sse-relay-http.socket sse-relay-publish.socket sse-relay-metrics.socket sse-relay.service)

binary="" root="" start=1

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }
step() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift 2 ;;
        --binary=*) binary=${1#*=}; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
        --root=*) root=${1#*=}; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
    [ "$root" != "/" ] || root=""
fi
[ "$(id -u)" -eq 0 ] || die "run as root (it writes /usr/local/bin, /etc and talks to systemd)"

# -- the binary ------------------------------------------------------------------------
if [ -n "$binary" ]; then
    [ -f "$binary" ] && [ -x "$binary" ] || die "--binary $binary is not an executable file"
else
    command -v swift >/dev/null ||
        die "swift is not on PATH: install a Swift 6 toolchain, or pass --binary PATH (a binary built with --static-swift-stdlib)"
    step "building sse-relay (release, static Swift runtime)"
    bash "$repo/deploy/apt-packages.sh" pkg-config libhiredis-dev librabbitmq-dev libsystemd-dev
    (cd "$repo" && swift build -c release --static-swift-stdlib --product sse-relay)
    binary="$repo/.build/release/sse-relay"
fi

# -- runtime libraries -------------------------------------------------------------------
if [ -z "$root" ]; then
    step "runtime packages: ${runtime_packages[*]}"
    bash "$repo/deploy/apt-packages.sh" "${runtime_packages[@]}"
elif [ ! -f "$root/var/lib/dpkg/status" ]; then
    echo "    $root has no dpkg database: make sure it provides ${runtime_packages[*]} (or their libraries)" >&2
else
    missing=()
    for package in "${runtime_packages[@]}"; do
        dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' "$package" 2>/dev/null |
            grep -q "install ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ -x "$root/usr/bin/apt-get" ] ||
            die "$root lacks ${missing[*]} and has no apt-get: add them when building the root (mmdebstrap --include=...)"
        step "runtime packages into $root: ${missing[*]}"
        chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
            die "could not install ${missing[*]} in $root (add them when building the root: mmdebstrap --include=...)"
    fi
fi

# -- files -------------------------------------------------------------------------------
step "installing into ${root:-/}"
install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/etc/sysusers.d" "$root/etc/tmpfiles.d"
# Copy then rename, so a running relay keeps its (old) executable until it restarts.
install -m 0755 "$binary" "$root/usr/local/bin/.sse-relay.new"
mv -f "$root/usr/local/bin/.sse-relay.new" "$root/usr/local/bin/sse-relay"
for unit in "${units[@]}"; do
    install -m 0644 "$repo/systemd/$unit" "$root/etc/systemd/system/$unit"
done
install -m 0644 "$repo/systemd/sse-relay.sysusers" "$root/etc/sysusers.d/sse-relay.conf"
install -m 0644 "$repo/systemd/sse-relay.tmpfiles" "$root/etc/tmpfiles.d/sse-relay.conf"

step "user sse-relay and group sse-relay-publishers (systemd-sysusers)"
if [ -n "$root" ]; then
    systemd-sysusers --root="$root" "$root/etc/sysusers.d/sse-relay.conf"
else
    systemd-sysusers /etc/sysusers.d/sse-relay.conf
fi

if [ -z "$root" ]; then
    step "/run/sse-relay and /etc/sse-relay (systemd-tmpfiles)"
    systemd-tmpfiles --create /etc/tmpfiles.d/sse-relay.conf
else
    # /run is created at boot (systemd-tmpfiles-setup.service); only /etc belongs in an image.
    install -d -m 0750 "$root/etc/sse-relay"
    chown "root:$(awk -F: '$1 == "sse-relay" { print $3 }' "$root/etc/group")" "$root/etc/sse-relay"
fi

config="$root/etc/sse-relay/config.yaml"
if [ -e "$config" ]; then
    echo "    keeping the existing $config (the new example is $repo/deploy/config.example.yaml)"
else
    # Owned by root, readable by the relay's group: the relay reads it, never writes it.
    install -m 0640 "$repo/deploy/config.example.yaml" "$config"
    chgrp "$(awk -F: '$1 == "sse-relay" { print $3 }' "$root/etc/group")" "$config"
    echo "    wrote $config (edit it, then: systemctl reload sse-relay)"
fi

# -- systemd -----------------------------------------------------------------------------
if [ -n "$root" ]; then
    if [ "$start" -eq 1 ]; then
        step "enabling ${units[*]} in $root (systemctl --root)"
        systemctl --root="$root" enable "${units[@]}"
    fi
    echo "done: sse-relay installed into $root"
    exit 0
fi

[ -d /run/systemd/system ] ||
    die "systemd is not running on this host (files are installed; use --root DIR for an image)"
step "systemctl daemon-reload"
systemctl daemon-reload
if [ "$start" -eq 0 ]; then
    echo "done: installed, not started (--no-start). Start with:"
    echo "    systemctl enable --now ${units[*]}"
    exit 0
fi
was_active=0
systemctl is-active --quiet sse-relay.service && was_active=1
step "systemctl enable --now ${units[*]}"
systemctl enable --now "${units[@]}"
if [ "$was_active" -eq 1 ]; then
    step "restarting sse-relay.service (new binary and units; the sockets stay open)"
    systemctl restart sse-relay.service
fi
systemctl --no-pager --lines=0 status sse-relay.service || true
echo "done: sse-relay is running. Subscribers: see sse-relay-http.socket; publish socket: /run/sse-relay/publish.sock"
echo "      publishers must be in group sse-relay-publishers (usermod -aG sse-relay-publishers USER)"
