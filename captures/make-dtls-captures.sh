#!/usr/bin/env bash
# Records DTLS handshakes between openssl s_server and s_client on loopback
# (openssl 3, tcpdump). Each capture holds one association:
#   dtls/dtls12-srtp.pcap      DTLS 1.2, ECDHE-ECDSA AES-128-GCM, a cookie
#                              exchange (HelloVerifyRequest) and use_srtp
#   dtls/dtls12-fragmented.pcap DTLS 1.2 with a 500-byte MTU: the certificate
#                              and other messages cut into fragments
#   dtls/dtls10-rsa.pcap       DTLS 1.0 with RSA key transport (weak on purpose)
# Identities are synthetic, made here and thrown away.
# Usage: captures/make-dtls-captures.sh
source "$(dirname "$0")/recording.sh"
port=44440

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=pacs.example.test" -addext "subjectAltName=DNS:pacs.example.test" \
    -keyout ec.key -out ec.pem 2>/dev/null
openssl req -x509 -newkey rsa:3072 -nodes -days 400 \
    -subj "/CN=vpn.example.test" -addext "subjectAltName=DNS:vpn.example.test" \
    -keyout rsa.key -out rsa.pem 2>/dev/null

# record NAME SERVER_ARGS -- CLIENT_ARGS
record() {
    local name=$1; shift
    split_at_dashes "$@"
    start_recording "$port" udp
    # s_server ends when its standard input does: keep it open.
    openssl s_server -accept "127.0.0.1:$port" -naccept 1 "${server_args[@]}" >server.log 2>&1 < <(sleep 20) &
    local server=$!
    pids+=("$server")
    for _ in $(seq 50); do ss -lun | grep -q ":$port " && break; sleep 0.1; done
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$port" "${client_args[@]}" >client.log 2>&1 || true
    sleep 0.3
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    stop_recording "dtls/$name"
    port=$((port + 1))
}

record dtls12-srtp.pcap -dtls1_2 -listen -cert ec.pem -key ec.key -use_srtp SRTP_AES128_CM_SHA1_80 -- \
    -dtls1_2 -servername pacs.example.test -use_srtp SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80
record dtls12-fragmented.pcap -dtls1_2 -mtu 500 -cert rsa.pem -key rsa.key -- \
    -dtls1_2 -mtu 500 -servername vpn.example.test
record dtls10-rsa.pcap -dtls1 -cert rsa.pem -key rsa.key -cipher 'AES128-SHA:@SECLEVEL=0' -- \
    -dtls1 -cipher 'AES128-SHA:@SECLEVEL=0' -servername vpn.example.test
