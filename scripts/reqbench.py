#!/usr/bin/env python3
"""Request benchmark (make bench): requests per second and per-request
latency on one warm VM serving hello, beside a JSON-lines echo over a
Unix socket on the host, the floor any VM-based path sits on.

    scripts/reqbench.py SNAPDIR [N]

Both sides run the same client code in this run: one request at a time
(latency, p50, p99, the slowest, and how many took 200 ms or more), then
N requests written without waiting (throughput), then a few requests
with a 3 MiB payload, answered with it (the round trip's median).
Figures are for comparison with each other only.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


class Lines:
    """A JSON-lines peer behind a writable and a readable file."""

    def __init__(self, w, r):
        self.w, self.r = w, r

    def send(self, i, payload=b'{"name": "bench"}'):
        self.w.write(b'{"id": %d, "payload": %s}\n' % (i, payload))

    def call(self, i, payload=b'{"name": "bench"}'):
        self.send(i, payload)
        self.w.flush()
        return self.check(i)

    def check(self, i):
        line = self.r.readline()
        if not line:
            sys.exit("reqbench: the peer hung up")
        got = json.loads(line)
        if got.get("id") != i or got.get("status") != "ok":
            sys.exit("reqbench: unexpected answer %r" % line[:200])
        return got


BIG = b'"' + b"x" * (3 << 20) + b'"'    # 3 MiB of payload
STALL = 0.2                              # seconds: a stall


BIG_RUNS = 3


def big_round_trip(peer, big_costs, runs=BIG_RUNS):
    """The median time of a 3 MiB payload there and back; each answer's
    "vm" member, where it has one, appended to big_costs."""
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        got = peer.call(10 ** 6 + i, BIG)
        times.append(time.perf_counter() - t0)
        if len(got["response"]["echo"]) != len(BIG) - 2:
            sys.exit("reqbench: the 3 MiB payload came back changed")
        if "vm" in got:
            big_costs.append(got["vm"])
    return percentile(times, 50) * 1e6


def threads_cpu(pid):
    """Per thread of pid, by name: CPU ms in user mode (guest mode
    excluded), in the kernel, in guest mode, and minor faults."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                v = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, guest = (int(v[i]) * 1000 / hz for i in (11, 12, 40))
        out[name] = [utime - guest, stime, guest, int(v[7])]
    return out


def measure(peer, n, costs=None, big_costs=None, pid=None):
    """rps, p50, p99, the slowest, stalls, the 3 MiB round trip, and
    with pid, the CPU each of its threads spent in the round trips; with
    a list for costs, each one-at-a-time answer's "vm" member (--timings)
    is appended to it."""
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        got = peer.call(i)
        lat.append(time.perf_counter() - t0)
        if costs is not None:
            costs.append(got["vm"])

    def writer():
        for i in range(n, 2 * n):
            peer.send(i)
        peer.w.flush()
    t0 = time.perf_counter()
    th = threading.Thread(target=writer)
    th.start()
    for i in range(n, 2 * n):
        peer.check(i)
    th.join()
    rps = n / (time.perf_counter() - t0)
    cpu0 = threads_cpu(pid) if pid else {}
    big = big_round_trip(peer, big_costs if big_costs is not None else [])
    cpu1 = threads_cpu(pid) if pid else {}
    cpu = {k: [(b - a) / BIG_RUNS for a, b in zip(cpu0[k], cpu1[k])]
           for k in cpu1 if k in cpu0}
    return (rps, percentile(lat, 50) * 1e6, percentile(lat, 99) * 1e6,
            max(lat) * 1e6, sum(x >= STALL for x in lat), big, cpu)


def echo_server(path, ready):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    ready.set()
    conn, _ = srv.accept()
    r, w = conn.makefile("rb"), conn.makefile("wb")
    for line in r:
        req = json.loads(line)
        w.write((json.dumps({"id": req["id"], "status": "ok",
                             "response": {"echo": req["payload"]}}) +
                 "\n").encode())
        w.flush()
    conn.close()
    srv.close()


def host_floor(n, tmp):
    path = os.path.join(tmp, "echo.sock")
    ready = threading.Event()
    threading.Thread(target=echo_server, args=(path, ready),
                     daemon=True).start()
    ready.wait()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    peer = Lines(s.makefile("wb"), s.makefile("rb"))
    peer.call(-1)
    result = measure(peer, n)
    s.close()
    return result


def vm(snap, n, costs, big_costs):
    layers = "%s/python3,%s/diff/hello" % (snap, snap)
    p = subprocess.Popen([os.path.join(ROOT, "bin/snaprestore"), "--timings",
                          "--load-dir", layers, "--rootfs",
                          os.path.join(ROOT, "build/rootfs.ext4"), "--appfs",
                          os.path.join(ROOT, "build/appfs/hello.ext2")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    peer = Lines(p.stdin, p.stdout)
    for i in range(-20, 0):         # warm: restored pages faulted in
        peer.call(i)
    result = measure(peer, n, costs, big_costs, p.pid)
    p.stdin.close()
    if p.wait(timeout=60) != 0:
        sys.exit("reqbench: snaprestore exited with %d" % p.returncode)
    return result


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: reqbench.py SNAPDIR [N]")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        floor = host_floor(n, tmp)
    costs, big_costs = [], []
    ours = vm(sys.argv[1], n, costs, big_costs)
    print("requests on a warm VM, %d one at a time, then %d pipelined" %
          (n, n))
    for what, i, unit in (("requests per second", 0, "rps"),
                          ("latency p50", 1, "us"), ("latency p99", 2, "us"),
                          ("latency, slowest", 3, "us"),
                          ("3 MiB payload round trip", 5, "us")):
        print("%-34s %-22s %8.0f %-3s %-22s %8.0f %-3s ratio %.2f" %
              (what, "host unix echo", floor[i], unit, "vm hello", ours[i],
               unit, ours[i] / floor[i] if i else floor[i] / ours[i]))
    print("%-34s %-22s %8d     %-22s %8d     of %d" % (
        "requests of %d ms or more" % (STALL * 1000), "host unix echo",
        floor[4], "vm hello", ours[4], n))
    for key in ("io_exits", "mmio_exits", "intr_exits", "other_exits",
                "interrupts"):
        print("%-34s %-22s %8.1f     median %d, max %d" % (
            "per request (one at a time)", key,
            sum(c[key] for c in costs) / len(costs),
            percentile([c[key] for c in costs], 50),
            max(c[key] for c in costs)))
    print("%-34s %s" % ("per 3 MiB round trip (median)", ", ".join(
        "%s %d" % (key, percentile([c[key] for c in big_costs], 50))
        for key in ("mmio_exits", "intr_exits", "interrupts"))))
    # Where a round trip's time goes: the runner's threads (the main one
    # moves request and response between the pipes and the vsock and
    # checks their JSON; evloop is the devices'; vcpu0's guest column is
    # the guest itself), and the page faults of fresh buffers.
    for name, (user, kern, guest, minflt) in sorted(ours[6].items()):
        print("%-34s %-22s user %5.0f ms, kernel %5.0f ms, guest %5.0f ms, "
              "minor faults %d" % ("per 3 MiB round trip, CPU", name, user,
                                   kern, guest, minflt))


if __name__ == "__main__":
    main()
