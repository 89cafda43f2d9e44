#!/usr/bin/env python3
"""The snapvm function runtime: runs inside the guest, started by init.

It connects to the host over vsock (CID 2, port 1024) and reports the
"runtime" checkpoint; then it mounts the app filesystem (the second drive)
read-only at /srv, imports the app's workload.py, reports the "app"
checkpoint, says hello, and serves invocations one at a time: each payload
goes to handle(payload) and its return value, or the exception it raised,
goes back.  Frames and messages are described in snapvm-protocol(5).

A checkpoint is where the host may take a snapshot (snapvm-snapshot(5)).
A VM restored from it finds its connection reset: the runtime connects
again, says "restored", and like the original takes from the host's
"continue" a random seed for the kernel (copies of one snapshot must not
share random numbers), the wall-clock time, the app drive's size and,
if the host gives the VM a network, eth0's address, gateway and MAC
(copies must not share those either), which /sbin/snapvm-netcfg sets.

For tests on the host, SNAPVM_APP_DIR names an app directory to use
instead of mounting, SNAPVM_CONNECT=unix:PATH a Unix socket to use
instead of vsock, and SNAPVM_NETCFG a program to run instead of
/sbin/snapvm-netcfg (on the host, nothing is run without it).
"""
import ctypes
import fcntl
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
RNDADDENTROPY = 0x40085203      # linux/random.h
RNDRESEEDCRNG = 0x5207
NET_IFACE = "eth0"
# On the host (tests), the runtime must not touch the clock or the RNG.
IN_GUEST = not os.environ.get("SNAPVM_CONNECT")
NETCFG = os.environ.get("SNAPVM_NETCFG") or (
    "/sbin/snapvm-netcfg" if IN_GUEST else None)
# The "net" of the last continue that was applied: the same again (the
# second checkpoint of a boot, or a restore onto the snapshot's own
# address and MAC) needs no new process.
_net_applied = None


def log(msg):
    print("snapvm runtime: " + msg, file=sys.stderr, flush=True)


def wait_for_drive(size):
    """After a restore the kernel learns the app drive's new size from a
    config interrupt, a moment later: mounting before would fail."""
    path = "/sys/block/" + os.path.basename(APP_DEVICE) + "/size"
    deadline = time.monotonic() + 10
    while size and time.monotonic() < deadline:
        with open(path) as f:
            if int(f.read()) * 512 == size:
                return
        time.sleep(0.002)


def mount_app(size=0):
    """Mounts the app drive read-only; the rootfs has no mount(8) to rely on."""
    wait_for_drive(size)
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


def reseed(seed):
    """Mixes the host's seed into the kernel pool and rekeys the CRNG now,
    then reseeds Python's own generator if an app uses it."""
    with open("/dev/urandom", "wb") as f:
        fcntl.ioctl(f, RNDADDENTROPY,
                    struct.pack("ii", len(seed) * 8, len(seed)) + seed)
        try:
            fcntl.ioctl(f, RNDRESEEDCRNG)
        except OSError as e:
            log("RNDRESEEDCRNG: %s" % e)
    if "random" in sys.modules:
        sys.modules["random"].seed()


def netcfg_argv(net):
    """The snapvm-netcfg command for a continue message's "net", or None
    if it is not what snapvm-protocol(5) describes."""
    if not isinstance(net, dict):
        return None
    addr, gw, mac = net.get("addr"), net.get("gw"), net.get("mac")
    if not isinstance(addr, str) or not isinstance(gw, (str, type(None))) \
            or not isinstance(mac, (str, type(None))):
        return None
    return [NETCFG, NET_IFACE, addr + ("," + gw if gw else "")] + \
        ([mac] if mac else [])


def configure_net(net):
    """Gives eth0 the host's address, gateway and MAC for this VM.  A
    failure is logged and the runtime goes on: most functions never use
    the network, and those that do will say what failed."""
    global _net_applied
    argv = netcfg_argv(net)
    if argv is None:
        log("network: ignored a malformed \"net\": %r" % (net,))
        return
    if net == _net_applied:
        return
    try:
        # posix_spawn: no subprocess import, and a vfork, which costs
        # the guest kernel less than a fork of the whole interpreter.
        pid = os.posix_spawn(argv[0], argv, os.environ)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except OSError as e:
        log("network: %s: %s" % (argv[0], e))
        return
    if status != 0:
        log("network: %s exited with status %d; going on without it"
            % (" ".join(argv), status))
        return
    _net_applied = net


def resume(msg):
    """Applies a "continue" message; returns the app drive's size."""
    if msg.get("type") != "continue":
        raise ValueError("expected continue, got %r" % msg.get("type"))
    if IN_GUEST:
        reseed(bytes.fromhex(msg["seed"]))
        time.clock_settime_ns(time.CLOCK_REALTIME, int(msg["time_ns"]))
    if NETCFG and "net" in msg:
        configure_net(msg["net"])
    return int(msg.get("app_bytes", 0))


def checkpoint(sock, point):
    """Reports a checkpoint and waits to go on; a reset connection means
    this is a restored copy, which reconnects.  Returns (sock, app size)."""
    if sock is not None:
        try:
            send(sock, {"type": "checkpoint", "point": point})
            return sock, resume(recv(sock))
        except (OSError, EOFError):   # ENOTCONN or ECONNRESET after a restore
            sock.close()
    sock = connect()
    send(sock, {"type": "restored", "point": point})
    return sock, resume(recv(sock))


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


def serve(sock, handle, name):
    """Serves until the host hangs up.  A reset means this VM was
    snapshotted while serving and is a restored copy: connect again."""
    while True:
        try:
            req = recv(sock)
        except OSError:
            sock.close()
            sock, _ = checkpoint(None, "app")
            send(sock, {"type": "hello", "version": 1, "app": name})
            continue
        if req.get("type") == "invoke":
            send(sock, invoke(handle, req))


def main():
    sock, app_bytes = checkpoint(connect(), "runtime")
    app_dir = os.environ.get("SNAPVM_APP_DIR") or mount_app(app_bytes)
    name, handle = load_app(app_dir)
    sock, _ = checkpoint(sock, "app")
    send(sock, {"type": "hello", "version": 1, "app": name})
    log("serving app %s" % name)
    try:
        serve(sock, handle, name)
    except EOFError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
