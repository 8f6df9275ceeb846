#!/usr/bin/env python3
"""A TCP relay on loopback that plays the attacker on the path who strips
STARTTLS: for a given number of connections it passes everything through;
after those, it overwrites the word STARTTLS in the server's answers with
XXXXXXXA (same length, so the framing holds), as middleboxes seen on real
networks do. A client that upgrades only when offered then goes on in
clear. Connections are taken one after the other.

    strip-proxy.py LISTEN_PORT SERVER_PORT PASS_THROUGH STRIPPED
"""
import socket
import sys
import threading

listen_port, server_port = int(sys.argv[1]), int(sys.argv[2])
pass_through, stripped = int(sys.argv[3]), int(sys.argv[4])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen_port))
listener.listen(1)
listener.settimeout(30)


def pump(src, dst, strip):
    carry = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if strip:
                # The word may be split between two reads: hold back a tail
                # that could begin it until the next read or the end.
                data = (carry + data).replace(b"STARTTLS", b"XXXXXXXA")
                held = next((n for n in range(7, 0, -1) if data.endswith(b"STARTTLS"[:n])), 0)
                data, carry = data[:len(data) - held], data[len(data) - held:]
            dst.sendall(data)
    except OSError:
        pass
    try:
        if carry:
            dst.sendall(carry)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


for n in range(pass_through + stripped):
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", server_port), timeout=30)
    client.settimeout(30)
    upstream = threading.Thread(target=pump, args=(client, server, False))
    upstream.start()
    pump(server, client, n >= pass_through)
    upstream.join(timeout=30)
    client.close()
    server.close()
