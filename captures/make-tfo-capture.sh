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
source "$(dirname "$0")/namespaces.sh"
ns=tlsaudit-tfo
make_namespace "$ns"
in_ns() { ip netns exec "$ns" "$@"; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout tfo.key -out tfo.pem -days 3650 \
    -subj "/CN=tfo.tlsaudit.test" -addext "subjectAltName=DNS:tfo.tlsaudit.test" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null

ns_start_recording "$ns" lo tcp

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

ns_stop_recording tcp-fast-open.pcap
