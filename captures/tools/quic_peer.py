"""A QUIC server and client built on aioquic, for recording handshakes.

server: answers HTTP/3-less QUIC handshakes on 127.0.0.1:PORT until killed,
        optionally demanding a Retry and offering only some versions.
client: one handshake to 127.0.0.1:PORT, then closes; or several, one after
        the other, from the same local port (--connections, --local-port).

Only synthetic names are used; no application data is sent.
"""
import argparse
import asyncio
import ssl

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion

VERSIONS = {"1": QuicProtocolVersion.VERSION_1, "2": QuicProtocolVersion.VERSION_2}


async def run_server(args):
    config = QuicConfiguration(is_client=False, alpn_protocols=["h3", "hq-interop"])
    config.load_cert_chain(args.cert, args.key)
    config.supported_versions = [VERSIONS[v] for v in args.versions.split(",")]
    await serve("127.0.0.1", args.port, configuration=config, retry=args.retry)
    await asyncio.Future()


async def run_client(args):
    alpn = ["h3"]
    if args.long_hello:
        # Enough ALPN names that the ClientHello spans several Initial
        # packets, as a post-quantum key share makes a browser's do.
        alpn += [f"x-synthetic-protocol-{i:03d}-" + "p" * 40 for i in range(40)]
    config = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=args.sni)
    config.verify_mode = ssl.CERT_NONE
    config.supported_versions = [VERSIONS[v] for v in args.versions.split(",")]
    for n in range(args.connections):
        if n:
            await asyncio.sleep(0.2)
        async with connect("127.0.0.1", args.port, configuration=config, wait_connected=True,
                           local_port=args.local_port) as client:
            await client.ping()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--versions", default="1")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--retry", action="store_true")
    p.add_argument("--sni", default="ehr.example.test")
    p.add_argument("--long-hello", action="store_true")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--local-port", type=int, default=0)
    args = p.parse_args()
    asyncio.run(run_server(args) if args.mode == "server" else asyncio.wait_for(run_client(args), 10))


if __name__ == "__main__":
    main()
