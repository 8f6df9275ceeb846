#!/usr/bin/env bash
# Records logins and other traffic that cross loopback in clear, between
# Debian's own servers and real clients (apt-get install vsftpd
# inetutils-telnetd postfix dovecot-imapd dovecot-pop3d slapd ldap-utils
# postgresql mariadb-server mariadb-client snmpd snmp rsyslog samba
# smbclient curl tcpdump):
#   cleartext/ftp-login.pcap       curl logs in to vsftpd (USER/PASS) and lists
#   cleartext/telnet-login.pcap    Python's telnetlib logs in to telnetd
#   cleartext/smtp-no-starttls.pcap    postfix offers no STARTTLS; smtplib
#                                  sends a message
#   cleartext/smtp-starttls-unused.pcap  postfix offers STARTTLS; smtplib
#                                  sends a message without it
#   cleartext/imap-login.pcap      imaplib LOGIN to dovecot without TLS
#   cleartext/pop3-login.pcap      poplib USER/PASS to dovecot without TLS
#   cleartext/ldap-simple-bind.pcap  ldapsearch binds to slapd with a password
#   cleartext/postgresql-login.pcap  psql, sslmode=disable, password auth
#   cleartext/mysql-login.pcap     the MariaDB client with --skip-ssl
#   cleartext/snmp-v2c.pcap        snmpget with a community string (UDP)
#   cleartext/syslog.pcap          logger to rsyslog over UDP
#   cleartext/smb-unencrypted.pcap, smb-encrypted.pcap  smbclient lists a
#                                  share of Samba without and with SMB3
#                                  encryption
# Every account is synthetic. Passwords, the community string and the
# message bodies are planted values (PLANTED-...): tlsaudit must never write
# them. A local account "synthetic" is made for the FTP and telnet logins
# and removed at the end.
# Usage: captures/make-cleartext-login-captures.sh
source "$(dirname "$0")/recording.sh"
mkdir -p "$here/cleartext"
password=PLANTED-PASSWORD-login

id synthetic >/dev/null 2>&1 || useradd -m -s /bin/sh synthetic
echo "synthetic:$password" | chpasswd

# vsftpd: local logins, no TLS.
cat >vsftpd.conf <<CONF
listen=YES
listen_address=127.0.0.1
listen_port=2121
anonymous_enable=NO
local_enable=YES
ssl_enable=NO
pasv_enable=YES
pasv_min_port=30000
pasv_max_port=30009
secure_chroot_dir=/var/run/vsftpd/empty
background=NO
CONF
mkdir -p /var/run/vsftpd/empty
# vsftpd ends its whole process group when told to stop: it gets its own.
setsid vsftpd "$work/vsftpd.conf" >vsftpd.out 2>&1 &
pids+=("$!")

# telnetd, started per connection by a one-shot accept loop (inetd's job).
cat >inetd.py <<'PY'
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
while True:
    c, _ = s.accept()
    if os.fork() == 0:
        os.dup2(c.fileno(), 0); os.dup2(c.fileno(), 1); os.dup2(c.fileno(), 2)
        os.execv(sys.argv[2], [sys.argv[2]])
    c.close()
PY
/usr/bin/python3 inetd.py 2323 /usr/sbin/telnetd >telnetd.out 2>&1 &
pids+=("$!")

# postfix (recording.sh): port 2525 offers no STARTTLS, port 2526 offers it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -subj "/CN=mail.example.test" -keyout key.pem -out cert.pem 2>/dev/null
chmod 644 key.pem
start_postfix "$(printf '%s\n' "smtpd_tls_security_level = none" "mydestination = example.test" "local_recipient_maps =")" \
    "127.0.0.1:2525 inet n - n - - smtpd" "127.0.0.1:2526 inet n - n - - smtpd -o smtpd_tls_security_level=may"

# dovecot: IMAP and POP3 with TLS off and plain-text logins allowed.
mkdir -p dovecot/run mail home
chmod 777 mail home
cat >dovecot/dovecot.conf <<CONF
protocols = imap pop3
listen = 127.0.0.1
base_dir = $work/dovecot/run
state_dir = $work/dovecot/run
log_path = $work/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
mail_location = maildir:$work/mail
passdb {
  driver = static
  args = password=$password
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/home
}
service imap-login {
  inet_listener imap {
    port = 2143
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 2110
  }
  inet_listener pop3s {
    port = 0
  }
}
CONF
dovecot -F -c "$work/dovecot/dovecot.conf" >dovecot/out.log 2>&1 &
pids+=("$!")

# slapd: one database whose root binds with a password, no TLS.
mkdir -p ldap/db
cat >ldap/slapd.conf <<CONF
include /etc/ldap/schema/core.schema
pidfile $work/ldap/slapd.pid
moduleload back_mdb
database mdb
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw $password
directory $work/ldap/db
CONF
slapd -h ldap://127.0.0.1:2389/ -f "$work/ldap/slapd.conf" -d 0 >ldap/out.log 2>&1 &
pids+=("$!")

# PostgreSQL: SSL off, and the password itself asked for (method "password").
mkdir -p pg
chown postgres pg
setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/*/bin/initdb -D "$work/pg/data" -A trust >pg/initdb.log 2>&1
echo "host all all 127.0.0.1/32 password" >"$work/pg/data/pg_hba.conf"
echo "local all all trust" >>"$work/pg/data/pg_hba.conf"
setpriv --reuid=postgres --regid=postgres --init-groups /usr/lib/postgresql/*/bin/postgres -D "$work/pg/data" -k "$work/pg" -p 25432 \
    -c listen_addresses=127.0.0.1 -c ssl=off >pg/server.log 2>&1 &
pids+=("$!")

# MariaDB: no TLS; one account with a password.
mkdir -p my
chown mysql my
mariadb-install-db --datadir="$work/my/data" --user=mysql >my/install.log 2>&1
mariadbd --no-defaults --datadir="$work/my/data" --socket="$work/my/sock" --port=23306 --bind-address=127.0.0.1 \
    --user=mysql --skip-ssl >my/server.log 2>&1 &
pids+=("$!")

# snmpd: a read-only v2c community; rsyslog: a UDP input to a file.
cat >snmpd.conf <<CONF
agentAddress udp:127.0.0.1:2161
rocommunity PLANTED-COMMUNITY 127.0.0.1
CONF
snmpd -f -Lo -C -c "$work/snmpd.conf" -p "$work/snmpd.pid" >snmpd.out 2>&1 &
pids+=("$!")
cat >rsyslog.conf <<CONF
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="2514")
*.* $work/syslog.received
CONF
rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslog.pid" >rsyslog.out 2>&1 &
pids+=("$!")

# Samba: one share; encryption off on 2445, required on 2446.
mkdir -p smb/share smb/state
for mode in off required; do
    cat >"smb/$mode.conf" <<CONF
[global]
    server role = standalone server
    interfaces = 127.0.0.1
    bind interfaces only = yes
    smb ports = $([ "$mode" = off ] && echo 2445 || echo 2446)
    server smb encrypt = $mode
    private dir = $work/smb/state/$mode
    lock directory = $work/smb/state/$mode
    state directory = $work/smb/state/$mode
    cache directory = $work/smb/state/$mode
    pid directory = $work/smb/state/$mode
    log file = $work/smb/$mode.log
    disable spoolss = yes
    load printers = no
[records]
    path = $work/smb/share
    read only = yes
CONF
    mkdir -p "smb/state/$mode"
    printf '%s\n%s\n' "$password" "$password" | smbpasswd -c "$work/smb/$mode.conf" -s -a synthetic >/dev/null
    smbd --foreground -s "$work/smb/$mode.conf" >"smb/$mode.out" 2>&1 &
    pids+=("$!")
done

for port in 2121 2323 2525 2526 2143 2110 2389 25432 23306 2445 2446; do wait_listening "$port"; done
echo "CREATE USER 'clinic'@'127.0.0.1' IDENTIFIED BY '$password';" | mariadb --socket="$work/my/sock" -u root
setpriv --reuid=postgres --regid=postgres --init-groups psql -h "$work/pg" -p 25432 -d postgres -qc "CREATE ROLE clinic LOGIN PASSWORD '$password'"

# record NAME PORT [tcp|udp] -- COMMAND...: one client run while tcpdump records.
record() {
    local name=$1 port=$2 proto=tcp
    shift 2
    if [ "$1" != "--" ]; then proto=$1; shift; fi
    shift
    start_recording "$port" "$proto"
    "$@" </dev/null >client.log 2>&1 || echo "client for $name: exit $?" >&2
    stop_recording "cleartext/$name"
}

record ftp-login.pcap 2121 -- curl -s "ftp://synthetic:$password@127.0.0.1:2121/"
record telnet-login.pcap 2323 -- /usr/bin/python3 -W ignore -c "
import telnetlib, sys
t = telnetlib.Telnet('127.0.0.1', 2323, 10)
t.read_until(b'login: ', 10); t.write(b'synthetic\n')
t.read_until(b'Password:', 10); t.write(b'$password\n')
t.read_until(b'\$ ', 10); t.write(b'exit\n'); t.read_all()"
smtp_send() {
    /usr/bin/python3 -c "
import smtplib
s = smtplib.SMTP('127.0.0.1', $1, timeout=10); s.ehlo('ward.example.test')
s.sendmail('ward@example.test', ['records@example.test'],
           'Subject: discharge\r\n\r\nPLANTED-MESSAGE-BODY for PLANTEDSURNAME\r\n'); s.quit()"
}
record smtp-no-starttls.pcap 2525 -- smtp_send 2525
record smtp-starttls-unused.pcap 2526 -- smtp_send 2526
record imap-login.pcap 2143 -- /usr/bin/python3 -c "
import imaplib
m = imaplib.IMAP4('127.0.0.1', 2143); m.login('synthetic', '$password'); m.select(); m.logout()"
record pop3-login.pcap 2110 -- /usr/bin/python3 -c "
import poplib
p = poplib.POP3('127.0.0.1', 2110); p.user('synthetic'); p.pass_('$password'); p.stat(); p.quit()"
record ldap-simple-bind.pcap 2389 -- ldapsearch -x -H ldap://127.0.0.1:2389/ -D "cn=admin,dc=example,dc=test" -w "$password" \
    -b "" -s base
record postgresql-login.pcap 25432 -- env PGPASSWORD="$password" psql "host=127.0.0.1 port=25432 user=clinic dbname=postgres sslmode=disable" \
    -qc "SELECT 1"
record mysql-login.pcap 23306 -- mariadb --skip-ssl -h 127.0.0.1 -P 23306 -u clinic "-p$password" -e "SELECT 1"
record snmp-v2c.pcap 2161 udp -- snmpget -v2c -c PLANTED-COMMUNITY 127.0.0.1:2161 1.3.6.1.2.1.1.1.0
record syslog.pcap 2514 udp -- logger -n 127.0.0.1 -P 2514 -d -t ward "PLANTED-MESSAGE-BODY for PLANTEDSURNAME"
record smb-unencrypted.pcap 2445 -- smbclient -p 2445 -U "synthetic%$password" //127.0.0.1/records -c ls
record smb-encrypted.pcap 2446 -- smbclient -p 2446 -U "synthetic%$password" //127.0.0.1/records -c ls

userdel -r synthetic 2>/dev/null || true
