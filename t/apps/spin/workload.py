"""Test app: a handler that never returns (for timeouts), or, given
{"sleep": SECONDS}, one that answers after that long (for draining)."""

import time


def handle(event):
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
        return {"slept": event["sleep"]}
    while True:
        pass
