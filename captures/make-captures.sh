#!/usr/bin/env bash
# Records the bundled captures: real TLS stacks (openssl s_server/s_client,
# gnutls-serv/gnutls-cli, curl) talking over loopback while tcpdump records.
# Needs root (tcpdump on lo) and: openssl tcpdump gnutls-bin iproute2 python3,
# and a C compiler with libgnutls28-dev (the False Start client in tools/).
#
#   bash captures/make-captures.sh            # rewrites captures/*.pcap
#
# Every server and tcpdump this script starts is stopped by its PID; all
# traffic stays on 127.0.0.1 and ::1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n "${KEEP_WORK:-}" ]] && echo "work files kept in $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# --- certificates -------------------------------------------------------
cd "$work"
cat > ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:tlsaudit.test, DNS:*.tlsaudit.test, DNS:localhost, IP:127.0.0.1, IP:::1
authorityInfoAccess = OCSP;URI:http://ocsp.tlsaudit.test/, caIssuers;URI:http://pki.tlsaudit.test/ca.crt
crlDistributionPoints = URI:http://pki.tlsaudit.test/ca.crl
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[selfsigned_ext]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:expired.tlsaudit.test
[selfsigned_valid_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:tlsaudit.test
EOF
touch index.txt
echo 1000 > serial
q() { "$@" >/dev/null 2>&1; }

# Test CA and a server certificate it signs.
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
    -subj "/O=tlsaudit test/CN=tlsaudit Test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
q openssl req -new -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr -out server.pem \
    -extensions server_ext -days 825 -notext
# A client certificate for mutual TLS.
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr \
    -subj "/CN=workstation-17"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in client.csr -out client.pem \
    -extensions client_ext -days 825 -notext
# A self-signed certificate that expired on 2021-01-01.
q openssl req -new -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj "/CN=expired.tlsaudit.test"
q openssl ca -batch -config ca.cnf -selfsign -keyfile expired.key -in expired.csr -out expired.pem \
    -extensions selfsigned_ext -startdate 20200101000000Z -enddate 20210101000000Z -notext
# 1024-bit finite-field DH parameters (weak on purpose).
q openssl dhparam -out dh1024.pem 1024
cat server.pem ca.pem > server-chain.pem
# Weak and odd certificates for the compliance matrix, all from the test CA.
q openssl req -new -newkey rsa:1024 -nodes -keyout rsa1024.key -out rsa1024.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in rsa1024.csr -out rsa1024.pem \
    -extensions server_ext -days 365 -notext
q openssl req -new -newkey rsa:2048 -nodes -keyout sha1.key -out sha1.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in sha1.csr -out sha1.pem -md sha1 \
    -extensions server_ext -days 365 -notext
q openssl req -new -newkey rsa:2048 -nodes -keyout future.key -out future.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in future.csr -out future.pem \
    -extensions server_ext -startdate 20300101000000Z -enddate 20310101000000Z -notext
q openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ecdsa.key -out ecdsa.csr \
    -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in ecdsa.csr -out ecdsa.pem \
    -extensions server_ext -days 365 -notext
# A valid self-signed certificate, and one from a CA nobody trusts.
q openssl req -new -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -selfsign -keyfile selfsigned.key -in selfsigned.csr -out selfsigned.pem \
    -extensions selfsigned_valid_ext -days 365 -notext
q openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue-ca.key -out rogue-ca.pem -days 3650 \
    -subj "/O=Unknown Issuer/CN=Unknown Issuing CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
q openssl req -new -newkey rsa:2048 -nodes -keyout rogue.key -out rogue.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert rogue-ca.pem -keyfile rogue-ca.key -in rogue.csr -out rogue.pem \
    -extensions server_ext -days 365 -notext
# An expired certificate and one that expires ten days after the recording,
# both from the test CA.
q openssl req -new -newkey rsa:2048 -nodes -keyout lapsed.key -out lapsed.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in lapsed.csr -out lapsed.pem \
    -extensions server_ext -startdate 20230101000000Z -enddate 20240101000000Z -notext
q openssl req -new -newkey rsa:2048 -nodes -keyout expiring.key -out expiring.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expiring.csr -out expiring.pem \
    -extensions server_ext -enddate "$(date -u -d '+10 days' +%Y%m%d%H%M%SZ)" -notext
# A server certificate signed by another server certificate (CA:FALSE) that
# the test CA issued: the chain verifies signature by signature, but its
# middle link may not issue certificates.
q openssl req -new -newkey rsa:2048 -nodes -keyout notca.key -out notca.csr -subj "/CN=not-a-ca.tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in notca.csr -out notca.pem \
    -extensions server_ext -days 365 -notext
q openssl req -new -newkey rsa:2048 -nodes -keyout underleaf.key -out underleaf.csr -subj "/CN=tlsaudit.test"
q openssl ca -batch -config ca.cnf -cert notca.pem -keyfile notca.key -in underleaf.csr -out underleaf.pem \
    -extensions server_ext -days 365 -notext
cat notca.pem ca.pem > notca-chain.pem
# The server key as a bare SubjectPublicKeyInfo, for raw public key authentication.
q openssl pkey -in server.key -pubout -out server-spki.pem
cp ca.pem "$here/test-ca.pem"
cc -O2 -o false-start-client "$here/tools/false-start-client.c" -lgnutls

# --- recording ----------------------------------------------------------
wait_listen() { # port
    for _ in $(seq 1 100); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

start_tcpdump() { # file port
    tcpdump -i lo -s 0 -U --immediate-mode -w "$1" "tcp port $2" 2>"$work/tcpdump.log" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    for _ in $(seq 1 100); do
        if grep -q "listening on" "$work/tcpdump.log"; then
            sleep 1 # the filter is attached a moment after tcpdump says it listens
            return 0
        fi
        sleep 0.05
    done
    echo "tcpdump did not start" >&2
    return 1
}

stop_tcpdump() {
    sleep 0.3
    kill -TERM "$tcpdump_pid"
    wait "$tcpdump_pid" 2>/dev/null || true
    grep "captured" "$work/tcpdump.log" >&2 || true
}

request=$'GET / HTTP/1.0\r\n\r\n'

# name port "server args" "client args" [host]
openssl_session() {
    local name=$1 port=$2 server_args=$3 client_args=$4 host=${5:-127.0.0.1}
    local bind=$host
    [[ $host == *:* ]] && bind="[$host]"
    start_tcpdump "$here/$name.pcap" "$port"
    # shellcheck disable=SC2086
    openssl s_server -accept "$bind:$port" -naccept 1 -www $server_args >"$work/$name.server.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_listen "$port"
    # shellcheck disable=SC2086
    printf '%s' "$request" | timeout 10 openssl s_client -connect "$bind:$port" -quiet $client_args \
        >"$work/$name.client.log" 2>&1 || true
    wait "$server" 2>/dev/null || true
    stop_tcpdump
    echo "captures/$name.pcap: $(grep -c . <(tcpdump -nr "$here/$name.pcap" 2>/dev/null)) packets"
}

cert="-cert server.pem -key server.key -cert_chain ca.pem"

openssl_session tls13-x25519 4431 "$cert -tls1_3" \
    "-tls1_3 -servername tlsaudit.test -groups X25519"
openssl_session tls12-ecdhe-rsa-aes128gcm 4432 "$cert -tls1_2" \
    "-tls1_2 -servername tlsaudit.test -cipher ECDHE-RSA-AES128-GCM-SHA256"
openssl_session tls10-rsa-aes128 4433 "$cert -tls1 -cipher AES128-SHA:@SECLEVEL=0" \
    "-tls1 -servername legacy.tlsaudit.test -cipher AES128-SHA:@SECLEVEL=0"
openssl_session tls12-expired-selfsigned 4434 "-cert expired.pem -key expired.key -tls1_2" \
    "-tls1_2 -servername expired.tlsaudit.test"
openssl_session tls13-hello-retry 4435 "$cert -tls1_3 -groups P-256" \
    "-tls1_3 -servername tlsaudit.test -groups X25519:P-256"
openssl_session tls12-dhe-1024 4436 "$cert -tls1_2 -dhparam dh1024.pem -cipher DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0" \
    "-tls1_2 -servername tlsaudit.test -cipher DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
openssl_session tls12-mutual-auth 4437 "$cert -tls1_2 -Verify 1 -CAfile ca.pem" \
    "-tls1_2 -servername tlsaudit.test -cert client.pem -key client.key"
openssl_session tls13-ipv6 4438 "$cert -tls1_3" "-tls1_3 -servername tlsaudit.test" ::1
# A client that offers only TLS 1.0, refused by a TLS 1.2-only server with a
# protocol_version alert.
openssl_session tls10-refused 4442 "$cert -tls1_2" "-tls1 -servername tlsaudit.test -cipher DEFAULT:@SECLEVEL=0"

# TLS 1.2 session resumption: a full handshake, then a second connection that
# resumes it by session id (tickets off).
start_tcpdump "$here/tls12-resumption.pcap" 4443
# shellcheck disable=SC2086
openssl s_server -accept 127.0.0.1:4443 -naccept 2 -www $cert -tls1_2 -no_ticket >"$work/resume.server.log" 2>&1 &
resume_server=$!
pids+=("$resume_server")
wait_listen 4443
printf '%s' "$request" | timeout 10 openssl s_client -connect 127.0.0.1:4443 -quiet -tls1_2 -no_ticket \
    -servername tlsaudit.test -sess_out session.pem >"$work/resume1.log" 2>&1 || true
printf '%s' "$request" | timeout 10 openssl s_client -connect 127.0.0.1:4443 -quiet -tls1_2 -no_ticket \
    -servername tlsaudit.test -sess_in session.pem >"$work/resume2.log" 2>&1 || true
wait "$resume_server" 2>/dev/null || true
stop_tcpdump
echo "captures/tls12-resumption.pcap"

# name port "priority" [client args] [server credentials]: gnutls on both ends.
gnutls_session() {
    local name=$1 port=$2 priority=$3 client_args=${4:-}
    local credentials=${5:-"--x509certfile server-chain.pem --x509keyfile server.key"}
    start_tcpdump "$here/$name.pcap" "$port"
    # shellcheck disable=SC2086
    gnutls-serv --port "$port" $credentials --priority "$priority" --http >"$work/$name.server.log" 2>&1 &
    local server=$!
    pids+=("$server")
    wait_listen "$port"
    # shellcheck disable=SC2086
    printf '%s' "$request" | timeout 10 gnutls-cli --insecure --port "$port" --priority "$priority" \
        $client_args 127.0.0.1 >"$work/$name.client.log" 2>&1 || true
    kill "$server"
    wait "$server" 2>/dev/null || true
    stop_tcpdump
    echo "captures/$name.pcap"
}

# openssl 3.0 as built by Debian has no 3DES; GnuTLS still negotiates it.
gnutls_session tls10-rsa-3des 4439 'NONE:+VERS-TLS1.0:+3DES-CBC:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+CTYPE-X509' \
    "--sni-hostname legacy.tlsaudit.test"
gnutls_session gnutls-tls12 4441 'NORMAL:-VERS-ALL:+VERS-TLS1.2' "--sni-hostname tlsaudit.test"

# Back-to-back connections that reuse one client port, as busy clients do:
# Python's ssl module (OpenSSL) binds the same local port each time and ends
# each connection with a reset (SO_LINGER 0), so the port is free at once.
start_tcpdump "$here/port-reuse.pcap" 4440
# shellcheck disable=SC2086
openssl s_server -accept 127.0.0.1:4440 -naccept 12 -www $cert -tls1_2 >"$work/reuse.server.log" 2>&1 &
reuse_server=$!
pids+=("$reuse_server")
wait_listen 4440
python3 - <<'PY'
import socket, ssl, struct, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for i in range(12):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.bind(("127.0.0.1", 40400))
    raw.settimeout(5)
    raw.connect(("127.0.0.1", 4440))
    tls = ctx.wrap_socket(raw, server_hostname=f"reuse{i}.tlsaudit.test")
    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
    tls.recv(100)
    tls.close()
    time.sleep(0.1)
PY
wait "$reuse_server" 2>/dev/null || true
stop_tcpdump
echo "captures/port-reuse.pcap"

# --- compliance matrix: one weakness per capture ---------------------------
mkdir -p "$here/matrix" "$work/matrix"
weak="@SECLEVEL=0"
openssl_session matrix/tls11 4450 "$cert -tls1_1 -cipher ECDHE-RSA-AES128-SHA:$weak" \
    "-tls1_1 -servername tlsaudit.test -cipher ECDHE-RSA-AES128-SHA:$weak"
# The client offers AEAD suites and encrypt-then-MAC; the server picks CBC and refuses ETM.
openssl_session matrix/tls12-cbc-no-etm 4451 "$cert -tls1_2 -no_etm -cipher ECDHE-RSA-AES128-SHA256" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-null 4452 "$cert -tls1_2 -cipher NULL-SHA256:$weak" \
    "-tls1_2 -servername tlsaudit.test -cipher NULL-SHA256:$weak"
openssl_session matrix/tls12-anon 4453 "-nocert -tls1_2 -cipher ADH-AES128-GCM-SHA256:$weak" \
    "-tls1_2 -servername tlsaudit.test -cipher ADH-AES128-GCM-SHA256:$weak"
openssl_session matrix/tls12-rsa1024-cert 4454 "-cert rsa1024.pem -key rsa1024.key -cert_chain ca.pem -tls1_2 -cipher DEFAULT:$weak" \
    "-tls1_2 -servername tlsaudit.test -cipher DEFAULT:$weak"
openssl_session matrix/tls12-sha1-cert 4455 "-cert sha1.pem -key sha1.key -cert_chain ca.pem -tls1_2 -cipher DEFAULT:$weak" \
    "-tls1_2 -servername tlsaudit.test -cipher DEFAULT:$weak"
openssl_session matrix/tls12-not-yet-valid 4456 "-cert future.pem -key future.key -cert_chain ca.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-hostname-mismatch 4457 "$cert -tls1_2" "-tls1_2 -servername intranet.example.org"
openssl_session matrix/tls12-ecdsa-compliant 4458 "-cert ecdsa.pem -key ecdsa.key -cert_chain ca.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test -cipher ECDHE-ECDSA-AES128-GCM-SHA256"
openssl_session matrix/tls12-self-signed 4461 "-cert selfsigned.pem -key selfsigned.key -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-untrusted-chain 4462 "-cert rogue.pem -key rogue.key -cert_chain rogue-ca.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls13-compliant 4459 "$cert -tls1_3" "-tls1_3 -servername tlsaudit.test -groups P-256"
gnutls_session matrix/tls12-no-ems 4460 'NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_SESSION_HASH' "--sni-hostname tlsaudit.test"
openssl_session matrix/tls12-static-rsa 4463 "$cert -tls1_2 -cipher AES128-GCM-SHA256" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-expired 4464 "-cert lapsed.pem -key lapsed.key -cert_chain ca.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-expiring-soon 4465 "-cert expiring.pem -key expiring.key -cert_chain ca.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"
openssl_session matrix/tls12-weak-curve 4466 "$cert -tls1_2 -groups secp192r1 -cipher DEFAULT:$weak" \
    "-tls1_2 -servername tlsaudit.test -groups secp192r1 -cipher DEFAULT:$weak"
# The client accepts only SHA-1 signatures, so the ServerKeyExchange is signed with RSA+SHA1.
openssl_session matrix/tls12-ske-sha1 4467 "$cert -tls1_2 -cipher DEFAULT:$weak" \
    "-tls1_2 -servername tlsaudit.test -sigalgs RSA+SHA1 -cipher DEFAULT:$weak"
openssl_session matrix/tls12-null-md5 4468 "$cert -tls1_2 -cipher NULL-MD5:$weak" \
    "-tls1_2 -servername tlsaudit.test -cipher NULL-MD5:$weak"
gnutls_session matrix/tls10-rc4-md5 4469 'NONE:+VERS-TLS1.0:+ARCFOUR-128:+RSA:+MD5:+COMP-NULL:+SIGN-ALL:+CTYPE-X509' \
    "--sni-hostname tlsaudit.test"
# RFC 7250: the server authenticates with a bare public key instead of a certificate.
gnutls_session matrix/tls12-raw-public-key 4470 'NORMAL:-VERS-ALL:+VERS-TLS1.2:+CTYPE-SRV-RAWPK:-CTYPE-SRV-X509' \
    "--sni-hostname tlsaudit.test" "--rawpkfile server-spki.pem --rawpkkeyfile server.key"

openssl_session matrix/tls12-issuer-not-ca 4472 "-cert underleaf.pem -key underleaf.key -cert_chain notca-chain.pem -tls1_2" \
    "-tls1_2 -servername tlsaudit.test"

# TLS False Start: a GnuTLS client sends its request right after its own
# Finished. A relay holds the server's replies for 200 ms, a long round
# trip, so the early request is visible ahead of the server's Finished.
start_tcpdump "$here/matrix/tls12-false-start.pcap" 4471
# shellcheck disable=SC2086
openssl s_server -accept 127.0.0.1:4571 -naccept 1 -www $cert -tls1_2 >"$work/false-start.server.log" 2>&1 &
pids+=("$!")
wait_listen 4571
python3 "$here/tools/delay-proxy.py" 4471 4571 0.2 >"$work/false-start.proxy.log" 2>&1 &
pids+=("$!")
wait_listen 4471
timeout 10 ./false-start-client 127.0.0.1 4471 tlsaudit.test >"$work/false-start.client.log" 2>&1
stop_tcpdump
echo "captures/matrix/tls12-false-start.pcap"
