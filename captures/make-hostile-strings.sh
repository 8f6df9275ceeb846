#!/usr/bin/env bash
# Records captures/hostile-strings.pcap: openssl s_server and s_client on
# loopback exchanging attacker-chosen strings. The server's certificate has
# ANSI escape sequences, a bell and an OSC title sequence in its subject and a
# 300-character name in its subjectAltName; the client sends an SNI of 222
# bytes starting with escape sequences and a bell, and offers an ALPN
# protocol with an escape sequence, which the server picks.
# Needs root (tcpdump on lo), openssl and tcpdump.
#
#   bash captures/make-hostile-strings.sh
#
# The server and tcpdump are stopped by their PIDs; traffic stays on 127.0.0.1.
source "$(dirname "$0")/recording.sh"
port=4473

esc=$'\x1b'
bel=$'\x07'
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout hostile.key -out hostile.pem -utf8 \
    -subj "/O=Evil${esc}[31mRED${bel}/CN=x${esc}]0;pwned${bel}${esc}[2J.test" \
    -addext "subjectAltName=DNS:a${esc}[5mb.test,DNS:$(printf 'z%.0s' {1..300}).test" 2>/dev/null
sni="${esc}[1;31mALERT${esc}[0m${bel}$(printf 'q%.0s' {1..200}).test"
alpn="h2${esc}[8m"

start_recording "$port"
openssl s_server -accept "127.0.0.1:$port" -naccept 1 -www -cert hostile.pem -key hostile.key -tls1_2 \
    -alpn "$alpn" >"$work/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_listening "$port"
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" -quiet -tls1_2 \
    -servername "$sni" -alpn "$alpn,http/1.1" >"$work/client.log" 2>&1 || true
wait "$server" 2>/dev/null || true
stop_recording hostile-strings.pcap
