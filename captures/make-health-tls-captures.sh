#!/usr/bin/env bash
# Records the health-data protocols of make-cleartext-health-captures.sh
# with TLS on, between the same real stacks, on the ports such services use
# for TLS; the servers' certificate comes from a throwaway CA made here
# (apt-get install dcmtk python3-hl7 curl tcpdump):
#   dicom-tls.pcap      dcmtk storescu sends the image to storescp over
#                       TLS (+tls, port 2762: DICOM's TLS port)
#   hl7-mllp-tls.pcap   python-hl7 sends the ADT^A01 over MLLP inside TLS
#                       (Python's ssl module, port 2576)
#   fhir-https.pcap     curl reads the FHIR Patient over HTTPS (port 8443)
# The planted values travel inside TLS: tlsaudit sees none of them either.
# Usage: captures/make-health-tls-captures.sh
source "$(dirname "$0")/recording.sh"
tools="$here/tools"

# A CA and one server certificate for the three services.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Synthetic Health Test CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=pacs.example.test" \
    -keyout key.pem -out server.csr 2>/dev/null
printf '%s\n' "subjectAltName=DNS:pacs.example.test,DNS:mllp.example.test,DNS:fhir.example.test,IP:127.0.0.1" \
    "extendedKeyUsage=serverAuth,clientAuth" >ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 365 -extfile ext.cnf \
    -out cert.pem 2>/dev/null

# The image of the clear-text recording (same synthetic patient).
dump2dcm +te "$tools/synthetic-image.dump" image.dcm

mkdir -p received
storescp --aetitle SYNTH-PACS -od received +tls key.pem cert.pem +cf ca.pem 2762 >storescp.log 2>&1 &
pids+=("$!")
/usr/bin/python3 "$tools/hl7_peer.py" listen --port 2576 --tls cert.pem key.pem >hl7.log 2>&1 &
pids+=("$!")
/usr/bin/python3 "$tools/fhir_server.py" 8443 cert.pem key.pem >fhir.log 2>&1 &
pids+=("$!")
for port in 2762 2576 8443; do wait_listening "$port"; done

# record NAME PORT COMMAND...: one client run while tcpdump records PORT.
record() {
    start_recording "$2"
    "${@:3}" </dev/null >client.log 2>&1 || { cat client.log; exit 1; }
    stop_recording "$1"
}

record dicom-tls.pcap 2762 storescu -aet SYNTH-MODALITY -aec SYNTH-PACS +tls key.pem cert.pem +cf ca.pem \
    127.0.0.1 2762 image.dcm
record hl7-mllp-tls.pcap 2576 /usr/bin/python3 "$tools/hl7_peer.py" send --port 2576 --tls ca.pem
record fhir-https.pcap 8443 curl -sf --cacert ca.pem --resolve fhir.example.test:8443:127.0.0.1 \
    -u clinician:PLANTED-PASSWORD-fhir -H "Accept: application/fhir+json" \
    https://fhir.example.test:8443/fhir/Patient/planted-4711
