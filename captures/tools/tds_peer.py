"""A TDS (MS-SQL) PRELOGIN exchange whose TLS handshake travels inside TDS
PRELOGIN packets (MS-TDS 2.2.6.5, 3.2.5.1), between a client and a server
built on Python's ssl module (OpenSSL) through memory BIOs: the TLS is a
real stack's, the TDS framing is written here from the specification.
After the handshake the client sends one TLS record (a synthetic LOGIN7)
directly over TCP, as TDS does. Synthetic names only.

The server answers the PRELOGIN's ENCRYPTION option as told: "on" (TLS for
the whole session, the default), "login-only" (ENCRYPT_OFF: TLS for the
LOGIN7 only, the rest of the session in clear) or "none"
(ENCRYPT_NOT_SUP: no TLS, the LOGIN7 in clear). It then reads the LOGIN7
and closes the connection without answering it.

server: python3 tds_peer.py server PORT CERT KEY [on|login-only|none]
client: python3 tds_peer.py client PORT [1.2]   (1.2: TLS 1.2 at most)
"""
import socket
import ssl
import struct
import sys

PRELOGIN, RESPONSE = 0x12, 0x04
# The ENCRYPTION option's values (MS-TDS 2.2.6.5).
ENCRYPTION = {"login-only": 0x00, "on": 0x01, "none": 0x02}


def prelogin_payload(encryption=ENCRYPTION["on"]):
    # Options: VERSION (6 bytes), ENCRYPTION (1 byte), terminator.
    header_len = 5 + 5 + 1
    opts = struct.pack(">BHH", 0x00, header_len, 6) + struct.pack(">BHH", 0x01, header_len + 6, 1) + b"\xff"
    return opts + bytes([16, 0, 0x07, 0xd0, 0, 0]) + bytes([encryption])


def send_packet(sock, kind, payload, packet_id=1):
    for i in range(0, max(len(payload), 1), 4088):
        piece = payload[i:i + 4088]
        last = i + 4088 >= len(payload)
        sock.sendall(struct.pack(">BBHHBB", kind, 1 if last else 0, len(piece) + 8, 0, packet_id, 0) + piece)


def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def recv_packet(sock):
    header = recv_exact(sock, 8)
    kind, status, length = struct.unpack(">BBH", header[:4])
    return kind, status, recv_exact(sock, length - 8)


def handshake(sock, tls, incoming, outgoing):
    """Runs the TLS handshake with every flight inside PRELOGIN packets."""
    while True:
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = outgoing.read()
        if data:
            send_packet(sock, PRELOGIN, data)
        if done:
            return
        _, _, payload = recv_packet(sock)
        incoming.write(payload)


def server(port, cert, key, mode="on"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    conn, _ = listener.accept()
    recv_packet(conn)
    send_packet(conn, RESPONSE, prelogin_payload(ENCRYPTION[mode]))
    if mode == "none":
        # The LOGIN7 comes in clear, in TDS packets of type 0x10.
        recv_packet(conn)
        conn.close()
        return
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    handshake(conn, tls, incoming, outgoing)
    # The LOGIN7 comes as TLS records straight over TCP.
    incoming.write(conn.recv(65536))
    try:
        tls.read()
    except ssl.SSLError:
        pass
    conn.close()


def client(port, tls12=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(("127.0.0.1", port))
    send_packet(sock, PRELOGIN, prelogin_payload())
    recv_packet(sock)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="ehr-db.example.test")
    handshake(sock, tls, incoming, outgoing)
    tls.write(struct.pack(">BBHHBB", 0x10, 1, 8 + 16, 0, 1, 0) + b"synthetic-login7")
    sock.sendall(outgoing.read())
    sock.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:6])
    else:
        client(int(sys.argv[2]), sys.argv[3:] == ["1.2"])
