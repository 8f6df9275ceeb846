#!/usr/bin/env bash
# Records captures/tunnels/vxlan.pcap: TLS carried in VXLAN by the Linux
# kernel, as a cloud traffic mirror delivers it. Two network namespaces made
# here are joined by a veth pair (the underlay, 192.0.2.1 and 192.0.2.2);
# each has a VXLAN device, VNI 4242 on UDP 4789, with the overlay addresses
# 198.51.100.1/.2 and 2001:db8:42::1/::2. tcpdump records the underlay, so
# every packet in the file is Ethernet/IPv4/UDP/VXLAN around the overlay's
# Ethernet frame:
#   198.51.100.1 -> 198.51.100.2:443   TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256
#   [2001:db8:42::1] -> [2001:db8:42::2]:8443   TLS 1.3
# Needs root, iproute2 (the kernel's vxlan device), openssl and tcpdump.
#
#   bash captures/make-vxlan-capture.sh
#
# The namespaces are deleted and the processes started here stopped by PID.
source "$(dirname "$0")/namespaces.sh"
client=tlsaudit-vxlan-client
server=tlsaudit-vxlan-server
make_namespace "$client"
make_namespace "$server"
ip link add underlay-c netns "$client" type veth peer name underlay-s netns "$server"
# side NS UNDERLAY_DEV OWN_UNDERLAY PEER_UNDERLAY OWN_V4 OWN_V6
side() {
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" link set "$2" up
    ip -n "$1" link add vx4242 type vxlan id 4242 dstport 4789 local "$3" remote "$4" dev "$2"
    ip -n "$1" addr add "$5/24" dev vx4242
    ip -n "$1" addr add "$6/64" dev vx4242 nodad
    ip -n "$1" link set vx4242 up
}
side "$client" underlay-c 192.0.2.1 192.0.2.2 198.51.100.1 2001:db8:42::1
side "$server" underlay-s 192.0.2.2 192.0.2.1 198.51.100.2 2001:db8:42::2

openssl req -x509 -newkey rsa:2048 -nodes -keyout vx.key -out vx.pem -days 3650 \
    -subj "/CN=ehr.vxlan.example.test" -addext "subjectAltName=DNS:ehr.vxlan.example.test" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null

ns_start_recording "$client" underlay-c udp port 4789

# session ADDRESS PORT CLIENT_OPTIONS...: one handshake across the overlay.
session() {
    local address=$1 port=$2
    ip netns exec "$server" sh -c 'echo $$ >"$1"; exec timeout 20 openssl s_server -accept "$2" -naccept 1 -www -cert vx.pem -key vx.key' \
        sh "$work/server.pid" "$port" >"$work/server-$port.log" 2>&1 &
    sleep 0.2
    pids+=("$(cat "$work/server.pid")")
    for _ in $(seq 50); do ip netns exec "$server" ss -ltn | grep -q ":$port " && break; sleep 0.1; done
    echo | ip netns exec "$client" timeout 10 openssl s_client -connect "$address:$port" \
        -servername ehr.vxlan.example.test "${@:3}" >"$work/client-$port.log" 2>&1 || true
}

session 198.51.100.2 443 -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
session "[2001:db8:42::2]" 8443 -tls1_3

ns_stop_recording tunnels/vxlan.pcap
