#!/usr/bin/env bash
# Records MS-SQL's way of starting TLS: a TDS PRELOGIN exchange that asks
# for encryption, then the TLS handshake inside PRELOGIN packets, then bare
# TLS records (captures/tools/tds_peer.py: Python's ssl module, OpenSSL,
# through memory BIOs; TDS framing from MS-TDS). Debian ships no MS-SQL
# server, so that script is the server; the client is the script or
# Debian's FreeTDS (apt-get install freetds-bin), which gives up after the
# handshake since the script answers no login.
#   starttls/mssql-tls13.pcap    TLS 1.3 in the PRELOGIN packets
#   starttls/mssql-tls12.pcap    TLS 1.2: the client's ChangeCipherSpec and
#                                Finished are wrapped too
#   starttls/mssql-freetds.pcap  FreeTDS's tsql, TDS 7.4, encryption required
#   starttls/mssql-login-only.pcap  tsql asks for encryption, the server
#                                answers ENCRYPT_OFF: TLS carries the LOGIN7
#                                only, the session goes on in clear
#   cleartext/mssql-login.pcap   tsql with encryption off, the server
#                                answers ENCRYPT_NOT_SUP: the LOGIN7 (its
#                                password only obfuscated) in clear
# The servers listen on 14433 to 14437 (the tests tell tshark those are TDS).
# Usage: captures/make-mssql-captures.sh
source "$(dirname "$0")/recording.sh"
peer="$here/tools/tds_peer.py"
port=14433

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=ehr-db.example.test" -addext "subjectAltName=DNS:ehr-db.example.test" \
    -keyout key.pem -out cert.pem 2>/dev/null

# record NAME ENCRYPTION CLIENT...: the script's server answering the
# PRELOGIN with ENCRYPTION (on, login-only, none), and a client command.
record() {
    start_recording "$port"
    python3 "$peer" server "$port" cert.pem key.pem "$2" 2>server.log &
    local server=$!
    pids+=("$server")
    wait_listening "$port"
    "${@:3}" </dev/null >client.log 2>&1 || true
    wait "$server" || true
    stop_recording "starttls/$1"
    port=$((port + 1))
}

record mssql-tls13.pcap on python3 "$peer" client "$port"
record mssql-tls12.pcap on python3 "$peer" client "$port" 1.2

# tsql_config ENCRYPTION: FreeTDS's configuration for the next port.
tsql_config() {
    cat > freetds.conf <<CONF
[ehrdb]
	host = 127.0.0.1
	port = $port
	tds version = 7.4
	encryption = $1
CONF
}
export FREETDSCONF="$work/freetds.conf"
tsql_config require
record mssql-freetds.pcap on timeout 10 tsql -S ehrdb -U synthetic -P synthetic
tsql_config request
record mssql-login-only.pcap login-only timeout 10 tsql -S ehrdb -U synthetic -P PLANTED-PASSWORD-login
tsql_config off
record ../cleartext/mssql-login.pcap none timeout 10 tsql -S ehrdb -U synthetic -P PLANTED-PASSWORD-login
