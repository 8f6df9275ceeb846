#!/usr/bin/env bash
# Records MS-SQL's way of starting TLS: a TDS PRELOGIN exchange that asks
# for encryption, then the TLS handshake inside PRELOGIN packets, then bare
# TLS records (captures/tools/tds_peer.py: Python's ssl module, OpenSSL,
# through memory BIOs; TDS framing from MS-TDS). Debian ships no MS-SQL
# server, so both ends are that script; the TLS is OpenSSL's own.
#   starttls/mssql-tls13.pcap  TLS 1.3 in the PRELOGIN packets
#   starttls/mssql-tls12.pcap  TLS 1.2: the client's ChangeCipherSpec and
#                              Finished are wrapped too
# Usage: captures/make-mssql-captures.sh
source "$(dirname "$0")/recording.sh"
peer="$here/tools/tds_peer.py"
port=14433

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=ehr-db.example.test" -addext "subjectAltName=DNS:ehr-db.example.test" \
    -keyout key.pem -out cert.pem 2>/dev/null

# record NAME [1.2]
record() {
    start_recording "$port"
    python3 "$peer" server "$port" cert.pem key.pem &
    local server=$!
    pids+=("$server")
    wait_listening "$port"
    python3 "$peer" client "$port" "${@:2}"
    wait "$server" || true
    stop_recording "starttls/$1"
    port=$((port + 1))
}

record mssql-tls13.pcap
record mssql-tls12.pcap 1.2
