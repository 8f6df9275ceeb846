# Shared by the capture scripts that record inside network namespaces they
# make (sourced, not run): a scratch directory, the namespaces deleted and
# the processes started here stopped by PID on exit, and tcpdump inside a
# namespace. Needs root and iproute2. KEEP_WORK=1 keeps the scratch files.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
work=$(mktemp -d)
chmod 755 "$work"  # tcpdump writes there after dropping to its own user
pids=()
namespaces=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    if [[ -n "${KEEP_WORK:-}" ]]; then echo "work files kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
cd "$work"

# make_namespace NAME: a namespace with its loopback up, deleted on exit.
make_namespace() {
    ip netns add "$1"
    namespaces+=("$1")
    ip -n "$1" link set lo up
}

# ns_start_recording NS INTERFACE FILTER...: tcpdump inside NS writes
# $work/capture.pcap until ns_stop_recording.
ns_start_recording() {
    local ns=$1 interface=$2
    shift 2
    # `ip netns exec` may fork: the shell inside writes its own PID, then becomes tcpdump.
    ip netns exec "$ns" sh -c 'echo $$ >"$1/tcpdump.pid"; i=$2; shift 2; exec tcpdump -i "$i" -s 0 -U --immediate-mode -w "$0/capture.pcap" "$@"' \
        "$work" "$work" "$interface" "$@" 2>"$work/tcpdump.log" &
    for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.log" && break; sleep 0.1; done
    tcpdump_pid=$(cat "$work/tcpdump.pid")
    pids+=("$tcpdump_pid")
}

# ns_stop_recording NAME: stops tcpdump and keeps the capture as captures/NAME.
ns_stop_recording() {
    sleep 0.5
    kill -TERM "$tcpdump_pid"
    for _ in $(seq 50); do kill -0 "$tcpdump_pid" 2>/dev/null || break; sleep 0.1; done
    mkdir -p "$(dirname "$here/$1")"
    cp "$work/capture.pcap" "$here/$1"
    echo "captures/$1: $(tcpdump -nr "$here/$1" 2>/dev/null | wc -l) packets"
}
