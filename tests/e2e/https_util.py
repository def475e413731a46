"""Helpers for the HTTPS interception end-to-end tests (test_https.py,
test_browser.py): quell's CA, CONNECT tunnels, TLS over them, extra nginx
origins with bad certificates, certificate inspection with the openssl CLI."""
import os
import re
import socket
import ssl
import subprocess
import time

from conftest import Nginx, TestCA, curl


def quell_ca(q, timeout=10.0):
    """Path of the CA certificate quell created in its ca_dir (the launcher
    puts ca_dir in q.dir/ca)."""
    path = os.path.join(q.dir, "ca", "ca.pem")
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise AssertionError("quell made no CA in %s; log:\n%s" % (path, q.log()[-3000:]))
        time.sleep(0.05)
    return path


def connect_tunnel(proxy_port, host, port, timeout=10.0):
    """Opens a socket to quell, sends CONNECT host:port, reads the reply head.
    Returns (socket, status).  The caller closes the socket."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, port, host, port)).encode())
    head = b""
    deadline = time.time() + timeout
    while b"\r\n\r\n" not in head:
        if time.time() > deadline:
            raise TimeoutError("no CONNECT reply")
        d = s.recv(1)   # byte by byte: nothing past the head may be consumed
        if not d:
            raise EOFError("closed during the CONNECT reply: %r" % head)
        head += d
    return s, int(head.split(b" ", 2)[1])


def tls_client(sock, server_hostname, cafile=None, alpn=("h2", "http/1.1"), check_hostname=True):
    """Wraps a connected socket in TLS verifying against cafile (or not at
    all when cafile is None), and the name unless check_hostname is false.
    Returns the SSLSocket."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx.wrap_socket(sock, server_hostname=server_hostname)


def read_response(s, timeout=10.0):
    """Reads one HTTP/1.1 response with Content-Length or chunked framing.
    Returns (status, headers dict lower-case, body)."""
    buf = b""
    deadline = time.time() + timeout

    def more():
        nonlocal buf
        if time.time() > deadline:
            raise TimeoutError("response incomplete: %r" % buf[:300])
        d = s.recv(65536)
        if not d:
            raise EOFError("closed mid-response: %r" % buf[:300])
        buf += d

    while b"\r\n\r\n" not in buf:
        more()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            while b"\r\n" not in buf:
                more()
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                while not buf.startswith(b"\r\n") and b"\r\n\r\n" not in buf:
                    more()
                buf = buf[buf.index(b"\r\n") + 2:] if buf.startswith(b"\r\n") else buf.split(b"\r\n\r\n", 1)[1]
                return status, headers, body
            while len(buf) < size + 2:
                more()
            body += buf[:size]
            buf = buf[size + 2:]
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        more()
    return status, headers, buf[:n]


def get(s, host, path, extra=""):
    """Sends GET path on an open (TLS) connection and reads the response."""
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode())
    return read_response(s)


def cert_text(der):
    """openssl x509 -text of a DER certificate."""
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"], input=der,
                          capture_output=True, check=True).stdout.decode()


def cert_issuer(der):
    return subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-issuer"], input=der,
                          capture_output=True, check=True).stdout.decode().strip()


def s_client(proxy_port, host, port, cafile, servername=None, extra=()):
    """openssl s_client through quell (-proxy); returns its stdout+stderr."""
    argv = ["openssl", "s_client", "-proxy", "127.0.0.1:%d" % proxy_port,
            "-connect", "%s:%d" % (host, port), "-CAfile", cafile, "-showcerts",
            "-verify_return_error"]
    if servername:
        argv += ["-servername", servername, "-verify_hostname", servername]
    argv += list(extra)
    r = subprocess.run(argv, input=b"", capture_output=True, timeout=30)
    return (r.stdout + r.stderr).decode("utf-8", "replace")


def curl_via(q, url, cafile, *args):
    """curl through quell trusting cafile; returns CompletedProcess."""
    return curl("-x", q.proxy, "--cacert", cafile, *args, url)


def status_counter(q, name):
    """A counter from quell's status page: a row <td>name</td><td>N</td>."""
    page = q.status()
    m = re.search(r"<td>%s</td>\s*<td>(\d+)</td>" % re.escape(name), page)
    if not m:
        raise AssertionError("no %s on the status page:\n%s" % (name, page[:2000]))
    return int(m.group(1))


class BadOrigins:
    """nginx origins each presenting one faulty certificate:
    expired.test (expired), wrong.test (a certificate for other.example),
    selfsigned.test (self-signed), stranger.test (issued by a CA quell does
    not trust)."""

    def __init__(self, base_dir, test_ca):
        self.servers = {}
        other_dir = os.path.join(base_dir, "stranger-ca")
        os.makedirs(other_dir, exist_ok=True)
        other_ca = TestCA(other_dir)
        certs = {
            "expired": test_ca.issue("bad-expired", ["DNS:expired.test"], expired=True),
            "wrong": test_ca.issue("bad-wrong", ["DNS:other.example"]),
            "selfsigned": test_ca.issue("bad-self", ["DNS:selfsigned.test"], self_signed=True),
            "stranger": other_ca.issue("bad-stranger", ["DNS:stranger.test"]),
        }
        for name, (cert, key) in certs.items():
            d = os.path.join(base_dir, "nginx-" + name)
            os.makedirs(d, exist_ok=True)
            n = Nginx(d, cert, key)
            n.write("index.html", "<html><body>ORIGIN-CONTENT-%s</body></html>\n" % name)
            self.servers[name] = n

    def port(self, name):
        return self.servers[name].https_port

    def stop(self):
        for n in self.servers.values():
            n.stop()
