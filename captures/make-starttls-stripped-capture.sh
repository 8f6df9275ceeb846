#!/usr/bin/env bash
# Records STARTTLS stripping: a mail client that upgrades only when the
# server offers it (Python's smtplib), talking to Debian's postfix through
# a relay that plays the attacker on the path (captures/tools/strip-proxy.py).
# The first session passes untouched: postfix offers STARTTLS and the
# client takes it. In the second the relay overwrites STARTTLS in the
# EHLO answer with XXXXXXXA, and the client sends its message in clear.
# Both sessions are recorded on the relay's port: what a sensor between
# the client and the attacker sees of one server.
#   starttls/smtp-stripped.pcap
# (apt-get install postfix tcpdump)
# Usage: captures/make-starttls-stripped-capture.sh
source "$(dirname "$0")/recording.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test" \
    -keyout key.pem -out cert.pem 2>/dev/null
chmod 644 key.pem

# postfix (recording.sh) offers STARTTLS on 2527; the relay listens on 2528.
start_postfix "$(printf '%s\n' "smtpd_tls_security_level = may" "mydestination = example.test" "local_recipient_maps =")" \
    "127.0.0.1:2527 inet n - n - - smtpd"
wait_listening 2527

start_recording 2528
/usr/bin/python3 "$here/tools/strip-proxy.py" 2528 2527 1 1 &
pids+=("$!")
wait_listening 2528
for session in 1 2; do
    /usr/bin/python3 -c "
import smtplib, ssl
s = smtplib.SMTP('127.0.0.1', 2528, timeout=10); s.ehlo('ward.example.test')
if s.has_extn('starttls'):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    s.starttls(context=context); s.ehlo('ward.example.test')
s.sendmail('ward@example.test', ['records@example.test'],
           'Subject: discharge\r\n\r\nPLANTED-MESSAGE-BODY for PLANTEDSURNAME\r\n'); s.quit()"
    sleep 0.5
done
stop_recording starttls/smtp-stripped.pcap
