#!/usr/bin/env bash
# Records captures/linux-sll2.pcap: one TLS 1.2 handshake recorded with
# `tcpdump -i any`, which libpcap 1.10 writes as Linux cooked capture v2
# (LINKTYPE_LINUX_SLL2, 276), inside a network namespace made here.
# Needs root, iproute2, openssl and tcpdump.
#
#   bash captures/make-sll2-capture.sh
#
# The namespace is deleted and the processes started here stopped by PID.
source "$(dirname "$0")/namespaces.sh"
ns=tlsaudit-sll2
make_namespace "$ns"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sll2.key -out sll2.pem -days 400 \
    -subj "/CN=pacs.example.test" -addext "subjectAltName=DNS:pacs.example.test" 2>/dev/null

ns_start_recording "$ns" any tcp port 4443

ip netns exec "$ns" timeout 20 openssl s_server -accept 127.0.0.1:4443 -naccept 1 -www -cert sll2.pem -key sll2.key \
    >server.log 2>&1 &
pids+=("$!")
for _ in $(seq 50); do ip netns exec "$ns" ss -ltn | grep -q ":4443 " && break; sleep 0.1; done
echo | ip netns exec "$ns" timeout 10 openssl s_client -connect 127.0.0.1:4443 -servername pacs.example.test -tls1_2 \
    >client.log 2>&1 || true

ns_stop_recording linux-sll2.pcap
