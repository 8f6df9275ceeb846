#!/usr/bin/env python3
"""Packs a fuzz corpus directory into one file, or unpacks it again.

The committed corpora (tests/fuzz/corpus/<target>.bin.zst, decompressed)
hold every input after its length (u32, little endian), in file-name order.
Unpacked, each input becomes a file named by the SHA-1 of its bytes, as
libFuzzer names the inputs it keeps.

    corpus-pack.py pack DIR OUT.bin
    corpus-pack.py unpack IN.bin DIR
"""
import hashlib
import os
import struct
import sys


def pack(src, out):
    with open(out, "wb") as o:
        for name in sorted(os.listdir(src)):
            with open(os.path.join(src, name), "rb") as f:
                data = f.read()
            o.write(struct.pack("<I", len(data)) + data)


def unpack(packed, out):
    os.makedirs(out, exist_ok=True)
    with open(packed, "rb") as f:
        data = f.read()
    at = 0
    while at + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, at)
        one = data[at + 4:at + 4 + length]
        if len(one) != length:
            sys.exit(f"{packed}: the last input is cut short ({len(one)} of {length} bytes)")
        at += 4 + length
        with open(os.path.join(out, hashlib.sha1(one).hexdigest()), "wb") as f:
            f.write(one)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("pack", "unpack"):
        sys.exit(__doc__)
    (pack if sys.argv[1] == "pack" else unpack)(sys.argv[2], sys.argv[3])
