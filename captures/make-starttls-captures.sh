#!/usr/bin/env bash
# Records STARTTLS upgrades between openssl s_client -starttls and Debian's
# own servers on loopback (apt-get install dovecot-imapd dovecot-pop3d
# dovecot-lmtpd dovecot-managesieved vsftpd slapd postgresql mariadb-server
# prosody; tcpdump). One association per capture, each server with a
# throwaway self-signed certificate for a synthetic name:
#   starttls/imap.pcap   dovecot, IMAP STARTTLS
#   starttls/pop3.pcap   dovecot, POP3 STLS
#   starttls/lmtp.pcap   dovecot, LMTP STARTTLS
#   starttls/sieve.pcap  dovecot, ManageSieve STARTTLS
#   starttls/ftp.pcap    vsftpd, AUTH TLS
#   starttls/ldap.pcap   slapd, the StartTLS extended operation
#   starttls/postgresql.pcap  PostgreSQL 15, SSLRequest
#   starttls/mysql.pcap  MariaDB, the SSL capability and SSL request
#   starttls/xmpp-client.pcap, xmpp-server.pcap  prosody, c2s and s2s STARTTLS
# No login is made: the clients stop after the handshake.
# Usage: captures/make-starttls-captures.sh
source "$(dirname "$0")/recording.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=mail.example.test" -addext "subjectAltName=DNS:mail.example.test" \
    -keyout key.pem -out cert.pem 2>/dev/null
mkdir -p run mail home /var/run/vsftpd/empty

cat > dovecot.conf <<CONF
protocols = imap pop3 lmtp sieve
listen = 127.0.0.1
base_dir = $work/run
state_dir = $work/run
log_path = $work/dovecot.log
ssl = yes
ssl_cert = <$work/cert.pem
ssl_key = <$work/key.pem
mail_location = maildir:$work/mail
passdb {
  driver = static
  args = password=synthetic
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/home
}
service imap-login {
  inet_listener imap {
    port = 14143
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 14110
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 14024
  }
}
service managesieve-login {
  inet_listener sieve {
    port = 14190
  }
}
CONF

cat > vsftpd.conf <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=14021
anonymous_enable=NO
local_enable=YES
ssl_enable=YES
rsa_cert_file=$work/cert.pem
rsa_private_key_file=$work/key.pem
secure_chroot_dir=/var/run/vsftpd/empty
background=NO
CONF

cat > slapd.conf <<CONF
include /etc/ldap/schema/core.schema
pidfile $work/slapd.pid
TLSCertificateFile $work/cert.pem
TLSCertificateKeyFile $work/key.pem
CONF

# PostgreSQL and MariaDB refuse to run as root; their files are theirs.
mkdir -p pg my xmpp
cp cert.pem key.pem pg/
chown -R postgres pg
chmod 600 pg/key.pem
setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/*/bin/initdb -D "$work/pg/data" -A trust >pg/initdb.log 2>&1
cp cert.pem key.pem my/
chown -R mysql my
mariadb-install-db --datadir="$work/my/data" --user=mysql >my/install.log 2>&1
cp cert.pem key.pem xmpp/
chmod 644 xmpp/*.pem
chmod 777 xmpp
cat > xmpp/prosody.cfg.lua <<CONF
pidfile = "$work/xmpp/prosody.pid"
data_path = "$work/xmpp"
log = { info = "$work/xmpp/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { 15222 }
s2s_ports = { 15269 }
s2s_secure_auth = false
modules_enabled = { "tls", "disco", "saslauth" }
ssl = { certificate = "$work/xmpp/cert.pem", key = "$work/xmpp/key.pem" }
VirtualHost "xmpp.example.test"
CONF

dovecot -F -c "$work/dovecot.conf" >dovecot.out 2>&1 &
pids+=("$!")
# vsftpd ends its whole process group when told to stop: it gets its own.
setsid vsftpd "$work/vsftpd.conf" >vsftpd.out 2>&1 &
pids+=("$!")
slapd -h ldap://127.0.0.1:14389/ -f "$work/slapd.conf" -d 0 >slapd.out 2>&1 &
pids+=("$!")
# setpriv executes the server in its own process, so $! is the server's PID.
setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/*/bin/postgres -D "$work/pg/data" -k "$work/pg" -p 15432 \
    -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file="$work/pg/cert.pem" -c ssl_key_file="$work/pg/key.pem" \
    >pg/server.log 2>&1 &
pids+=("$!")
mariadbd --no-defaults --datadir="$work/my/data" --socket="$work/my/sock" --port=13306 --bind-address=127.0.0.1 \
    --user=mysql --ssl-cert="$work/my/cert.pem" --ssl-key="$work/my/key.pem" --skip-grant-tables >my/server.log 2>&1 &
pids+=("$!")
setpriv --reuid=prosody --regid=prosody --init-groups prosody -F --config "$work/xmpp/prosody.cfg.lua" >xmpp/out.log 2>&1 &
pids+=("$!")
for port in 14143 14110 14024 14190 14021 14389 15432 13306 15222 15269; do wait_listening "$port"; done

# record NAME PROTOCOL PORT [OPTIONS]: one STARTTLS upgrade and handshake.
record() {
    start_recording "$3"
    echo | timeout 5 openssl s_client -starttls "$2" -connect "127.0.0.1:$3" -servername mail.example.test "${@:4}" \
        >client.log 2>&1 || true
    stop_recording "starttls/$1"
}

record imap.pcap imap 14143
record pop3.pcap pop3 14110
record lmtp.pcap lmtp 14024
record sieve.pcap sieve 14190
record ftp.pcap ftp 14021
record ldap.pcap ldap 14389
record postgresql.pcap postgres 15432
record mysql.pcap mysql 13306
record xmpp-client.pcap xmpp 15222 -xmpphost xmpp.example.test
record xmpp-server.pcap xmpp-server 15269 -xmpphost xmpp.example.test
