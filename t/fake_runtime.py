#!/usr/bin/env python3
"""Plays the guest runtime of snapvm-protocol(5) on the host side of a
vmrun --vsock socket, so the request loop can be tested without Linux.

usage: fake_runtime.py SOCKET_PATH [APP] [--stall]
Payload {"raise": MSG} answers with an error frame, {"close": true}
closes the connection, {"garbage": true} sends a frame that is not JSON;
anything else is echoed back as {"echo": payload}.  With --stall it says
hello and then never reads its socket (until it is killed); it creates
SOCKET_PATH.stalled once bytes for it wait there unread.
"""
import json
import select
import socket
import struct
import sys
import time


def send(s, obj):
    body = json.dumps(obj).encode()
    s.sendall(struct.pack(">I", len(body)) + body)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def connect(path):
    for _ in range(500):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.01)
    sys.exit("fake_runtime: cannot connect to " + path)


def serve(s):
    while True:
        (n,) = struct.unpack(">I", recv_exact(s, 4))
        req = json.loads(recv_exact(s, n))
        p = req.get("payload")
        if isinstance(p, dict) and "raise" in p:
            send(s, {"type": "error", "id": req.get("id"), "handler_us": 7,
                     "error": {"type": "ValueError", "message": p["raise"]}})
        elif isinstance(p, dict) and p.get("close"):
            return
        elif isinstance(p, dict) and p.get("garbage"):
            s.sendall(struct.pack(">I", 5) + b"{oops")
        else:
            send(s, {"type": "result", "id": req.get("id"), "handler_us": 3,
                     "response": {"echo": p}})


def main():
    args = [a for a in sys.argv[1:] if a != "--stall"]
    s = connect(args[0] + "_1024")
    send(s, {"type": "hello", "version": 1,
             "app": args[1] if len(args) > 1 else "echo"})
    if "--stall" in sys.argv:
        select.select([s], [], [])
        open(args[0] + ".stalled", "w").close()
        while True:
            time.sleep(60)
    try:
        serve(s)
    except EOFError:
        pass
    s.close()


if __name__ == "__main__":
    main()
