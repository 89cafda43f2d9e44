#!/usr/bin/env python3
"""A trace of invocations against ctrl or the balancer in front of several.

  clustertrace.py URL [--functions A,B,...] [--count N] [--seed S]
                  [--concurrency C] [--prefix P] [--hold] [--cycle]

sends COUNT requests (default 100), each to a function drawn from
FUNCTIONS (default the five of etc/functions.yaml) with the seeded
generator S (default 1), or with --cycle to each in turn, with at most C in flight (default 1: one after
the other, so that where each goes does not depend on timing).  Each
payload is the app's appfs/NAME/request.json payload with "rid", the
request's own id (P-n, sent as X-Request-Id too), and with --hold also
"hold": true (t/fakesnap.py holds such a request until released).

Prints one JSON line per request, in the order sent: rid, function,
status (the HTTP status, or null when no answer came), start (the
X-Snapvm-Start header), type (the error type of a non-200 answer, or
"(not JSON)" for a page of HAProxy's own), ms
(the time to the answer) and error (what went wrong when no answer
came); and the count of answers without status on stderr.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCTIONS = "hello,markdown,digest,primes,orders"


def payload_of(fn):
    with open(os.path.join(ROOT, "appfs", fn, "request.json")) as f:
        p = json.load(f)["payload"]
    return p if isinstance(p, dict) else {"value": p}


def invoke(url, fn, body, rid):
    """One request on a connection of its own: (status, start, type, error)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=300)
    try:
        conn.request("POST", "%s/v1/functions/%s/invoke" % (u.path, fn),
                     body=body, headers={"X-Request-Id": rid,
                                         "Content-Type": "application/json",
                                         "Connection": "close"})
        r = conn.getresponse()
        data = r.read()
        kind = None
        if r.status != 200:
            try:
                kind = json.loads(data).get("type")
            except (ValueError, AttributeError):
                kind = "(not JSON)"  # HAProxy's own pages
        return r.status, r.getheader("X-Snapvm-Start"), kind, None
    except (OSError, http.client.HTTPException) as e:
        return None, None, None, "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--functions", default=FUNCTIONS)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--prefix", default="r")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--cycle", action="store_true")
    a = ap.parse_args()
    fns = a.functions.split(",")
    payloads = {fn: payload_of(fn) for fn in fns}
    rnd = random.Random(a.seed)
    trace = [fns[i % len(fns)] if a.cycle else rnd.choice(fns)
             for i in range(a.count)]
    out = [None] * len(trace)
    slots = threading.Semaphore(max(1, a.concurrency))
    lock = threading.Lock()

    def one(i, fn):
        rid = "%s-%d" % (a.prefix, i)
        body = dict(payloads[fn], rid=rid)
        if a.hold:
            body["hold"] = True
        t0 = time.monotonic()
        status, start, kind, err = invoke(a.url, fn, json.dumps(body), rid)
        with lock:
            out[i] = {"rid": rid, "function": fn, "status": status,
                      "start": start, "type": kind,
                      "ms": round((time.monotonic() - t0) * 1000, 2),
                      "error": err}
        slots.release()

    threads = []
    for i, fn in enumerate(trace):
        slots.acquire()
        t = threading.Thread(target=one, args=(i, fn))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    for o in out:
        print(json.dumps(o))
    lost = sum(1 for o in out if o["status"] is None)
    print("clustertrace: %d requests, %d without an answer" %
          (len(out), lost), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
