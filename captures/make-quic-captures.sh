#!/usr/bin/env bash
# Records QUIC handshakes between aioquic's client and server on loopback
# (pip install aioquic; tcpdump). Each capture holds one connection but
# the last:
#   quic/v1.pcap            QUIC v1, SNI ehr.example.test
#   quic/v2.pcap            QUIC v2 (RFC 9369)
#   quic/long-hello.pcap    a ClientHello spread over several Initial packets
#   quic/retry.pcap         the server demands address validation (Retry)
#   quic/version-negotiation.pcap  the client tries v2, the server offers
#                           only v1 and answers with a Version Negotiation
#   quic/same-port-twice.pcap  two connections one after the other from the
#                           same client port: two sessions, not one
# The certificate is a throwaway self-signed one (QUIC encrypts it anyway).
# Usage: captures/make-quic-captures.sh [PYTHON]  (a Python with aioquic)
source "$(dirname "$0")/recording.sh"
python=${1:-python3}
peer="$here/tools/quic_peer.py"
port=44330

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=ehr.example.test" -keyout key.pem -out cert.pem 2>/dev/null

# record NAME SERVER_ARGS -- CLIENT_ARGS
record() {
    local name=$1; shift
    split_at_dashes "$@"
    start_recording "$port" udp
    "$python" "$peer" server --port "$port" --cert cert.pem --key key.pem "${server_args[@]}" &
    local server=$!
    pids+=("$server")
    for _ in $(seq 50); do ss -lun | grep -q ":$port " && break; sleep 0.1; done
    "$python" "$peer" client --port "$port" "${client_args[@]}"
    kill "$server"
    wait "$server" 2>/dev/null || true
    stop_recording "quic/$name"
    port=$((port + 1))
}

record v1.pcap --versions 1 -- --versions 1
record v2.pcap --versions 2,1 -- --versions 2
record long-hello.pcap --versions 1 -- --versions 1 --long-hello --sni portal.example.test
record retry.pcap --versions 1 --retry -- --versions 1 --sni pacs.example.test
record version-negotiation.pcap --versions 1 -- --versions 2,1 --sni lab.example.test
record same-port-twice.pcap --versions 1 -- --versions 1 --connections 2 --local-port 54321 --sni ris.example.test
