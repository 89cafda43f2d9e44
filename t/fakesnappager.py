#!/usr/bin/env python3
"""A page server for tests that need no VM: plays snappager(1) for ctrl.

  fakesnappager.py [--config FILE] --socket PATH LAYER...
      LAYER is DIR (a layer here) or s3://BUCKET/PREFIX=DIR (the last =
      ends the URL), bottom first.  An s3:// layer whose DIR holds a
      layer is taken as a local one; any other is fetched whole with
      `s3snap [--config FILE] get URL TMP` into a hidden directory beside
      DIR, .NAME.pager.XXXXXX (where snappager fetches only what a restore
      reads first and pages the memory in while the VM runs).  Then it
      listens on PATH (SOCK_SEQPACKET, mode 0600), prints one line,
      "load-dir D1,D2,...", the local DIRs and the hidden directories, and
      serves one runner: when it connects, the socket is removed and
      "READY" sent; then, as snappager publishes its layers only once its
      runner has read them, each hidden directory is renamed to its DIR
      (dropped if DIR has appeared meanwhile) and "DONE" sent; it exits 0
      once the runner has hung up.
      A fetch that fails: s3snap's status (66: not in the store), with
      nothing left behind.  SIGTERM: the hidden directories removed, then
      it dies of the signal.

  For the tests of ctrl's failures, from the environment:
  FAKESNAPPAGER_EXIT=STATUS  exit STATUS before fetching anything
  FAKESNAPPAGER_LINE=TEXT    print TEXT instead of the load-dir line, then
                             wait to be stopped
  FAKESNAPPAGER_FAIL=STATUS  once the runner has connected, send "ERROR
                             STATUS MESSAGE" instead of completing the
                             transfer, remove the hidden directories and
                             exit STATUS, as snappager does when the store
                             fails while a VM runs
  FAKESNAPPAGER_HOLD=FILE    the transfer completes (the renames, DONE)
                             only once FILE exists (at most 120 s)
  FAKESNAPPAGER_LOG=FILE     one JSON line per start: its command line

  The runner's side is t/fakesnap.py --page-server PATH: it connects,
  waits for READY, and exits with an ERROR's status, or 69 when the
  server hangs up first.  These text messages stand for snapvm-pager(5)'s
  (t/fakepager.py plays that protocol for the runner's own tests): here
  only ctrl's handling of page servers is under test.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True     # no __pycache__ in t/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakesnap  # noqa: E402 (beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S3SNAP = os.path.join(ROOT, "bin", "s3snap")
TEMPS = []


def log_argv(argv):
    if os.environ.get("FAKESNAPPAGER_LOG"):
        fakesnap.append_json(os.environ["FAKESNAPPAGER_LOG"], argv)


def remove_temps():
    for d in TEMPS:
        if os.path.isdir(d):
            for name in os.listdir(d):
                os.unlink(os.path.join(d, name))
            os.rmdir(d)
    TEMPS.clear()


def on_term(signum, frame):
    remove_temps()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def parse(argv):
    config, sock, layers = None, None, []
    i = 0
    while i < len(argv):
        if argv[i] in ("--config", "--socket") and i + 1 < len(argv):
            if argv[i] == "--config":
                config = argv[i + 1]
            else:
                sock = argv[i + 1]
            i += 2
            continue
        if argv[i].startswith("s3://"):
            url, _, d = argv[i].rpartition("=")
            layers.append((url, d))
        else:
            layers.append((None, argv[i]))
        i += 1
    if sock is None or not layers:
        print("usage: fakesnappager.py [--config FILE] --socket PATH LAYER...",
              file=sys.stderr)
        sys.exit(64)
    return config, sock, layers


def fetch(config, url, d):
    """The layer into a hidden directory beside d: its path, or exit."""
    parent, name = os.path.split(d)
    tmp = tempfile.mkdtemp(prefix=".%s.pager." % name, dir=parent)
    os.rmdir(tmp)               # s3snap makes the layer's directory
    TEMPS.append(tmp)
    cmd = [S3SNAP] + (["--config", config] if config else []) + \
        ["-q", "get", url, tmp]
    rc = subprocess.call(cmd)
    if rc != 0:
        print("fakesnappager: %s: s3snap get exited %d" % (url, rc),
              file=sys.stderr)
        remove_temps()
        sys.exit(rc)
    return tmp


def listen(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old = os.umask(0o177)
    try:
        s.bind(path)
    finally:
        os.umask(old)
    s.listen(1)
    return s


def hold():
    path = os.environ.get("FAKESNAPPAGER_HOLD")
    end = time.monotonic() + 120
    while path and not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)


def complete(pairs):
    """Each fetched layer renamed into place, as a whole."""
    for tmp, d in pairs:
        if os.path.exists(os.path.join(d, "manifest.json")):
            continue
        os.rename(tmp, d)
        TEMPS.remove(tmp)
    remove_temps()


def serve(lsock, path, pairs):
    conn, _ = lsock.accept()
    os.unlink(path)             # one runner: nobody else connects
    conn.send(b"READY")
    fail = os.environ.get("FAKESNAPPAGER_FAIL")
    if fail:
        conn.send(b"ERROR %s the store failed (fakesnappager)" % fail.encode())
        remove_temps()
        return int(fail)
    hold()
    complete(pairs)
    conn.send(b"DONE")
    while conn.recv(64):
        pass
    return 0


def main(argv):
    log_argv(argv)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if os.environ.get("FAKESNAPPAGER_EXIT"):
        return int(os.environ["FAKESNAPPAGER_EXIT"])
    config, sock, layers = parse(argv)
    dirs, pairs = [], []
    for url, d in layers:
        if url is None or os.path.exists(os.path.join(d, "manifest.json")):
            dirs.append(d)
            continue
        tmp = fetch(config, url, d)
        dirs.append(tmp)
        pairs.append((tmp, d))
    lsock = listen(sock)
    line = os.environ.get("FAKESNAPPAGER_LINE")
    print(line if line is not None else "load-dir " + ",".join(dirs),
          flush=True)
    if line is not None:
        while True:
            time.sleep(1)
    return serve(lsock, sock, pairs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
