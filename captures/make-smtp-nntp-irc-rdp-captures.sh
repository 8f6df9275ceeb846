#!/usr/bin/env bash
# Records TLS started inside mail, news, chat and remote-desktop protocols,
# each between a real client and Debian's own server on loopback
# (apt-get install postfix inn2 inspircd xrdp freerdp2-x11 freerdp2-shadow-x11
# winpr-utils xvfb tcpdump),
# on the protocols' standard ports so tshark reads them as it would on a
# network. One association per capture, every server with a throwaway
# self-signed certificate for a synthetic name:
#   starttls/smtp.pcap        postfix smtpd, EHLO then STARTTLS (port 25)
#   starttls/submission.pcap  postfix smtpd on the submission port (587),
#                             where it requires TLS
#   starttls/nntp.pcap        INN's nnrpd, CAPABILITIES then STARTTLS (119)
#   starttls/irc.pcap         InspIRCd with its starttls module (6667)
#   starttls/rdp.pcap         xrdp and FreeRDP's xfreerdp: the X.224
#                             negotiation selects TLS (3389)
#   starttls/rdp-credssp.pcap FreeRDP's shadow server with NLA only: the
#                             negotiation selects CredSSP, which runs inside
#                             the TLS session (3390)
# The openssl clients stop after the handshake; xfreerdp (+auth-only, under
# Xvfb) sends its synthetic login inside TLS and stops.
# Usage: captures/make-smtp-nntp-irc-rdp-captures.sh
source "$(dirname "$0")/recording.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test" \
    -keyout key.pem -out cert.pem 2>/dev/null
chmod 644 key.pem

# postfix (recording.sh): TLS offered on 25, required on 587.
start_postfix "smtpd_tls_security_level = may" "127.0.0.1:25 inet n - n - - smtpd" \
    "127.0.0.1:587 inet n - n - - smtpd -o smtpd_tls_security_level=encrypt"

# INN: nnrpd alone, as a standalone daemon, over an empty overview. (The
# inn2 package's own setup stops without a domain in /etc/news/inn.conf;
# its programs are installed all the same, and this instance sets one.)
# nnrpd will not use a key file that others can read.
mkdir -p news/overview
cp cert.pem key.pem news/
chmod 600 news/key.pem
chown -R news news
sed -e "s|^pathoverview:.*|pathoverview: $work/news/overview|" -e "s|^#* *domain:.*|domain: example.test|" \
    -e "s|^pathhost:.*|pathhost: news.example.test|" /etc/news/inn.conf >news/inn.conf
printf 'tlscertfile: %s\ntlskeyfile: %s\n' "$work/news/cert.pem" "$work/news/key.pem" >>news/inn.conf
INNCONF="$work/news/inn.conf" setpriv --reuid=news --regid=news --init-groups /usr/lib/news/bin/makehistory -O -x
INNCONF="$work/news/inn.conf" setpriv --reuid=news --regid=news --init-groups \
    /usr/lib/news/bin/nnrpd -D -f -b 127.0.0.1 -p 119 >news/out.log 2>&1 &
pids+=("$!")

# InspIRCd: GnuTLS for the STARTTLS clients; no host name lookups (none
# would be answered here).
mkdir -p irc
chmod 777 irc
cat > irc/inspircd.conf <<CONF
<config format="xml">
<server name="irc.example.test" description="capture" network="Example">
<admin name="Admin" nick="admin" email="admin@example.test">
<bind address="127.0.0.1" port="6667" type="clients">
<connect name="main" allow="*" resolvehostnames="no" timeout="10" pingfreq="60" sendq="262144" recvq="8192" localmax="10" globalmax="10">
<class name="all" commands="*" privs="*" usermodes="*" chanmodes="*">
<pid file="$work/irc/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$work/irc/ircd.log">
<module name="ssl_gnutls">
<sslprofile name="starttls" provider="gnutls" certfile="$work/cert.pem" keyfile="$work/key.pem" hash="sha256" requestclientcert="no">
<module name="cap">
<module name="starttls">
<starttls provider="starttls">
CONF
setpriv --reuid=irc --regid=irc --init-groups inspircd --nofork --config "$work/irc/inspircd.conf" >irc/out.log 2>&1 &
pids+=("$!")

# xrdp: TLS security layer; the client logs in only as far as the
# credentials (no session manager runs, so no desktop follows).
mkdir -p rdp /run/xrdp/sockdir
sed -e 's|^port=3389|port=tcp://127.0.0.1:3389|' -e "s|^certificate=|certificate=$work/cert.pem|" \
    -e "s|^key_file=|key_file=$work/key.pem|" -e "s|^LogFile=.*|LogFile=$work/rdp/xrdp.log|" \
    -e 's|^EnableSyslog=true|EnableSyslog=false|' -e 's|^fork=true|fork=false|' /etc/xrdp/xrdp.ini >rdp/xrdp.ini
xrdp -n -c "$work/rdp/xrdp.ini" >rdp/out.log 2>&1 &
pids+=("$!")
display=:$((50 + RANDOM % 40))
Xvfb "$display" -nolisten tcp >rdp/xvfb.log 2>&1 &
pids+=("$!")

# FreeRDP's shadow server shares the Xvfb screen and accepts only NLA, with
# a synthetic account; it serves the certificate from its configuration
# folder.
mkdir -p shadow/.config/freerdp/server
cp cert.pem shadow/.config/freerdp/server/server.crt
cp key.pem shadow/.config/freerdp/server/server.key
echo "synthetic:::$(winpr-hash -u synthetic -p synthetic):::" >shadow/SAM
DISPLAY=$display HOME="$work/shadow" freerdp-shadow-cli /bind-address:127.0.0.1 /port:3390 /sec:nla +auth \
    /sam-file:"$work/shadow/SAM" >shadow/out.log 2>&1 &
pids+=("$!")

for port in 25 587 119 6667 3389 3390; do wait_listening "$port"; done

# record NAME PROTOCOL PORT: one STARTTLS upgrade and handshake with openssl.
record() {
    start_recording "$3"
    echo | timeout 5 openssl s_client -starttls "$2" -connect "127.0.0.1:$3" -servername mail.example.test \
        >client.log 2>&1 || true
    stop_recording "starttls/$1"
}

record smtp.pcap smtp 25
record submission.pcap smtp 587
record nntp.pcap nntp 119
record irc.pcap irc 6667

start_recording 3389
DISPLAY=$display HOME="$work" timeout 20 xfreerdp /v:127.0.0.1:3389 /u:synthetic /p:synthetic /cert:ignore \
    +auth-only >rdp/client.log 2>&1 || true
stop_recording starttls/rdp.pcap

start_recording 3390
DISPLAY=$display HOME="$work" timeout 20 xfreerdp /v:127.0.0.1:3390 /u:synthetic /p:synthetic /cert:ignore \
    +auth-only >shadow/client.log 2>&1 || true
stop_recording starttls/rdp-credssp.pcap
