#!/usr/bin/env bash
# Records captures/kex/*.pcap: one handshake per key-exchange family whose
# ServerKeyExchange has its own layout, between openssl s_server and s_client
# (gnutls-serv and gnutls-cli for SRP) on loopback while tcpdump records. The
# PSK identity hint and the SRP user are synthetic; the SRP group is RFC 5054's
# 1536-bit one on purpose (a weak finite-field group), the rest are defaults.
# Needs root (tcpdump on lo), openssl, gnutls-bin and tcpdump.
#
#   bash captures/make-kex-captures.sh
#
# The servers and tcpdump are stopped by their PIDs; traffic stays on 127.0.0.1.
source "$(dirname "$0")/recording.sh"
mkdir -p "$here/kex"

# A throwaway self-signed identity for the suites that sign with a certificate.
openssl req -x509 -newkey rsa:2048 -nodes -keyout kex.key -out kex.pem -days 3650 \
    -subj "/CN=kex.tlsaudit.test" -addext "subjectAltName=DNS:kex.tlsaudit.test" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null
# The SRP verifier of user "ward7" in group 2 of srptool's list: RFC 5054's 1536 bits.
srptool --create-conf=srp.conf >/dev/null
srptool --passwd srp.passwd --passwd-conf srp.conf -u ward7 --index 2 <<<"synthetic-srp-pass" >/dev/null 2>&1

psk=6c6f6f706261636b2d6f6e6c792d70736b   # "loopback-only-psk"

# session NAME PORT SERVER_ARGS CLIENT_ARGS: one handshake and a request.
session() {
    local name=$1 port=$2 server_args=$3 client_args=$4
    start_recording "$port"
    # shellcheck disable=SC2086
    timeout 20 openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www $server_args >"$work/$name.server.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_listening "$port"
    # shellcheck disable=SC2086
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -quiet \
        -servername kex.tlsaudit.test $client_args >"$work/$name.client.log" 2>&1 || true
    wait "$server" 2>/dev/null || true
    stop_recording "kex/$name.pcap"
}

# srp_session NAME PORT KX: SRP with gnutls, whose s_server counterpart in
# openssl 3.0 fails to look the user up.
srp_session() {
    local name=$1 port=$2 priority="NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+$3"
    start_recording "$port"
    gnutls-serv -p "$port" --srppasswd srp.passwd --srppasswdconf srp.conf --x509certfile kex.pem \
        --x509keyfile kex.key --priority "$priority" >"$work/$name.server.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_listening "$port"
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 gnutls-cli -p "$port" 127.0.0.1 --insecure \
        --srpusername ward7 --srppasswd synthetic-srp-pass --priority "$priority" >"$work/$name.client.log" 2>&1 || true
    kill "$server"
    wait "$server" 2>/dev/null || true
    stop_recording "kex/$name.pcap"
}

cert="-cert kex.pem -key kex.key"
tls12="-tls1_2"
session tls12-dhe-psk 4481 "$tls12 -nocert -psk $psk -psk_hint ward-7-hint -cipher DHE-PSK-AES128-GCM-SHA256" \
    "$tls12 -psk $psk -cipher DHE-PSK-AES128-GCM-SHA256"
session tls12-ecdhe-psk 4482 "$tls12 -nocert -psk $psk -psk_hint ward-7-hint -cipher ECDHE-PSK-AES128-CBC-SHA256" \
    "$tls12 -psk $psk -cipher ECDHE-PSK-AES128-CBC-SHA256"
session tls12-psk 4483 "$tls12 -nocert -psk $psk -psk_hint ward-7-hint -cipher PSK-AES128-GCM-SHA256" \
    "$tls12 -psk $psk -cipher PSK-AES128-GCM-SHA256"
session tls12-rsa-psk 4484 "$tls12 $cert -psk $psk -psk_hint ward-7-hint -cipher RSA-PSK-AES128-GCM-SHA256" \
    "$tls12 -psk $psk -cipher RSA-PSK-AES128-GCM-SHA256"
srp_session tls12-srp 4485 SRP
srp_session tls12-srp-rsa 4486 SRP-RSA
session tls12-ecdh-anon 4487 "$tls12 -nocert -cipher AECDH-AES128-SHA:@SECLEVEL=0" \
    "$tls12 -cipher AECDH-AES128-SHA:@SECLEVEL=0"
# Before TLS 1.2 the signature names no scheme.
session tls10-ecdhe-rsa 4488 "-tls1 $cert -cipher ECDHE-RSA-AES128-SHA:@SECLEVEL=0" \
    "-tls1 -cipher ECDHE-RSA-AES128-SHA:@SECLEVEL=0"
session tls11-dhe-rsa 4489 "-tls1_1 $cert -cipher DHE-RSA-AES128-SHA:@SECLEVEL=0" \
    "-tls1_1 -cipher DHE-RSA-AES128-SHA:@SECLEVEL=0"
