"""A DICOM storage SCU built on pynetdicom (PyPI), for recording a second
DICOM stack: associates with 127.0.0.1:PORT as SYNTH-WORKSTN, sends one
C-STORE of FILE, releases.
"""
import sys

from pydicom import dcmread
from pynetdicom import AE

port, path = int(sys.argv[1]), sys.argv[2]
dataset = dcmread(path)
ae = AE(ae_title="SYNTH-WORKSTN")
ae.add_requested_context(dataset.SOPClassUID, dataset.file_meta.TransferSyntaxUID)
assoc = ae.associate("127.0.0.1", port, ae_title="SYNTH-PACS")
if not assoc.is_established:
    sys.exit("association rejected")
status = assoc.send_c_store(dataset)
assoc.release()
sys.exit(0 if status and status.Status == 0 else "C-STORE failed")
