#!/usr/bin/env bash
# Records STARTTLS upgrades between openssl s_client -starttls and Debian's
# own servers on loopback (apt-get install dovecot-imapd dovecot-pop3d
# dovecot-lmtpd dovecot-managesieved vsftpd slapd; tcpdump). One
# association per capture, each server with a throwaway self-signed
# certificate for a synthetic name:
#   starttls/imap.pcap   dovecot, IMAP STARTTLS
#   starttls/pop3.pcap   dovecot, POP3 STLS
#   starttls/lmtp.pcap   dovecot, LMTP STARTTLS
#   starttls/sieve.pcap  dovecot, ManageSieve STARTTLS
#   starttls/ftp.pcap    vsftpd, AUTH TLS
#   starttls/ldap.pcap   slapd, the StartTLS extended operation
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

dovecot -F -c "$work/dovecot.conf" >dovecot.out 2>&1 &
pids+=("$!")
vsftpd "$work/vsftpd.conf" >vsftpd.out 2>&1 &
pids+=("$!")
slapd -h ldap://127.0.0.1:14389/ -f "$work/slapd.conf" -d 0 >slapd.out 2>&1 &
pids+=("$!")
for port in 14143 14110 14024 14190 14021 14389; do wait_listening "$port"; done

# record NAME PROTOCOL PORT: one STARTTLS upgrade and handshake.
record() {
    start_recording "$3"
    echo | timeout 5 openssl s_client -starttls "$2" -connect "127.0.0.1:$3" -servername mail.example.test >client.log 2>&1 || true
    stop_recording "starttls/$1"
}

record imap.pcap imap 14143
record pop3.pcap pop3 14110
record lmtp.pcap lmtp 14024
record sieve.pcap sieve 14190
record ftp.pcap ftp 14021
record ldap.pcap ldap 14389
