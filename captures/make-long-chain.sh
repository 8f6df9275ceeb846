#!/usr/bin/env bash
# Records captures/tls12-chain-100.pcap: openssl s_server on loopback sends a
# certificate chain of 100 certificates (the leaf and 99 intermediates, each
# issued by the next, EC P-256 keys) to openssl s_client over TLS 1.2. The
# chain is longer than tlsaudit parses (16), so the capture shows the chain
# cap at work on a real handshake.
# Needs root (tcpdump on lo), openssl and tcpdump.
#
#   bash captures/make-long-chain.sh
#
# The server and tcpdump are stopped by their PIDs; traffic stays on 127.0.0.1.
source "$(dirname "$0")/recording.sh"
port=4474
length=100

# The top of the chain signs itself; each certificate below is issued by
# the one above it; certificate 1 is the leaf.
openssl ecparam -name prime256v1 -genkey -noout -out "ca$length.key"
openssl req -x509 -new -key "ca$length.key" -days 3650 -subj "/CN=tlsaudit chain $length" \
    -addext "basicConstraints=critical,CA:true" -out "ca$length.pem" 2>/dev/null
for ((i = length - 1; i >= 1; i--)); do
    openssl ecparam -name prime256v1 -genkey -noout -out "ca$i.key"
    openssl req -new -key "ca$i.key" -subj "/CN=tlsaudit chain $i" -out "ca$i.csr" 2>/dev/null
    if ((i == 1)); then ext="basicConstraints=CA:false
subjectAltName=DNS:chain.tlsaudit.test"; else ext="basicConstraints=critical,CA:true"; fi
    openssl x509 -req -in "ca$i.csr" -CA "ca$((i + 1)).pem" -CAkey "ca$((i + 1)).key" -days 3650 \
        -set_serial "$i" -extfile <(printf '%s\n' "$ext") -out "ca$i.pem" 2>/dev/null
done
: >chain.pem
for ((i = 2; i <= length; i++)); do cat "ca$i.pem" >>chain.pem; done

start_recording "$port"
openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www -cert ca1.pem -key ca1.key -cert_chain chain.pem \
    -tls1_2 >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_listening "$port"
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -quiet -tls1_2 \
    -servername chain.tlsaudit.test >"$work/client.log" 2>&1 || true
wait "$server" 2>/dev/null || true
stop_recording tls12-chain-100.pcap
