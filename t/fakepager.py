#!/usr/bin/env python3
"""A page server for tests that need no VM (snapvm-pager(5), version 1).

  fakepager.py SOCKET LOG ready PAGES | error STATUS MESSAGE | hangup |
               garbage | done

Listens on SOCKET (SOCK_SEQPACKET), takes one runner's HELLO, checks it
as snappager would (every field; the descriptor must be a userfaultfd)
and writes what it got to LOG as one JSON object: ids, bytes, page_size,
base, uffd (the descriptor's kind), or "bad" with why.  Then it answers
as told: READY for PAGES pages (it puts none in: the test's restore
must not touch guest memory), an ERROR, nothing (hangs up), a packet
that is no reply, or DONE before READY; and waits for the runner to hang
up.  Exits 0 if the HELLO was good.
"""
import json
import os
import socket
import struct
import sys

MAGIC = b"SNAPVMPG"
HELLO = struct.Struct("<8sIIQQII")
HELLO_SIZE = HELLO.size + 8 * 64


def reply(typ, status=0, pages=0, message=b""):
    return MAGIC + struct.pack("<IIIIQ", 1, typ, status, 0, pages) + \
        message.ljust(256, b"\0")[:256]


def check_hello(data, fds):
    if len(data) != HELLO_SIZE:
        return None, "HELLO of %d bytes" % len(data)
    magic, version, typ, base, nbytes, page, n = HELLO.unpack_from(data)
    if magic != MAGIC or version != 1 or typ != 1 or page != 4096:
        return None, "magic, version, type or page_size"
    if base % 4096 or nbytes % 4096 or nbytes == 0 or not 1 <= n <= 8:
        return None, "base, bytes or nlayers"
    ids = [data[HELLO.size + 64 * i:HELLO.size + 64 * (i + 1)]
           for i in range(8)]
    hexdigits = set(b"0123456789abcdef")
    if any(not set(i) <= hexdigits for i in ids[:n]) or \
            any(i != bytes(64) for i in ids[n:]):
        return None, "ids"
    if len(fds) != 1:
        return None, "%d descriptors" % len(fds)
    return {"ids": [i.decode() for i in ids[:n]], "bytes": nbytes,
            "page_size": page, "base": base,
            "uffd": os.readlink("/proc/self/fd/%d" % fds[0])}, None


def main(argv):
    path, log, what = argv[1], argv[2], argv[3]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path + ".tmp")
    os.rename(path + ".tmp", path)      # there once it can be connected to
    srv.listen(1)
    conn, _ = srv.accept()
    data, fds, _flags, _addr = socket.recv_fds(conn, HELLO_SIZE + 1, 4)
    got, why = check_hello(data, fds)
    with open(log, "w") as f:
        json.dump(got if got else {"bad": why}, f)
    if what == "ready":
        conn.send(reply(2, pages=int(argv[4])))
    elif what == "error":
        conn.send(reply(3, int(argv[4]), message=argv[5].encode()))
    elif what == "garbage":
        conn.send(b"no reply")
    elif what == "done":
        conn.send(reply(4))
    if what != "hangup":
        conn.recv(1024)                  # the runner's end: b""
    conn.close()
    return 0 if got else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
