#!/usr/bin/env python3
"""Snapshot benchmark (make bench): cold boot to first response against
restore to first response, measured side by side in one run, plus the
size of each app's diff and the runner's own memory overhead.

    scripts/snapbench.py SNAPDIR      (made by scripts/mksnap)

Figures are for comparison with each other only.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUEST = open(os.path.join(ROOT, "appfs/hello/request.json")).read()
REQUEST = json.dumps(json.loads(REQUEST)) + "\n"


def guest_rss_kib(pid, mem_bytes):
    """Resident KiB of guest memory and of the whole process: guest
    memory is the one range of mem_bytes that the layers' memory files
    are mapped into (at their own offsets), working-set runs read into
    it included; or, booted, the one anonymous mapping of that size."""
    maps = []
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                path = fields[5] if len(fields) > 5 else ""
                maps.append([lo, hi, path, int(fields[2], 16), 0])
            elif fields[0] == "Rss:":
                maps[-1][4] = int(fields[1])
    base = None
    for lo, hi, path, off, _ in maps:
        if path.endswith("/memory"):
            base = lo - off
            break
        if not path and hi - lo == mem_bytes:
            base = lo
    guest = sum(m[4] for m in maps if base is not None and
                base <= m[0] and m[1] <= base + mem_bytes)
    return guest, sum(m[4] for m in maps)


def first_response(argv, mem_bytes, rss=True, phases=None):
    """Seconds from start to the first response line, and the RSS split
    (guest KiB, runner's own KiB) at that moment (not taken through a
    jail, whose process is its keeper).  With a list for phases, the run
    has --timings and its report is appended to the list."""
    if phases is not None:
        argv = argv + ["--timings"]
    t0 = time.perf_counter()
    errf = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=errf, text=True)
    p.stdin.write(REQUEST)
    p.stdin.flush()
    line = p.stdout.readline()
    dt = time.perf_counter() - t0
    guest, total = guest_rss_kib(p.pid, mem_bytes) if rss else (0, 0)
    p.stdin.close()
    p.wait(timeout=120)
    errf.seek(0)
    err = errf.read()
    if not line or json.loads(line).get("status") != "ok" or p.returncode:
        raise SystemExit("bad response or exit status %s from %s: %r\n%s" % (
            p.returncode, argv[0], line, err[-2000:]))
    if phases is not None:
        reports = [json.loads(x)["timings"] for x in err.splitlines()
                   if x.startswith('{"timings":')]
        if len(reports) != 1:
            raise SystemExit("%s --timings: %d reports on stderr\n%s" % (
                argv[0], len(reports), err[-2000:]))
        phases.append(reports[0])
    return dt, guest, total - guest


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def phase_table(restores, cold):
    """Each phase: the median over the restores of its time and of the
    page faults taken by then, next to the one cold boot's time."""
    names = []
    for run in restores + [cold]:
        for ph in run:
            if ph["phase"] not in names:
                names.append(ph["phase"])
    print("%-34s %12s %10s %8s %16s" % ("start phases (ms from main)",
          "restore med/%d" % len(restores), "minflt", "majflt",
          "vmrun cold boot"))
    for name in names:
        rows = [ph for run in restores for ph in run if ph["phase"] == name]
        boot = [ph["ms"] for ph in cold if ph["phase"] == name]
        cells = ["%12.1f" % median([r["ms"] for r in rows]) if rows else
                 "%12s" % "-"]
        faults = [r for r in rows if "minflt" in r]
        cells.append("%10d" % median([r["minflt"] for r in faults])
                     if faults else "%10s" % "-")
        cells.append("%8d" % median([r["majflt"] for r in faults])
                     if faults else "%8s" % "-")
        cells.append("%16.1f" % boot[0] if boot else "%16s" % "-")
        print("  %-32s %s" % (name, " ".join(cells)))


# QEMU's own snapshot restore, for comparison: the same kernel and root
# filesystem under QEMU's microvm, Python started and waiting on the
# console; its state saved with migrate to a file, then a second QEMU
# started with -incoming from that file.  The time is from starting the
# second QEMU until Python answers a line on the console.
QEMU_PY = "import sys; print('ready', flush=True); sys.stdin.readline(); print('pong', flush=True)"


def qemu_argv(tmp, cmdline):
    return ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-enable-kvm",
            "-cpu", "host", "-m", "128", "-nodefaults", "-no-user-config",
            "-display", "none", "-kernel", os.path.join(ROOT, "build/vmlinux"),
            "-append", cmdline,
            "-drive", "id=root,file=%s,format=raw,if=none,readonly=on" %
            os.path.join(ROOT, "build/rootfs.ext4"),
            "-device", "virtio-blk-device,drive=root",
            "-chardev", "socket,id=con,path=%s/con,server=on,wait=off" % tmp,
            "-serial", "chardev:con",
            "-qmp", "unix:%s/qmp,server=on,wait=off" % tmp]


def connect_unix(path, deadline):
    while True:
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def wait_for(sock, word, deadline):
    buf = b""
    while word.encode() not in buf:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk or time.monotonic() > deadline:
            raise TimeoutError("no %r on the QEMU console; it ends with %r"
                               % (word, buf[-300:]))
        buf += chunk


def qmp(path, deadline, *cmds):
    s = connect_unix(path, deadline)
    f = s.makefile("rw")
    f.readline()
    replies = []
    for cmd in ("qmp_capabilities",) + cmds:
        name, args = cmd if isinstance(cmd, tuple) else (cmd, None)
        f.write(json.dumps({"execute": name, "arguments": args or {}}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                replies.append(r)
                break
    s.close()
    return replies


def qemu_incoming():
    if shutil.which("qemu-system-x86_64") is None:
        return None, "qemu-system-x86_64 not installed"
    line = subprocess.run([ROOT + "/bin/vmrun", "--kernel", ROOT +
                           "/build/testguest/hello.elf", "--rootfs", ROOT +
                           "/build/rootfs.ext4", "-vv"], capture_output=True,
                          text=True).stderr
    base = [w for w in line.split("command line: ", 1)[1].split("\n")[0].split()
            if not w.startswith("virtio_mmio.device=")]
    cmdline = " ".join(base + ["noint3selftest", "nofwait",
                               'snapvm.run="python3 -c \\x22%s\\x22"' % QEMU_PY])
    tmp = tempfile.mkdtemp(prefix="snapbench.")
    try:
        p = subprocess.Popen(qemu_argv(tmp, cmdline), stderr=subprocess.PIPE)
        deadline = time.monotonic() + 900
        con = connect_unix(tmp + "/con", deadline)
        wait_for(con, "ready", deadline)
        state = tmp + "/state"
        qmp(tmp + "/qmp", deadline, "stop",
            ("migrate", {"uri": "exec:cat > " + state}))
        while qmp(tmp + "/qmp", deadline, "query-migrate")[1]["return"].get(
                "status") not in ("completed", "failed"):
            time.sleep(0.05)
        qmp(tmp + "/qmp", deadline, "quit")
        p.wait(timeout=60)
        t0 = time.perf_counter()
        q = subprocess.Popen(qemu_argv(tmp, cmdline) + [
            "-incoming", "exec:cat " + state], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        con = connect_unix(tmp + "/con", deadline)
        while qmp(tmp + "/qmp", deadline, "query-status")[1]["return"][
                "status"] == "inmigrate":
            time.sleep(0.005)
        qmp(tmp + "/qmp", deadline, "cont")
        con.sendall(b"\n")
        wait_for(con, "pong", deadline)
        dt = time.perf_counter() - t0
        q.kill()
        q.wait()
        return dt, "%d KiB state file" % (os.path.getsize(state) // 1024)
    except (OSError, TimeoutError, KeyError, IndexError,
            subprocess.TimeoutExpired) as e:
        return None, "QEMU -incoming did not run here: %s" % e
    finally:
        for proc in ("p", "q"):
            if proc in locals() and locals()[proc].poll() is None:
                locals()[proc].kill()
        shutil.rmtree(tmp, ignore_errors=True)


def digest_cache():
    """The digest cache's directory, readable by a jail's user as ctrl
    makes it (ctrl_jail.c): a jailed runner reads the digests verified
    outside and hashes nothing again."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    d = os.path.join(xdg, "snapvm/digest")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    return xdg, d


def jailed(argv, files, base, i):
    """argv through vmjail(1) as ctrl runs it: its files read-only, KVM,
    the digest cache, a uid of its own."""
    xdg, cache = digest_cache()
    j = [os.path.join(ROOT, "bin/vmjail"), "-q", "--id", "bench%d" % i,
         "--uid", "40900", "--gid", "40900", "--base", base,
         "--dev", "/dev/kvm", "--dev", "/dev/urandom",
         "--ro", cache, "--env", "XDG_CACHE_HOME=" + xdg]
    for f in files:
        j += ["--ro", f]
    return j + ["--"] + argv


def jail_cost(argv, files, mem):
    """Restore to first response with neither wall (--no-seccomp), with
    the seccomp filters only (the default) and in the jail with its
    filters, in turn, five of each: the medians."""
    base = tempfile.mkdtemp(dir=os.path.join(ROOT, "build"))
    os.chmod(base, 0o755)
    try:
        bare, filtered, jail = [], [], []
        for i in range(5):
            bare.append(first_response(argv + ["--no-seccomp"], mem)[0])
            filtered.append(first_response(argv, mem)[0])
            jail.append(first_response(jailed(argv, files, base, i), mem,
                                       rss=False)[0])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return [sorted(x)[2] for x in (bare, filtered, jail)]


def without_workset(snap, app):
    """A copy of an app's diff without its working set, beside it (its
    files hard links): the same layer, restored lazily."""
    src = os.path.join(snap, "diff", app)
    dst = tempfile.mkdtemp(prefix=".plain-", dir=os.path.join(snap, "diff"))
    with open(src + "/manifest.json") as f:
        m = json.load(f)
    m["files"].pop("workset", None)
    for name in m["files"]:
        os.link(os.path.join(src, name), os.path.join(dst, name))
    with open(dst + "/manifest.json", "w") as f:
        json.dump(m, f)
    return dst


def drop_caches():
    """Empties the page cache, so that layers are read from the disk (in
    the nested VM of make bench: from the host, over 9p)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def majflt(phases):
    return [ph for ph in phases if ph["phase"] == "first_response"][0]["majflt"]


def workset_bench(snap, argv_for, mem, n):
    """Lazy restore against restore with the working set, one after the
    other n times, page cache warm and then (as root) cold."""
    plain = without_workset(snap, "hello")
    try:
        for cold in (False, True):
            if cold and os.geteuid() != 0:
                print("%-34s %s" % ("restore, cold page cache",
                                    "not measured: drop_caches needs root"))
                continue
            runs = {"lazy": [], "ws": []}
            for i in range(n + (0 if cold else 1)):
                for kind, top in (("lazy", plain),
                                  ("ws", os.path.join(snap, "diff/hello"))):
                    if cold:
                        drop_caches()
                    ph = []
                    dt = first_response(argv_for(top), mem, phases=ph)[0]
                    if cold or i > 0:	# warm: the first of each warms up
                        runs[kind].append((dt, majflt(ph[0])))
            lazy, ws = (sorted(runs[k]) for k in ("lazy", "ws"))
            ml, mw = lazy[len(lazy) // 2], ws[len(ws) // 2]
            what = "cold" if cold else "warm"
            print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.1f" % (
                "restore, %s page cache" % what, "lazy (med/%d)" % n,
                ml[0] * 1000, "working set (med/%d)" % n, mw[0] * 1000,
                ml[0] / mw[0]))
            print("%-34s %-22s %8d     %-22s %8d" % (
                "  major faults, %s" % what, "lazy", ml[1], "working set",
                mw[1]))
    finally:
        shutil.rmtree(plain)


def du_kib(path):
    return os.stat(path).st_blocks // 2


def main():
    snap = os.path.abspath(sys.argv[1])	# a jail's paths are absolute
    bin_ = os.path.join(ROOT, "bin")
    build = os.path.join(ROOT, "build")
    mem = 128 << 20
    hello = os.path.join(build, "appfs/hello.ext2")
    cold_phases, phases = [], []
    cold = first_response([bin_ + "/vmrun", "--kernel", build + "/vmlinux",
                           "--rootfs", build + "/rootfs.ext4", "--appfs",
                           hello], mem, phases=cold_phases)
    layers = "%s/python3,%s/diff/hello" % (snap, snap)
    warm = [first_response([bin_ + "/snaprestore", "--load-dir", layers,
                            "--rootfs", build + "/rootfs.ext4",
                            "--appfs", hello], mem, phases=phases)
            for _ in range(5)]
    warm.sort()
    best = warm[len(warm) // 2]
    print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.1f" % (
        "hello: start to first response", "vmrun cold boot",
        cold[0] * 1000, "snaprestore (med/5, ws)", best[0] * 1000,
        cold[0] / best[0]))
    print("%-34s %-22s %8d KiB %-22s %8d KiB" % (
        "runner memory (RSS - guest pages)", "vmrun", cold[2],
        "snaprestore", best[2]))
    print("%-34s %-22s %8d KiB %-22s %8d KiB" % (
        "guest pages resident", "vmrun", cold[1], "snaprestore", best[1]))
    if os.geteuid() == 0:
        files = [build + "/rootfs.ext4", hello, snap + "/python3",
                 snap + "/diff/hello"]
        bare, filtered, jail = jail_cost(
            [bin_ + "/snaprestore", "--load-dir", layers, "--rootfs",
             build + "/rootfs.ext4", "--appfs", hello], files, mem)
        print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.2f" % (
            "restore: seccomp's cost", "--no-seccomp (med/5)", bare * 1000,
            "filtered (med/5)", filtered * 1000, filtered / bare))
        print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.2f" % (
            "restore: jail and seccomp's cost", "--no-seccomp (med/5)",
            bare * 1000, "in vmjail (med/5)", jail * 1000, jail / bare))
    else:
        print("%-34s %s" % ("restore: the jail's cost", "not measured: "
                            "vmjail needs root"))
    qemu, note = qemu_incoming()
    if qemu is None:
        print("%-34s %s" % ("QEMU -incoming restore", note))
    else:
        print("%-34s %-22s %8d ms  %-22s %8d ms  ratio %.1f  (%s)" % (
            "restore to first response", "qemu -incoming", qemu * 1000,
            "snaprestore (ws)", best[0] * 1000, qemu / best[0], note))
    phase_table(phases, cold_phases[0])
    workset_bench(snap, lambda top: [
        bin_ + "/snaprestore", "--load-dir", "%s/python3,%s" % (snap, top),
        "--rootfs", build + "/rootfs.ext4", "--appfs", hello], mem, 5)
    base = du_kib(os.path.join(snap, "python3/memory"))
    for app in sorted(os.listdir(os.path.join(snap, "diff"))):
        d = os.path.join(snap, "diff", app)
        if not os.path.isdir(d) or app.startswith("."):
            continue
        kib = du_kib(d + "/memory") + du_kib(d + "/pages")
        print("%-34s %-22s %8d KiB %-22s %8d KiB  share %.3f" % (
            "diff snapshot size: " + app, "diff", kib, "base", base,
            kib / base))


if __name__ == "__main__":
    main()
