"""hello: echoes its payload, the smallest possible function."""


def handle(event):
    return {"echo": event}
