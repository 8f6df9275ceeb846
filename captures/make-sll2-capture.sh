#!/usr/bin/env bash
# Records captures/linux-sll2.pcap: one TLS 1.2 handshake recorded with
# `tcpdump -i any`, which libpcap 1.10 writes as Linux cooked capture v2
# (LINKTYPE_LINUX_SLL2, 276), inside a network namespace made here.
# Needs root, iproute2, openssl and tcpdump.
#
#   bash captures/make-sll2-capture.sh
#
# The namespace is deleted and the processes started here stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ns=tlsaudit-sll2
work=$(mktemp -d)
chmod 755 "$work"  # tcpdump writes there after dropping to its own user
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

ip netns add "$ns"
ip -n "$ns" link set lo up

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sll2.key -out sll2.pem -days 400 \
    -subj "/CN=pacs.example.test" -addext "subjectAltName=DNS:pacs.example.test" 2>/dev/null

# `ip netns exec` may fork: the shell inside writes its own PID, then becomes tcpdump.
ip netns exec "$ns" sh -c 'echo $$ >"$1/tcpdump.pid"; exec tcpdump -i any -s 0 -U --immediate-mode -w "$1/capture.pcap" tcp port 4443' \
    sh "$work" 2>"$work/tcpdump.log" &
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
tcpdump_pid=$(cat "$work/tcpdump.pid")
pids+=("$tcpdump_pid")

ip netns exec "$ns" timeout 20 openssl s_server -accept 127.0.0.1:4443 -naccept 1 -www -cert sll2.pem -key sll2.key \
    >server.log 2>&1 &
pids+=("$!")
for _ in $(seq 50); do ip netns exec "$ns" ss -ltn | grep -q ":4443 " && break; sleep 0.1; done
echo | ip netns exec "$ns" timeout 10 openssl s_client -connect 127.0.0.1:4443 -servername pacs.example.test -tls1_2 \
    >client.log 2>&1 || true

sleep 0.5
kill -TERM "$tcpdump_pid"
for _ in $(seq 50); do kill -0 "$tcpdump_pid" 2>/dev/null || break; sleep 0.1; done
cp capture.pcap "$here/linux-sll2.pcap"
echo "captures/linux-sll2.pcap: $(tcpdump -nr "$here/linux-sll2.pcap" 2>/dev/null | wc -l) packets"
