"""Helpers for the proxy core's end-to-end tests (tests/e2e/test_proxy*.py)."""
import socket
import time


def proxy_get(port, url, headers=(), method="GET", body=b"", version="1.1", timeout=10.0):
    """One absolute-form request through quell on a fresh socket; returns
    (status, headers dict lower-case, body bytes, raw bytes)."""
    raw = request_bytes(method, url, headers, body, version)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        return read_response(s, method=method, timeout=timeout)


def request_bytes(method, target, headers=(), body=b"", version="1.1"):
    host = target.split("/")[2] if "://" in target else "x"
    lines = ["%s %s HTTP/%s" % (method, target, version)]
    names = {h.split(":")[0].lower() for h in headers}
    if "host" not in names:
        lines.append("Host: %s" % host)
    lines += list(headers)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Reader:
    """Buffered reads from a socket, bounded by a deadline."""

    def __init__(self, s, timeout):
        self.s = s
        self.buf = b""
        self.raw = b""
        self.deadline = time.time() + timeout

    def fill(self):
        if time.time() > self.deadline:
            raise TimeoutError("response not complete in time")
        self.s.settimeout(max(0.05, self.deadline - time.time()))
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d
        self.raw += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        try:
            while True:
                self.fill()
        except (EOFError, OSError):
            pass
        out, self.buf = self.buf, b""
        return out


def read_head(r):
    status_line = r.line().decode("latin-1")
    headers = {}
    while True:
        line = r.line()
        if not line:
            break
        k, v = line.decode("latin-1").split(":", 1)
        headers.setdefault(k.strip().lower(), v.strip())
    return int(status_line.split(" ")[1]), headers, status_line


def read_response(s, method="GET", timeout=10.0, reader=None):
    """Reads one response (skipping 1xx); returns (status, headers, body, raw).
    Raises EOFError when the body is cut short."""
    r = reader or Reader(s, timeout)
    while True:
        status, headers, _ = read_head(r)
        if status >= 200 or status == 101:
            break
    if method == "HEAD" or status in (101, 204, 304):
        return status, headers, b"", r.raw
    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            size = int(r.line().split(b";")[0], 16)
            if size == 0:
                trailers = []
                while True:
                    t = r.line()
                    if not t:
                        break
                    trailers.append(t)
                headers["_trailers"] = b"\r\n".join(trailers).decode("latin-1")
                break
            body += r.exact(size)
            r.line()
        return status, headers, body, r.raw
    if "content-length" in headers:
        return status, headers, r.exact(int(headers["content-length"])), r.raw
    return status, headers, r.rest(), r.raw


def echo_fields(body):
    """Parses the echo origin's reply into (dict of scalars, list of (name, value))."""
    fields, hdrs = {}, []
    for line in body.decode("latin-1").splitlines():
        if line.startswith("h:"):
            k, v = line[2:].split(": ", 1) if ": " in line[2:] else (line[2:].rstrip(":"), "")
            hdrs.append((k.lower(), v))
        elif "=" in line:
            k, v = line.split("=", 1)
            fields[k] = v
    return fields, hdrs


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_log(q, text, timeout=3.0):
    """quell's log once it holds text (lines are written right after the
    response went out, so a fast client can look too early)."""
    deadline = time.time() + timeout
    while True:
        log = q.log()
        if text in log or time.time() > deadline:
            return log
        time.sleep(0.05)
