#!/usr/bin/env python3
"""The snapvm function runtime: runs inside the guest, started by init.

It mounts the app filesystem (the second drive) read-only at /srv, imports
the app's workload.py, connects to the host over vsock (CID 2, port 1024),
says hello, then serves invocations one at a time: each payload goes to
handle(payload) and its return value, or the exception it raised, goes
back.  Frames and messages are described in snapvm-protocol(5).

For tests on the host, SNAPVM_APP_DIR names an app directory to use
instead of mounting, and SNAPVM_CONNECT=unix:PATH a Unix socket to use
instead of vsock.
"""
import ctypes
import importlib.util
import json
import os
import socket
import struct
import sys
import time

HOST_CID = 2
RUNTIME_PORT = 1024
FRAME_MAX = 16 * 1024 * 1024
APP_DEVICE = "/dev/vdb"
APP_DIR = "/srv"
MS_RDONLY = 1


def log(msg):
    print("snapvm runtime: " + msg, file=sys.stderr, flush=True)


def mount_app():
    """Mounts the app drive read-only; the rootfs has no mount(8) to rely on."""
    libc = ctypes.CDLL(None, use_errno=True)
    for fstype in (b"ext2", b"ext4"):
        if libc.mount(APP_DEVICE.encode(), APP_DIR.encode(), fstype,
                      MS_RDONLY, None) == 0:
            return APP_DIR
    err = ctypes.get_errno()
    raise OSError(err, "mount %s on %s: %s" % (APP_DEVICE, APP_DIR,
                                               os.strerror(err)))


def load_app(app_dir):
    """Imports workload.py; the app's name comes from snapvm-app.json."""
    name = os.path.basename(app_dir.rstrip("/")) or "app"
    try:
        with open(os.path.join(app_dir, "snapvm-app.json")) as f:
            name = json.load(f).get("name", name)
    except FileNotFoundError:
        pass
    sys.path.insert(0, app_dir)
    spec = importlib.util.spec_from_file_location(
        "workload", os.path.join(app_dir, "workload.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "handle", None)):
        raise TypeError("workload.py defines no handle(event)")
    return name, module.handle


def connect():
    target = os.environ.get("SNAPVM_CONNECT", "")
    if target.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target[5:])
    else:
        s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        s.connect((HOST_CID, RUNTIME_PORT))
    return s


def send(sock, obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def recv_exact(sock, n):
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("host closed the connection")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv(sock):
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    if n == 0 or n > FRAME_MAX:
        raise ValueError("frame of %d bytes" % n)
    return json.loads(recv_exact(sock, n))


def invoke(handle, req):
    """Runs one invocation; never raises for the function's own errors."""
    start = time.perf_counter_ns()
    try:
        result = handle(req.get("payload"))
        json.dumps(result)          # unserialisable results are errors too
        reply = {"type": "result", "id": req.get("id"), "response": result}
    except Exception as e:          # the function's failure, not ours
        reply = {"type": "error", "id": req.get("id"),
                 "error": {"type": type(e).__name__, "message": str(e)}}
    reply["handler_us"] = (time.perf_counter_ns() - start) // 1000
    return reply


def serve(sock, handle):
    while True:
        req = recv(sock)
        if req.get("type") == "invoke":
            send(sock, invoke(handle, req))


def main():
    app_dir = os.environ.get("SNAPVM_APP_DIR") or mount_app()
    name, handle = load_app(app_dir)
    sock = connect()
    send(sock, {"type": "hello", "version": 1, "app": name})
    log("serving app %s" % name)
    try:
        serve(sock, handle)
    except EOFError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
