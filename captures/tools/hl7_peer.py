"""An HL7 v2 sender and listener over MLLP, built on python-hl7's asyncio
MLLP support (Debian: python3-hl7), for recording interface-engine traffic.

listen: accepts MLLP connections on 127.0.0.1:PORT and answers each
        message with its ACK, until killed.
send:   one ADT^A01 message to 127.0.0.1:PORT, waits for the ACK, closes.

With --tls CERT KEY (listen) or --tls CA (send) the MLLP stream runs inside
TLS (Python's ssl module, OpenSSL), as an interface engine configured for
MLLP over TLS does.

Every identifier in the message is synthetic; the patient fields hold the
planted values the tests look for in tlsaudit's output (and must not find).
"""
import argparse
import asyncio
import ssl

import hl7
import hl7.mllp

ADT_A01 = "\r".join([
    "MSH|^~\\&|SYNTH-ADT|SYNTH-HOSP|SYNTH-RIS|SYNTH-HOSP|20261202120000||ADT^A01|MSG00001|P|2.5",
    "EVN|A01|20261202120000",
    "PID|1||PLANTED-MRN-4711^^^SYNTH||PLANTEDSURNAME^PLANTEDGIVEN||19700101|F",
    "PV1|1|I|SYNTH-WARD^101^1",
])


async def answer(reader, writer):
    try:
        while not reader.at_eof():
            message = await reader.readmessage()
            writer.writemessage(message.create_ack())
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


async def listen(port, tls):
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
    server = await hl7.mllp.start_hl7_server(answer, "127.0.0.1", port, ssl=context)
    async with server:
        await server.serve_forever()


async def send(port, tls):
    context = None
    if tls:
        context = ssl.create_default_context(cafile=tls[0])
    reader, writer = await hl7.mllp.open_hl7_connection(
        "127.0.0.1", port, ssl=context, server_hostname="mllp.example.test" if context else None)
    writer.writemessage(hl7.parse(ADT_A01))
    await writer.drain()
    await reader.readmessage()
    writer.close()
    await writer.wait_closed()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["listen", "send"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls", nargs="+", metavar="FILE", help="listen: CERT KEY; send: CA")
    args = p.parse_args()
    job = listen(args.port, args.tls) if args.mode == "listen" else asyncio.wait_for(send(args.port, args.tls), 10)
    asyncio.run(job)


if __name__ == "__main__":
    main()
