#!/usr/bin/env bash
# Records health-data protocols crossing loopback unencrypted, each between
# real stacks (apt-get install dcmtk python3-hl7 curl tcpdump; pip install
# pynetdicom for the second DICOM stack):
#   cleartext/dicom-cstore.pcap      dcmtk storescu sends one image to
#                                    storescp (A-ASSOCIATE, C-STORE, release)
#   cleartext/dicom-echo.pcap        dcmtk echoscu verifies storescp (C-ECHO)
#   cleartext/dicom-pynetdicom.pcap  pynetdicom's SCU stores the same image
#   cleartext/hl7-mllp.pcap          python-hl7 sends an ADT^A01 over MLLP;
#                                    the listener answers with an ACK
#   cleartext/fhir-http.pcap         curl reads a FHIR Patient over plain
#                                    HTTP with Basic credentials
# Every identifier is synthetic. The patient's name, record number and the
# HTTP password are planted values (PLANTEDSURNAME, PLANTEDGIVEN,
# PLANTED-MRN-4711, PLANTED-PASSWORD-fhir): tlsaudit must never write them.
# Usage: captures/make-cleartext-health-captures.sh [PYTHON]  (a Python
# with pynetdicom; Debian's python3 runs the HL7 and FHIR peers)
source "$(dirname "$0")/recording.sh"
python=${1:-python3}
tools="$here/tools"
mkdir -p "$here/cleartext"

# One secondary-capture image of a synthetic patient.
dump2dcm +te "$tools/synthetic-image.dump" image.dcm

mkdir -p received
storescp --aetitle SYNTH-PACS -od received 11112 >storescp.log 2>&1 &
pids+=("$!")
/usr/bin/python3 "$tools/hl7_peer.py" listen --port 2575 >hl7.log 2>&1 &
pids+=("$!")
/usr/bin/python3 "$tools/fhir_server.py" 8080 >fhir.log 2>&1 &
pids+=("$!")
for port in 11112 2575 8080; do wait_listening "$port"; done

# record NAME PORT COMMAND...: one client run while tcpdump records PORT.
record() {
    start_recording "$2"
    "${@:3}" </dev/null >client.log 2>&1
    stop_recording "cleartext/$1"
}

record dicom-cstore.pcap 11112 storescu -aet SYNTH-MODALITY -aec SYNTH-PACS 127.0.0.1 11112 image.dcm
record dicom-echo.pcap 11112 echoscu -aet SYNTH-MODALITY -aec SYNTH-PACS 127.0.0.1 11112
record dicom-pynetdicom.pcap 11112 "$python" "$tools/dicom_scu.py" 11112 image.dcm
record hl7-mllp.pcap 2575 /usr/bin/python3 "$tools/hl7_peer.py" send --port 2575
record fhir-http.pcap 8080 curl -sf -u clinician:PLANTED-PASSWORD-fhir -H "Accept: application/fhir+json" \
    http://127.0.0.1:8080/fhir/Patient/planted-4711
