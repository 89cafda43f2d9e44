"""Test app: fetches payload["url"] over the VM's network and says what
came back, and from which local address the VM reached the server: each
VM restored from one snapshot must use its own (snapvm-protocol(5),
"net").  payload["timeout"] is in seconds, 10 by default."""
import hashlib
import socket
import urllib.error
import urllib.parse
import urllib.request


def source_address(url, timeout):
    """The address this VM's connections to the URL's host come from:
    a connection of its own, since urllib does not expose its socket."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname, port), timeout) as s:
        return s.getsockname()[0]


def handle(event):
    url = event["url"]
    timeout = float(event.get("timeout", 10))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:    # a response all the same
        status, body = e.code, e.read()
    return {"status": status,
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "source": source_address(url, timeout)}
