#!/usr/bin/env python3
"""Snapshot layers and a runner for tests that need no VM.

  fakesnap.py layer DIR [--parent BASE] [--mib N] [--pages N] [--seed S]
      writes a layer in the format of snapvm-snapshot(5): a state file of
      random bytes, a sparse memory file with a few data pages, for a
      diff a pages bitmap, and a manifest.json with every size and
      SHA-256 (the id is the state's SHA-256, a diff's parent the base's
      id).  Nothing in it can be resumed; the format is what is real.

  fakesnap.py --load-dir L[,L...] --appfs APP.ext2 [--dump-dir D] ...
      plays snaprestore(1) for ctrl: checks that every layer is whole
      (manifest present, files of the recorded size and SHA-256, each
      diff on the layer before it) and, with --net, that the tap exists
      (and says where it is on stderr), then either writes a diff layer on
      them at --dump-dir, or answers request lines by running the app's
      workload.py (appfs/NAME/) on the host.  Exits 70 if a layer is bad.
"""
import hashlib
import importlib.util
import json
import os
import random
import sys

PAGE = 4096
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_layer(d, parent, mib, seed, ndata=None):
    rnd = random.Random(seed)
    os.makedirs(d)
    with open(os.path.join(d, "state"), "wb") as f:
        f.write(rnd.randbytes(8192))
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
    meta = {"format": "snapvm-snapshot", "version": 1,
            "kind": "diff" if parent else "full",
            "id": files["state"]["sha256"],
            "parent": manifest(parent)["id"] if parent else None,
            "point": "app" if parent else "runtime",
            "mem_mib": mib, "vcpus": 1, "drives": [], "vsock_cid": 3,
            "files": files}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(meta, f)


def manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def check_layers(dirs):
    below = None
    for d in dirs:
        m = manifest(d)
        for name, want in m["files"].items():
            p = os.path.join(d, name)
            if os.path.getsize(p) != want["size"] or sha256(p) != want["sha256"]:
                raise ValueError("%s: size or SHA-256 differs" % p)
        if (m["kind"] == "diff") != (below is not None) or \
                (below is not None and m["parent"] != below["id"]):
            raise ValueError("%s: not on the layer below it" % d)
        below = m


def load_app(appfs):
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


def serve(app):
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = {"id": req["id"], "status": "ok",
                   "response": app.handle(req.get("payload"))}
        except Exception as e:  # the runtime's error response
            out = {"id": req["id"], "status": "error",
                   "error": {"type": type(e).__name__, "message": str(e)}}
        out["timings_us"] = {"total": 1, "handler": 1}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def runner(argv):
    opts = {}
    for i in range(0, len(argv) - 1, 2):
        opts[argv[i]] = argv[i + 1]
    layers = opts["--load-dir"].split(",")
    try:
        check_layers(layers)
    except (OSError, ValueError, KeyError) as e:
        print("fakesnap: %s" % e, file=sys.stderr)
        return 70
    print("fakesnap: restored from %s" % ",".join(layers), file=sys.stderr)
    if "--net" in opts:
        print("fakesnap: %s" % describe_net(opts), file=sys.stderr)
    if "--dump-dir" in opts:
        write_layer(opts["--dump-dir"], layers[-1], manifest(layers[0])["mem_mib"],
                    os.path.basename(opts["--appfs"]))
        return 0
    serve(load_app(opts["--appfs"]))
    return 0


def main(argv):
    if argv and argv[0] == "layer":
        parent = argv[argv.index("--parent") + 1] if "--parent" in argv else None
        mib = int(argv[argv.index("--mib") + 1]) if "--mib" in argv else 16
        seed = argv[argv.index("--seed") + 1] if "--seed" in argv else argv[1]
        pages = int(argv[argv.index("--pages") + 1]) if "--pages" in argv else None
        write_layer(argv[1], parent, mib, seed, pages)
        return 0
    return runner(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
