# Shared by the capture scripts (sourced, not run): a scratch directory
# removed on exit, tcpdump on lo for one port, and the processes started
# here stopped by their PIDs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Servers write their files as they stop: wait (10 s at most) before
    # removing them. `wait` alone does not hold for servers that take a
    # while to stop, so each PID is polled.
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# start_recording PORT [PROTO]: tcpdump writes $work/capture.pcap until
# stop_recording; PROTO is tcp (the default) or udp.
start_recording() {
    tcpdump -i lo -s 0 -U --immediate-mode -w "$work/capture.pcap" "${2:-tcp} port $1" 2>"$work/tcpdump.log" &
    tcpdump_pid=$!
    pids+=("$tcpdump_pid")
    for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
    sleep 1
}

# wait_listening PORT: until a server listens on it (5 s at most).
wait_listening() {
    for _ in $(seq 50); do ss -ltn | grep -q ":$1 " && break; sleep 0.1; done
}

# stop_recording NAME: stops tcpdump and keeps the capture as captures/NAME.
stop_recording() {
    sleep 0.5
    kill -TERM "$tcpdump_pid"
    wait "$tcpdump_pid" 2>/dev/null || true
    # Its PID is no longer ours: the system may give it to another process.
    local kept=() pid
    for pid in "${pids[@]}"; do [ "$pid" = "$tcpdump_pid" ] || kept+=("$pid"); done
    pids=("${kept[@]}")
    cp "$work/capture.pcap" "$here/$1"
    echo "captures/$1: $(tcpdump -nr "$here/$1" 2>/dev/null | wc -l) packets"
}

# split_at_dashes WORDS...: server_args gets the words before "--" and
# client_args those after it.
split_at_dashes() {
    server_args=()
    client_args=()
    while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do server_args+=("$1"); shift; done
    if [ "$#" -gt 0 ]; then shift; fi
    client_args=("$@")
}

# start_postfix MAIN_CF_LINES SMTPD_LINE...: a private postfix instance in
# $work/postfix, with $work/cert.pem and key.pem for TLS: its own queue
# directories, no chrooted service, and its master in the foreground
# logging to a file through postlogd (there is no syslog here).
# MAIN_CF_LINES end the shared main.cf; each SMTPD_LINE is a master.cf
# line of an smtpd listener.
start_postfix() {
    local main_cf=$1
    shift
    mkdir -p postfix/queue postfix/data
    (cd postfix/queue && mkdir -p pid public private maildrop incoming active deferred bounce defer flush hold saved trace corrupt)
    chown postfix postfix/data postfix/queue/{public,private,incoming,active,deferred,bounce,defer,flush,hold,saved,trace,corrupt}
    chgrp postdrop postfix/queue/{maildrop,public}
    chmod 730 postfix/queue/maildrop
    chmod 710 postfix/queue/public
    cat >postfix/main.cf <<CONF
compatibility_level = 3.6
queue_directory = $work/postfix/queue
data_directory = $work/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.example.test
mydomain = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file_prefixes = $work/
maillog_file = $work/postfix/postfix.log
smtpd_tls_cert_file = $work/cert.pem
smtpd_tls_key_file = $work/key.pem
alias_maps =
alias_database =
$main_cf
CONF
    printf '%s\n' "$@" >postfix/master.cf
    cat >>postfix/master.cf <<CONF
cleanup   unix  n - n - 0    cleanup
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - -    trivial-rewrite
anvil     unix  - - n - 1    anvil
proxymap  unix  - - n - -    proxymap
postlog   unix-dgram n - n - 1 postlogd
CONF
    /usr/lib/postfix/sbin/master -c "$work/postfix" -d >postfix/out.log 2>&1 &
    pids+=("$!")
}
