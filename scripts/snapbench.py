#!/usr/bin/env python3
"""Snapshot benchmark (make bench): cold boot to first response against
restore to first response, measured side by side in one run, plus the
size of each app's diff and the runner's own memory overhead.

    scripts/snapbench.py SNAPDIR      (made by scripts/mksnap)

Figures are for comparison with each other only.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUEST = open(os.path.join(ROOT, "appfs/hello/request.json")).read()
REQUEST = json.dumps(json.loads(REQUEST)) + "\n"


def guest_rss_kib(pid, mem_bytes):
    """Resident KiB of guest memory: the mappings of the layers' memory
    files (restored) or the one anonymous mapping of the guest's size."""
    guest = total = 0
    size = 0
    path = ""
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                size = hi - lo
                path = fields[5] if len(fields) > 5 else ""
            elif fields[0] == "Rss:":
                kib = int(fields[1])
                total += kib
                if path.endswith("/memory") or (not path and size == mem_bytes):
                    guest += kib
    return guest, total


def first_response(argv, mem_bytes):
    """Seconds from start to the first response line, and the RSS split
    (guest KiB, runner's own KiB) at that moment."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    p.stdin.write(REQUEST)
    p.stdin.flush()
    line = p.stdout.readline()
    dt = time.perf_counter() - t0
    guest, total = guest_rss_kib(p.pid, mem_bytes)
    p.stdin.close()
    p.wait(timeout=120)
    resp = json.loads(line)
    if resp.get("status") != "ok":
        raise SystemExit("bad response from %s: %s" % (argv[0], line))
    return dt, guest, total - guest


def du_kib(path):
    return os.stat(path).st_blocks // 2


def main():
    snap = sys.argv[1]
    bin_ = os.path.join(ROOT, "bin")
    build = os.path.join(ROOT, "build")
    mem = 128 << 20
    hello = os.path.join(build, "appfs/hello.ext2")
    cold = first_response([bin_ + "/vmrun", "--kernel", build + "/vmlinux",
                           "--rootfs", build + "/rootfs.ext4", "--appfs",
                           hello], mem)
    layers = "%s/python3,%s/diff/hello" % (snap, snap)
    warm = [first_response([bin_ + "/snaprestore", "--load-dir", layers,
                            "--appfs", hello], mem) for _ in range(5)]
    warm.sort()
    best = warm[len(warm) // 2]
    print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.1f" % (
        "hello: start to first response", "vmrun cold boot",
        cold[0] * 1000, "snaprestore (median/5)", best[0] * 1000,
        cold[0] / best[0]))
    print("%-34s %-22s %8d KiB %-22s %8d KiB" % (
        "runner memory (RSS - guest pages)", "vmrun", cold[2],
        "snaprestore", best[2]))
    print("%-34s %-22s %8d KiB %-22s %8d KiB" % (
        "guest pages resident", "vmrun", cold[1], "snaprestore", best[1]))
    base = du_kib(os.path.join(snap, "python3/memory"))
    for app in sorted(os.listdir(os.path.join(snap, "diff"))):
        d = os.path.join(snap, "diff", app)
        if not os.path.isdir(d):
            continue
        kib = du_kib(d + "/memory") + du_kib(d + "/pages")
        print("%-34s %-22s %8d KiB %-22s %8d KiB  share %.3f" % (
            "diff snapshot size: " + app, "diff", kib, "base", base,
            kib / base))


if __name__ == "__main__":
    main()
