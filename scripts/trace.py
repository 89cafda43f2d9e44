#!/usr/bin/env python3
"""A workload trace for ctrl: Poisson arrivals over several functions,
as JSON lines with "time" in ms (ctrl(1), --requests).

    scripts/trace.py [--rate R] [--duration S] [--seed N]
                     [--mix hello=4,markdown=2,...] > trace.jsonl

Payloads are the functions' own appfs/NAME/request.json.  The same seed
gives the same trace.
"""
import argparse
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MIX = "hello=4,markdown=2,digest=2,primes=1,orders=1"


def parse_mix(text):
    mix = []
    for item in text.split(","):
        name, _, weight = item.partition("=")
        mix.append((name, float(weight or 1)))
    return mix


def payload(name):
    with open(os.path.join(ROOT, "appfs", name, "request.json")) as f:
        return json.load(f).get("payload")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=1.0,
                    help="mean arrivals per second")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mix", default=DEFAULT_MIX,
                    help="NAME=WEIGHT,... (default %(default)s)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    mix = parse_mix(a.mix)
    names = [n for n, _ in mix]
    weights = [w for _, w in mix]
    payloads = {n: payload(n) for n in names}
    t, i = 0.0, 0
    while True:
        t += rng.expovariate(a.rate)
        if t >= a.duration:
            break
        name = rng.choices(names, weights)[0]
        print(json.dumps({"id": i, "function": name, "time": int(t * 1000),
                          "payload": payloads[name]}))
        i += 1


if __name__ == "__main__":
    main()
