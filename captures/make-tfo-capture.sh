#!/usr/bin/env bash
# Records captures/tcp-fast-open.pcap: two TLS 1.3 connections from curl to
# openssl s_server with TCP Fast Open, inside a network namespace made here
# (TFO is switched on per namespace, never on the host):
#   port 4491: the server takes the ClientHello carried in the SYN;
#   port 4492: the server does not take SYN data, so the client sends the
#              ClientHello again after the handshake.
# Needs root, iproute2, openssl, curl and tcpdump.
#
#   bash captures/make-tfo-capture.sh
#
# The namespace, servers and tcpdump are removed or stopped by name and PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ns=tlsaudit-tfo
work=$(mktemp -d)
chmod 755 "$work"  # tcpdump writes there after dropping to its own user
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    [[ -n "${KEEP_WORK:-}" ]] && echo "work files kept in $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout tfo.key -out tfo.pem -days 3650 \
    -subj "/CN=tfo.tlsaudit.test" -addext "subjectAltName=DNS:tfo.tlsaudit.test" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null

# `ip netns exec` may fork: the shell inside writes its own PID, then becomes tcpdump.
in_ns sh -c 'echo $$ >"$1/tcpdump.pid"; exec tcpdump -i lo -s 0 -U --immediate-mode -w "$1/capture.pcap" tcp' \
    sh "$work" 2>"$work/tcpdump.log" &
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
tcpdump_pid=$(cat "$work/tcpdump.pid")
pids+=("$tcpdump_pid")

# session PORT SYSCTL: tcp_fastopen flags for the namespace, then one connection.
session() {
    local port=$1 flags=$2
    in_ns sysctl -q -w net.ipv4.tcp_fastopen="$flags"
    in_ns timeout 20 openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www -cert tfo.pem -key tfo.key \
        >"$work/server-$port.log" 2>&1 &
    local server=$!
    pids+=("$server")
    for _ in $(seq 50); do in_ns ss -ltn | grep -q ":$port " && break; sleep 0.1; done
    in_ns timeout 10 curl -sk --tcp-fastopen --resolve "tfo.tlsaudit.test:$port:127.0.0.1" \
        "https://tfo.tlsaudit.test:$port/" -o /dev/null || true
    wait "$server" 2>/dev/null || true
}

# 0x607: client and server on, data in the SYN without a cookie, on every listener.
session 4491 0x607
# 0x5: the client still sends data in its SYN; the server has TFO off.
session 4492 0x5

sleep 0.5
kill -TERM "$tcpdump_pid"
for _ in $(seq 50); do kill -0 "$tcpdump_pid" 2>/dev/null || break; sleep 0.1; done
cp "$work/capture.pcap" "$here/tcp-fast-open.pcap"
echo "captures/tcp-fast-open.pcap: $(tcpdump -nr "$here/tcp-fast-open.pcap" 2>/dev/null | wc -l) packets"
