#!/usr/bin/env python3
"""The CPUID a snapshot layer records (snapvm-snapshot(5), section 0x1a),
for tests: read it, or give a copy of a layer a feature its guest never
had, as a layer made on a newer host would have it.

    cpuid_edit.py dump LAYER           each vCPU's entries, as JSON
    cpuid_edit.py add-missing LAYER    sets, in every vCPU's CPUID, the
                                       first feature of FEATURES the
                                       layer lacks; prints its name

add-missing rewrites the state file and the manifest's checksum and id,
so that the layer is whole and only its CPU is new.  A test tool: the
layer's own files are trusted here.
"""
import hashlib
import json
import os
import struct
import sys

SEC_CPUID = 0x1A
ENTRY = struct.Struct("<IIIIIII12x")
REGS = {"eax": 3, "ebx": 4, "ecx": 5, "edx": 6}
# Features no host of these machines has had (newest first); all leaf 7,
# whose bits the CPU filter passes as KVM reports them.
FEATURES = [
    ("amx_tile", 7, 0, "edx", 24),
    ("avx512_fp16", 7, 0, "edx", 23),
    ("avx512_vp2intersect", 7, 0, "edx", 8),
    ("movdir64b", 7, 0, "ecx", 28),
    ("avx512_vnni", 7, 0, "ecx", 11),
    ("avx512f", 7, 0, "ebx", 16),
]


def sections(data):
    magic, version, n = struct.unpack_from("<8sII", data, 0)
    assert magic == b"SNAPVMST" and version == 1, "not a state file"
    off = 16
    for _ in range(n):
        typ, index, size, _res = struct.unpack_from("<IIII", data, off)
        yield typ, index, off + 16, size
        off += 16 + size + (-size) % 8


def entries(data, at, size):
    return [list(ENTRY.unpack_from(data, at + i))
            for i in range(0, size, ENTRY.size)]


def dump(layer):
    data = open(os.path.join(layer, "state"), "rb").read()
    out = {}
    for typ, index, at, size in sections(data):
        if typ == SEC_CPUID:
            out[index] = [dict(zip(("leaf", "subleaf", "flags", "eax", "ebx",
                                    "ecx", "edx"), e))
                          for e in entries(data, at, size)]
    json.dump(out, sys.stdout, sort_keys=True)
    print()


def has(es, leaf, sub, reg, bit):
    return any(e[0] == leaf and e[1] == sub and e[REGS[reg]] >> bit & 1
               for e in es)


def add_missing(layer):
    path = os.path.join(layer, "state")
    data = bytearray(open(path, "rb").read())
    cpuid = [(at, size) for typ, _i, at, size in sections(data)
             if typ == SEC_CPUID]
    assert cpuid, "%s: no CPUID sections (a layer of format 3?)" % path
    first = entries(data, *cpuid[0])
    name, leaf, sub, reg, bit = next(
        f for f in FEATURES if not has(first, *f[1:]))
    for at, size in cpuid:
        for i in range(0, size, ENTRY.size):
            e = list(ENTRY.unpack_from(data, at + i))
            if e[0] == leaf and e[1] == sub:
                e[REGS[reg]] |= 1 << bit
                ENTRY.pack_into(data, at + i, *e)
    open(path, "wb").write(data)
    digest = hashlib.sha256(data).hexdigest()
    mpath = os.path.join(layer, "manifest.json")
    m = json.load(open(mpath))
    m["id"] = digest
    m["files"]["state"] = {"size": len(data), "sha256": digest}
    json.dump(m, open(mpath, "w"), indent=2)
    print(name)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("dump", "add-missing"):
        sys.exit(__doc__)
    (dump if sys.argv[1] == "dump" else add_missing)(sys.argv[2])
