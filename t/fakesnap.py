#!/usr/bin/env python3
"""Snapshot layers and a runner for tests that need no VM.

  fakesnap.py layer DIR [--parent BASE] [--mib N] [--pages N] [--seed S]
                        [--rootfs FILE] [--appfs FILE]
      writes a layer in the format of snapvm-snapshot(5), version 3: a
      state file whose sections have the sizes and values a real one has
      (zeros, a seeded clock), a sparse memory file with a few data pages,
      for a diff a pages bitmap, and a manifest.json with every size and
      SHA-256 (the id is the state's SHA-256, a diff's parent the base's
      id).  Drives are recorded by content: a base with --rootfs has that
      and an empty app drive, as a base vmrun makes; a diff has its
      parent's, with --appfs as the app drive.  snaprestore(1) checks such
      a layer as it would a real one; nothing in it can be resumed.

  fakesnap.py --load-dir L[,L...] [--rootfs F] --appfs APP.ext2
              [--dump-dir D] ...
      plays snaprestore(1) for ctrl: checks that every layer is whole
      (manifest of version 2 or 3 present, files of the recorded size and
      SHA-256, each diff on the layer before it), that the drives named
      are the ones the top layer records (any app drive for a layer at
      the runtime point) and, with --net, that the tap exists (and says
      where it is on stderr), then either writes a diff layer on them at
      --dump-dir, or answers request lines by running the app's
      workload.py (appfs/NAME/) on the host.  Exits 70 if a layer or a
      drive is bad.  With --record-workset FILE, before its first answer
      it writes FILE as snaprestore does: a page bitmap of the memory,
      with the first 16 pages set (FAKESNAP_WORKSET=symlink: FILE is a
      symbolic link to a file of that size instead, as a hostile runner
      could make it).

  With --page-server PATH (a lazy restore, t/fakesnappager.py serving):
      it connects to PATH (SOCK_SEQPACKET), waits for "READY", and checks
      the layers without their memory and workset files, which a runner
      with a page server never opens; a thread then watches the socket:
      "ERROR STATUS MESSAGE" makes it print "fakesnap: page server:
      MESSAGE" and exit STATUS at once, a hangup exit 69, as snaprestore
      does; "DONE" is taken in silence.  FAKESNAP_PAGER=ignore: it goes on
      whatever the page server says (a runner that does not end itself);
      FAKESNAP_PAGER=fail: it exits 70 before it connects, as a runner
      that finds a layer bad would.  With FAKESNAP_PAGERCLIENT=PROGRAM
      (build/t/pagerclient) the page server is a real snappager(1):
      PROGRAM makes the guest memory and hands it over as snaprestore
      does (snapvm-pager(5)) and reads every page before the first
      request is read, its digest on stderr as "fakesnap: memory sha256
      HEX"; PROGRAM then waits for DONE and hangs up; a status other than
      0 is this runner's at once.

  fakesnap.py --kernel K [--rootfs F] [--appfs APP.ext2] [--dump-dir D] ...
      plays vmrun(1) for ctrl: with --dump-dir, writes a base layer (a
      full one at the runtime point, with --rootfs and an empty app
      drive) at D, as ctrl's builder has vmrun do; else, a cold boot,
      answers request lines with the app's workload.py.

  Both take --cpu-template NAME|FILE and --cpu-workarounds
  auto|on|noxsave|off and check them as the runners would (a built-in
  name or a readable file; one of the four), exiting 64 if not.

  fakesnap.py --load-dir L[,L...] --add-workset FILE
      is bin/snaprestore's: no VM is needed to add a working set.

  For the tests of several hosts (scripts/cluster), from the environment:
  FAKESNAP_EXEC_LOG=FILE appends one JSON line per request run,
  {"rid": the payload's "rid" member or null, "tag": FAKESNAP_TAG,
  "pid": ...}, before running it, so that a test counts executions;
  with FAKESNAP_HOLD=FILE, a request whose payload has "hold": true
  waits, once recorded, until FILE exists (at most 120 s), so that a
  test knows it is in flight; FAKESNAP_SALT=S makes the diffs this
  runner writes differ from another host's, as real ones would.
  FAKESNAP_ARGV_LOG=FILE appends one JSON line per runner started, its
  command line as a list, so that a test sees what ctrl gave it.
"""
import hashlib
import importlib.util
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

PAGE = 4096
VERSION = 3
READS = (2, 3)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY = {"size": 0, "read_only": True,
         "sha256": hashlib.sha256(b"").hexdigest()}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def drive_record(spec):
    """A drive as a manifest records it: FILE[,rw] by its contents."""
    path, ro = (spec[:-3], False) if spec.endswith(",rw") else (spec, True)
    return {"size": os.path.getsize(path), "read_only": ro,
            "sha256": sha256(path)}


# Section sizes and types of snapvm-snapshot(5) on x86-64.
SEC = {"regs": (0x10, 144), "sregs": (0x11, 312), "xsave": (0x12, 4096),
       "xcrs": (0x13, 392), "lapic": (0x15, 1024), "mp_state": (0x16, 4),
       "events": (0x17, 64), "debugregs": (0x18, 128)}


def section(kind, index, data):
    data = bytes(data)
    pad = b"\0" * (-len(data) % 8)
    return struct.pack("<IIII", kind, index, len(data), 0) + data + pad


def state_bytes(rnd, drives, cid):
    """A state file as a one-vCPU machine with these drives has: the
    interrupt controllers, PIT and clock (seeded, so that layers differ),
    the vCPU's sections, the UART, each drive's transport and device and
    the vsock device."""
    secs = []
    for n in range(3):
        chip = bytearray(520)
        struct.pack_into("<I", chip, 0, n)
        if n == 2:
            struct.pack_into("<Q", chip, 8, 0xfec00000)
        secs.append(section(0x20 + n, 0, chip))
    secs.append(section(0x23, 0, bytes(112)))
    secs.append(section(0x24, 0, struct.pack("<Q", rnd.getrandbits(63)) +
                        bytes(40)))
    for name in ("sregs", "regs", "xsave", "xcrs", "lapic"):
        kind, size = SEC[name]
        data = bytearray(size)
        if name == "xcrs":
            struct.pack_into("<IIIIQ", data, 0, 1, 0, 0, 0, 1)
        secs.append(section(kind, 0, data))
    secs.append(section(0x14, 0, b"".join(
        struct.pack("<IIQ", msr, 0, 0) for msr in (0x10, 0x174, 0xc0000080))))
    for name in ("mp_state", "events", "debugregs"):
        kind, size = SEC[name]
        secs.append(section(kind, 0, bytes(size)))
    secs.append(section(0x30, 0, bytes(32)))
    for i, d in enumerate(drives):
        secs.append(section(0x31, i, bytes(160)))
        blk = struct.pack("<QB3x", d["size"] // 512, d["read_only"])
        secs.append(section(0x32, i, blk + bytes(20)))
    if cid is not None:
        secs.append(section(0x31, len(drives), bytes(160)))
        secs.append(section(0x33, 0, struct.pack("<Q", cid)))
    return b"SNAPVMST" + struct.pack("<II", 1, len(secs)) + b"".join(secs)


def write_layer(d, parent, mib, seed, ndata=None, drives=(), cid=3):
    rnd = random.Random(seed)
    drives = list(drives)
    os.makedirs(d)
    with open(os.path.join(d, "state"), "wb") as f:
        f.write(state_bytes(rnd, drives, cid))
    npages = mib * 256
    ndata = ndata or (64 if parent else 512)
    data = sorted(rnd.sample(range(npages), min(npages, ndata)))
    with open(os.path.join(d, "memory"), "wb") as f:
        f.truncate(npages * PAGE)
        for p in data:
            f.seek(p * PAGE)
            f.write(rnd.randbytes(PAGE))
    names = ["state", "memory"]
    if parent:
        bits = bytearray(npages // 8)
        for p in data:
            bits[p // 8] |= 1 << (p % 8)
        with open(os.path.join(d, "pages"), "wb") as f:
            f.write(bits)
        names.append("pages")
    files = {n: {"size": os.path.getsize(os.path.join(d, n)),
                 "sha256": sha256(os.path.join(d, n))} for n in names}
    meta = {"format": "snapvm-snapshot", "version": VERSION,
            "kind": "diff" if parent else "full",
            "id": files["state"]["sha256"],
            "parent": manifest(parent)["id"] if parent else None,
            "point": "app" if parent else "runtime",
            "mem_mib": mib, "vcpus": 1, "drives": drives, "vsock_cid": cid,
            "files": files}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(meta, f)


def layer_drives(parent, rootfs, appfs):
    """The drives a layer made with these flags records."""
    if parent is None:
        if rootfs is None:
            return []
        return [drive_record(rootfs),
                drive_record(appfs) if appfs else EMPTY]
    drives = list(manifest(parent)["drives"])
    if rootfs is not None and drives:
        drives[0] = drive_record(rootfs)
    if appfs is not None and len(drives) > 1:
        drives[1] = drive_record(appfs)
    return drives


def manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def check_layers(dirs, lazy=False):
    below = None
    for d in dirs:
        m = manifest(d)
        if m["version"] not in READS:
            raise ValueError("%s: format version %s, not %s: rebuild it" %
                             (d, m["version"], READS))
        for name, want in m["files"].items():
            if lazy and name in ("memory", "workset"):
                continue
            p = os.path.join(d, name)
            if os.path.getsize(p) != want["size"] or sha256(p) != want["sha256"]:
                raise ValueError("%s: size or SHA-256 differs" % p)
        if (m["kind"] == "diff") != (below is not None) or \
                (below is not None and m["parent"] != below["id"]):
            raise ValueError("%s: not on the layer below it" % d)
        below = m
    return below


def check_drives(top, opts):
    """As snaprestore: slot 0 is --rootfs, slot 1 --appfs; every drive of
    the layer named, none more, each with the recorded contents except
    the app drive of a layer at the runtime point."""
    given = [opts.get("--rootfs"), opts.get("--appfs")]
    while given and given[-1] is None:
        given.pop()
    want = top["drives"]
    if len(given) > len(want):
        raise ValueError("the layer has %d drives, %d given" %
                         (len(want), len(given)))
    for i, rec in enumerate(want):
        if i >= len(given) or given[i] is None:
            raise ValueError("drive %d is not named" % i)
        got = drive_record(given[i]) if i != 1 or top["point"] != "runtime" \
            else dict(rec, read_only=drive_record(given[i])["read_only"])
        if got != rec:
            raise ValueError("%s: not drive %d of the layer: %s, the layer "
                             "has %s" % (given[i], i, got["sha256"],
                                         rec["sha256"]))


def load_app(appfs):
    # No __pycache__ in appfs/NAME/: make would take it for a change to
    # the app and pack a new image, which no diff layer was made with.
    sys.dont_write_bytecode = True
    name = os.path.basename(appfs).rsplit(".", 1)[0]
    path = os.path.join(ROOT, "appfs", name, "workload.py")
    spec = importlib.util.spec_from_file_location("workload", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(mod)
    return mod


def describe_net(opts):
    """What ctrl gave the VM: the tap (which must exist), where it is and
    the address the guest would be told."""
    tap, mac = opts["--net"].split("/")
    sysfs = "/sys/class/net/" + tap
    if not os.path.isdir(sysfs):
        raise SystemExit("fakesnap: no tap %s" % tap)
    master = os.path.basename(os.readlink(sysfs + "/master")) \
        if os.path.exists(sysfs + "/master") else "none"
    with open(sysfs + "/flags") as f:
        up = int(f.read(), 16) & 1
    return "net tap=%s mac=%s bridge=%s up=%d addr=%s" % (
        tap, mac, master, up, opts.get("--net-addr", "none"))


def append_json(path, obj):
    """obj, one JSON line written whole (O_APPEND): lines of several
    processes never mix."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    finally:
        os.close(fd)


def record_run(payload):
    """One line per execution, written whole (O_APPEND) before it runs."""
    path = os.environ.get("FAKESNAP_EXEC_LOG")
    if not path:
        return
    rid = payload.get("rid") if isinstance(payload, dict) else None
    append_json(path, {"rid": rid, "tag": os.environ.get("FAKESNAP_TAG"),
                       "pid": os.getpid()})


def hold(payload):
    """A request held in flight until the test lets it go."""
    path = os.environ.get("FAKESNAP_HOLD")
    if not path or not isinstance(payload, dict) or not payload.get("hold"):
        return
    end = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)


def record_workset(path, mib):
    """The page bitmap a recording restore writes at its first answer."""
    bits = bytearray(mib * 256 // 8)
    bits[0:2] = b"\xff\xff"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(bits)
    if os.environ.get("FAKESNAP_WORKSET") == "symlink":
        os.rename(tmp, path + ".real")
        os.symlink(path + ".real", path)
    else:
        os.rename(tmp, path)


def serve(app, workset=None):
    for line in sys.stdin:
        req = json.loads(line)
        if workset:
            record_workset(*workset)
            workset = None
        record_run(req.get("payload"))
        hold(req.get("payload"))
        try:
            out = {"id": req["id"], "status": "ok",
                   "response": app.handle(req.get("payload"))}
        except Exception as e:  # the runtime's error response
            out = {"id": req["id"], "status": "error",
                   "error": {"type": type(e).__name__, "message": str(e)}}
        out["timings_us"] = {"total": 1, "handler": 1}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def real_page_server(client, path, layers):
    """A real snappager's, through PROGRAM: READY, then watched."""
    p = subprocess.Popen([client, path, ",".join(layers), "all",
                          "--wait-done"], stdout=subprocess.PIPE)
    # READY, then every page read (as a guest might touch them all
    # before its first answer) and the memory's digest; DONE may come
    # between them.
    line = p.stdout.readline()
    while line.startswith((b"ready ", b"done")):
        line = p.stdout.readline()
    if not line.startswith(b"sha256 "):
        rc = p.wait()
        print("fakesnap: page server: status %d" % rc, file=sys.stderr)
        sys.exit(rc or 76)
    print("fakesnap: memory %s" % line.decode().strip(), file=sys.stderr,
          flush=True)

    def watch():
        for _ in p.stdout:
            pass
        rc = p.wait()
        if rc != 0:
            print("fakesnap: page server: status %d" % rc, file=sys.stderr,
                  flush=True)
            os._exit(rc)

    threading.Thread(target=watch, daemon=True).start()


def page_server(path, layers):
    """Connected, and READY; then watched for as long as this runs."""
    if os.environ.get("FAKESNAP_PAGER") == "fail":
        print("fakesnap: a layer is bad (FAKESNAP_PAGER=fail)",
              file=sys.stderr)
        sys.exit(70)
    if os.environ.get("FAKESNAP_PAGERCLIENT"):
        real_page_server(os.environ["FAKESNAP_PAGERCLIENT"], path, layers)
        return
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    first = s.recv(512)
    if first != b"READY":
        print("fakesnap: page server: %r" % first, file=sys.stderr)
        sys.exit(76)

    def watch():
        while True:
            msg = s.recv(512)
            if msg == b"DONE" or os.environ.get("FAKESNAP_PAGER") == "ignore":
                if not msg:
                    return
                continue
            if msg.startswith(b"ERROR "):
                _, status, text = msg.decode().split(" ", 2)
                print("fakesnap: page server: %s" % text, file=sys.stderr,
                      flush=True)
                os._exit(int(status))
            print("fakesnap: page server hung up", file=sys.stderr,
                  flush=True)
            os._exit(69)

    threading.Thread(target=watch, daemon=True).start()


def record_argv(argv):
    """The command line, for FAKESNAP_ARGV_LOG."""
    if os.environ.get("FAKESNAP_ARGV_LOG"):
        append_json(os.environ["FAKESNAP_ARGV_LOG"], argv)


BUILTINS = ("host", "x86-64-v2", "x86-64-v3", "x86-64-v4")
WORKAROUNDS = ("auto", "on", "noxsave", "off")


def check_cpu(opts):
    """--cpu-template and --cpu-workarounds as the runners take them."""
    tmpl = opts.get("--cpu-template", "host")
    if tmpl not in BUILTINS and not os.access(tmpl, os.R_OK):
        raise ValueError("--cpu-template %s: not a built-in template, and "
                         "no file to read" % tmpl)
    wa = opts.get("--cpu-workarounds", "auto")
    if wa not in WORKAROUNDS:
        raise ValueError("--cpu-workarounds: expected auto, on, noxsave "
                         "or off, got \"%s\"" % wa)


def boot(opts):
    """vmrun: a base layer at --dump-dir, or a cold boot's answers."""
    if "--dump-dir" in opts:
        write_layer(opts["--dump-dir"], None, 16,
                    "base" + os.environ.get("FAKESNAP_SALT", ""),
                    drives=layer_drives(None, opts.get("--rootfs"), None))
        return 0
    serve(load_app(opts["--appfs"]))
    return 0


def runner(argv):
    if "--add-workset" in argv:
        os.execv(os.path.join(ROOT, "bin", "snaprestore"),
                 ["snaprestore"] + argv)
    record_argv(argv)
    opts = {}
    for i in range(0, len(argv) - 1, 2):
        opts[argv[i]] = argv[i + 1]
    try:
        check_cpu(opts)
    except ValueError as e:
        print("fakesnap: %s" % e, file=sys.stderr)
        return 64
    if "--load-dir" not in opts:
        return boot(opts)
    layers = opts["--load-dir"].split(",")
    lazy = "--page-server" in opts
    try:
        check_drives(check_layers(layers, lazy), opts)
    except (OSError, ValueError, KeyError) as e:
        print("fakesnap: %s" % e, file=sys.stderr)
        return 70
    if lazy:
        if "--record-workset" in opts or "--dump-dir" in opts:
            print("fakesnap: --page-server with --record-workset or "
                  "--dump-dir", file=sys.stderr)
            return 64
        page_server(opts["--page-server"], layers)
    print("fakesnap: restored from %s" % ",".join(layers), file=sys.stderr)
    if "--net" in opts:
        print("fakesnap: %s" % describe_net(opts), file=sys.stderr)
    if "--dump-dir" in opts:
        write_layer(opts["--dump-dir"], layers[-1], manifest(layers[0])["mem_mib"],
                    os.path.basename(opts["--appfs"]) +
                    os.environ.get("FAKESNAP_SALT", ""),
                    drives=layer_drives(layers[-1], opts.get("--rootfs"),
                                        opts.get("--appfs")))
        return 0
    workset = None
    if "--record-workset" in opts:
        print("fakesnap: recording a working set in %s" %
              opts["--record-workset"], file=sys.stderr)
        workset = (opts["--record-workset"], manifest(layers[0])["mem_mib"])
    serve(load_app(opts["--appfs"]), workset)
    return 0


def main(argv):
    if argv and argv[0] == "layer":
        def flag(name, default=None):
            return argv[argv.index(name) + 1] if name in argv else default
        parent = flag("--parent")
        pages = flag("--pages")
        write_layer(argv[1], parent, int(flag("--mib", 16)),
                    flag("--seed", argv[1]), int(pages) if pages else None,
                    layer_drives(parent, flag("--rootfs"), flag("--appfs")))
        return 0
    return runner(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
