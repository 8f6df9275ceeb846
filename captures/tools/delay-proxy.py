#!/usr/bin/env python3
"""A one-connection TCP relay on loopback that holds every chunk from the
server for a fixed time before passing it to the client: a long network
round trip, so that what a client sends without waiting for the server
(TLS False Start) is visibly sent before the server's reply.

    delay-proxy.py LISTEN_PORT SERVER_PORT DELAY_SECONDS
"""
import socket
import sys
import threading
import time

listen_port, server_port, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen_port))
listener.listen(1)
listener.settimeout(20)
client, _ = listener.accept()
server = socket.create_connection(("127.0.0.1", server_port), timeout=20)
client.settimeout(20)


def pump(src, dst, hold):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if hold:
                time.sleep(hold)
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


upstream = threading.Thread(target=pump, args=(client, server, 0))
upstream.start()
pump(server, client, delay)
upstream.join(timeout=20)
client.close()
server.close()
