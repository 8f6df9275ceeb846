"""A FHIR R4 endpoint on plain HTTP, for recording what an unprotected API
exposes: Python's http.server answering GET /fhir/Patient/<id> and
/fhir/metadata with application/fhir+json, until killed. It asks for HTTP
Basic credentials, as many internal endpoints do, and takes any.

The Patient resource is synthetic; its name and identifier are planted
values the tests look for in tlsaudit's output (and must not find).

    fhir_server.py PORT [CERT KEY]   (with CERT and KEY: HTTPS)
"""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATIENT = {
    "resourceType": "Patient",
    "id": "planted-4711",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "PLANTED-MRN-4711"}],
    "name": [{"family": "PLANTEDSURNAME", "given": ["PLANTEDGIVEN"]}],
    "gender": "female",
    "birthDate": "1970-01-01",
}
CAPABILITIES = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance", "fhirVersion": "4.0.1",
                "format": ["json"]}


class Fhir(BaseHTTPRequestHandler):
    def do_GET(self):
        if "Authorization" not in self.headers:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="fhir"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/fhir/metadata":
            body = CAPABILITIES
        elif self.path == "/fhir/Patient/planted-4711":
            body = PATIENT
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Fhir)
    if len(sys.argv) == 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
