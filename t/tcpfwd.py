#!/usr/bin/env python3
"""A TCP forwarder for tests: a store that can be stopped in the middle.

    t/tcpfwd.py PORTFILE HOST:PORT [COUNTFILE]

Listens on a free port of 127.0.0.1, written to PORTFILE, and forwards
every connection to HOST:PORT.  Killed, it takes every connection with
it, as a store that went away would.  With COUNTFILE, SIGUSR1 writes
there the bytes it has passed from HOST:PORT so far (scripts/lazybench).
"""
import os
import signal
import socket
import sys
import threading

RECEIVED = [0]
LOCK = threading.Lock()


def pump(a, b, count):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
            if count:
                with LOCK:
                    RECEIVED[0] += len(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    portfile, target = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        def report(*_):
            with LOCK:
                n = RECEIVED[0]
            with open(sys.argv[3] + ".tmp", "w") as f:
                f.write("%d\n" % n)
            os.rename(sys.argv[3] + ".tmp", sys.argv[3])
        signal.signal(signal.SIGUSR1, report)
    host, port = target.rsplit(":", 1)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = srv.accept()
        u = socket.create_connection((host, int(port)))
        for a, b, count in ((c, u, False), (u, c, True)):
            threading.Thread(target=pump, args=(a, b, count),
                             daemon=True).start()


if __name__ == "__main__":
    main()
