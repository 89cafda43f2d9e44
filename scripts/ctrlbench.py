#!/usr/bin/env python3
"""ctrl benchmark (make bench): one workload trace (scripts/trace.py)
replayed against ctrl twice in this run, with snapshots and with
snapshots disabled (every new VM a cold boot), printed side by side.

    scripts/ctrlbench.py SNAPDIR [--rate R] [--duration S] [--seed N]

Figures are for comparison with each other only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = ["hello", "markdown", "digest", "primes", "orders"]


def write_config(tmp, snapdir, snapshots):
    with open(os.path.join(tmp, "ctrl.yaml"), "w") as f:
        f.write("""kernel: {r}/build/vmlinux
rootfs: {r}/build/rootfs.ext4
appfs_dir: {r}/build/appfs
snapshot_dir: {s}
vmrun: {r}/bin/vmrun
snaprestore: {r}/bin/snaprestore
functions: functions.yaml
memory_budget: 640
idle_timeout: 600
queue_limit: 1000
jail: {{enabled: false}}
""".format(r=ROOT, s=snapdir))
    with open(os.path.join(tmp, "functions.yaml"), "w") as f:
        f.write("functions:\n")
        for app in APPS:
            # Deadlines long enough for cold boots on a loaded host: the
            # benchmark compares latencies, it does not refuse requests.
            f.write("  - name: %s\n    memory: 128\n    concurrency: 2\n"
                    "    timeout: 1800000\n    snapshots: %s\n" %
                    (app, "true" if snapshots else "false"))
    return os.path.join(tmp, "ctrl.yaml")


def replay(trace, snapdir, snapshots):
    with tempfile.TemporaryDirectory() as tmp:
        conf = write_config(tmp, snapdir, snapshots)
        t0 = time.monotonic()
        out = subprocess.run([os.path.join(ROOT, "bin/ctrl"), "--config",
                              conf, "--requests", trace],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=True).stdout
        wall = time.monotonic() - t0
    return [json.loads(line) for line in out.splitlines()], wall


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def summary(answers, wall, sent):
    ok = [a for a in answers if a.get("status") == "ok"]
    cold = [a["latency_ms"] for a in ok if a["cold"]]
    warm = [a["latency_ms"] for a in ok if not a["cold"]]
    allv = cold + warm
    ids = sorted(a["id"] for a in answers)
    if ids != list(range(sent)):
        sys.exit("ctrlbench: %d requests, answers for %r" % (sent, ids))
    return {
        "answered ok": len(ok),
        "served warm (%)": 100.0 * len(warm) / max(1, len(ok)),
        "end to end p50 (ms)": pct(allv, 50),
        "end to end p99 (ms)": pct(allv, 99),
        "cold start p50 (ms)": pct(cold, 50),
        "cold start p99 (ms)": pct(cold, 99),
        "warm p50 (ms)": pct(warm, 50),
        "warm p99 (ms)": pct(warm, 99),
        "throughput (req/s)": len(ok) / wall,
        "wall time (s)": wall,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("snapdir")
    ap.add_argument("--rate", default="0.3")
    ap.add_argument("--duration", default="40")
    ap.add_argument("--seed", default="1")
    a = ap.parse_args()
    a.snapdir = os.path.abspath(a.snapdir)   # ctrl.yaml is elsewhere
    with tempfile.NamedTemporaryFile("w+", suffix=".jsonl") as trace:
        subprocess.run([os.path.join(ROOT, "scripts/trace.py"), "--rate",
                        a.rate, "--duration", a.duration, "--seed", a.seed],
                       stdout=trace, check=True)
        trace.flush()
        sent = sum(1 for _ in open(trace.name))
        snap = summary(*replay(trace.name, a.snapdir, True), sent)
        cold = summary(*replay(trace.name, a.snapdir, False), sent)
    print("ctrl replaying one trace: %d requests, Poisson %s/s over %s s, "
          "5 functions; every request answered exactly once in both runs" %
          (sent, a.rate, a.duration))
    for key in snap:
        ratio = cold[key] / snap[key] if snap[key] else float("nan")
        print("%-34s %-22s %10.1f  %-22s %10.1f  ratio %.2f" %
              (key, "snapshots", snap[key], "cold boots only", cold[key],
               ratio))


if __name__ == "__main__":
    main()
