#!/usr/bin/env python3
"""bench/conns.py PORT PID N URL: opens N keep-alive connections to the proxy
on 127.0.0.1:PORT, makes one request on each (URL, absolute form), leaves
them open and idle, and prints how much the proxy's resident memory (VmRSS
of PID and its children) grew per connection.  Used by bench/conns.sh."""
import os
import socket
import sys
import time


def rss_kb(pid):
    """VmRSS of pid and its descendants (Squid forks its workers)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total


def one(port, url, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before the head")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    if b" 200 " not in lines[0] + b" ":
        raise RuntimeError(lines[0].decode(errors="replace"))
    cl = [int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:")]
    if not cl:
        raise RuntimeError("no Content-Length in the answer")
    while len(body) < cl[0]:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed mid-body")
        body += d
    return s


def main():
    port, pid, n, url = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    # warm-up connections first, so one-time allocations (pools, the
    # upstream connection, caches) are not in the per-connection figure
    warm = [one(port, url) for _ in range(20)]
    time.sleep(0.5)
    before = rss_kb(pid)
    socks = [one(port, url) for _ in range(n)]
    time.sleep(1.0)
    after = rss_kb(pid)
    alive = 0
    for s in socks:               # still open: idle keep-alive, not closed
        s.setblocking(False)
        try:
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("%d %d %d %.1f" % (before, after, alive, (after - before) / n))
    for s in socks + warm:
        s.close()


if __name__ == "__main__":
    main()
