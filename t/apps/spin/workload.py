"""Test app: a handler that never returns (for --timeout)."""


def handle(event):
    while True:
        pass
