"""Shared fixtures for quell's end-to-end tests.

Everything runs on 127.0.0.1 with ports chosen at run time, and every process a
fixture starts is stopped by PID when the fixture ends:

- ``test_ca``    a test CA (openssl CLI) and ``test_ca.issue(name, sans, days=..., ...)``
                 to mint origin certificates (expired, wrong name, self-signed ...).
- ``origin``     a real nginx (Debian) serving ``origin.docroot`` over HTTP and HTTPS
                 (certificate from ``test_ca`` for 127.0.0.1, localhost, *.test).
- ``echo_origin`` a small Python HTTP/1.1 origin for what nginx cannot do
                 (echo of method/headers/body, chunked with trailers, slow bodies).
- ``raw_origin`` a factory: a TCP server whose per-connection behaviour is a Python
                 function, for misbehaving upstreams.
- ``dns``        a UDP DNS server: ``*.test`` resolves to 127.0.0.1, names starting
                 with ``nx`` get NXDOMAIN, ``dns.add(name, ip)`` adds records.
- ``quell``      a factory: ``quell(config_lines)`` starts ./quell run with a config
                 in a temp dir (listen, resolver, state and CA dirs set) and waits
                 until it accepts connections; ``q.stop()`` returns the exit code.
                 Sanitizer reports in quell's stderr fail the test.

Helpers: ``free_port()``, ``curl(*args)``, ``raw_request(port, data)``.
"""
import hashlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUELL_BIN = os.environ.get("QUELL_BIN", os.path.join(ROOT, "quell"))
SANITIZED = os.environ.get("QUELL_SANITIZED") == "1"
OUT_DIR = os.path.join(ROOT, "tests", "out")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (skipped in the sanitizer pass)")
    config.addinivalue_line("markers", "browser: needs headless Chromium")


# ---------------------------------------------------------------- utilities

def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on port %d after %.0fs" % (port, timeout))


def curl(*args, timeout=60, check=False, input=None):
    """Runs curl -sS with args; returns CompletedProcess with bytes stdout/stderr."""
    cmd = ["curl", "-sS", "--max-time", str(timeout)] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout + 10, check=check, input=input)


def raw_request(port, data, timeout=5.0, read_until_close=True, host="127.0.0.1"):
    """Sends raw bytes to port and returns everything read until close or timeout."""
    out = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if not read_until_close and b"\r\n\r\n" in out:
                break
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Proc:
    """A started process, stopped by PID at teardown."""

    def __init__(self, argv, log_path, cwd=None, env=None):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd,
                                  env=env, start_new_session=True)
        self.pid = self.p.pid

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        self.log.close()
        return self.p.returncode

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# ---------------------------------------------------------------- test CA

class TestCA:
    """A CA made with the openssl CLI, and origin certificates it issues."""

    def __init__(self, d):
        self.dir = d
        self.cert = os.path.join(d, "ca.pem")
        self.key = os.path.join(d, "ca.key")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "30",
                  "-subj", "/CN=quell test origin CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _run(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    def issue(self, name, sans, days=30, expired=False, self_signed=False):
        """Returns (cert_path, key_path) for a leaf with the given SAN list
        (e.g. ["DNS:origin.test", "IP:127.0.0.1"])."""
        cert = os.path.join(self.dir, name + ".pem")
        key = os.path.join(self.dir, name + ".key")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % ",".join(sans))
        first = sans[0].split(":", 1)[1]
        if self_signed:
            self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", key, "-out", cert, "-days", str(days),
                      "-subj", "/CN=" + first, "-addext", "subjectAltName=" + ",".join(sans))
            return cert, key
        csr = os.path.join(self.dir, name + ".csr")
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + first)
        args = ["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-out", cert, "-extfile", ext]
        if expired:
            # Valid for a short window well in the past.
            args += ["-not_before", "20200101000000Z", "-not_after", "20200201000000Z"]
        else:
            args += ["-days", str(days)]
        try:
            self._run(*args)
        except subprocess.CalledProcessError:
            if not expired:
                raise
            # openssl 3.0's x509 has no -not_before: use the ca command instead.
            self._issue_expired_with_ca(csr, cert, ext)
        return cert, key

    def _issue_expired_with_ca(self, csr, cert, ext):
        d = tempfile.mkdtemp(dir=self.dir)
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("%032x\n" % random.getrandbits(120))
        conf = os.path.join(d, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndir=%s\ndatabase=$dir/index.txt\nserial=$dir/serial\n"
                    "new_certs_dir=$dir\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n"
                    "[p]\ncommonName=supplied\n" % d)
        self._run("ca", "-batch", "-config", conf, "-in", csr, "-out", cert, "-cert", self.cert,
                  "-keyfile", self.key, "-startdate", "20200101000000Z", "-enddate",
                  "20200201000000Z", "-extfile", ext, "-notext")


@pytest.fixture(scope="session")
def session_tmp():
    d = tempfile.mkdtemp(prefix="quell-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def test_ca(session_tmp):
    d = os.path.join(session_tmp, "testca")
    os.makedirs(d)
    return TestCA(d)


# ---------------------------------------------------------------- nginx origin

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    types {{ text/html html htm; text/plain txt; application/javascript js;
             text/css css; image/gif gif; image/png png; application/octet-stream bin;
             application/json json; }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    gzip_static on;
    gzip_proxied any;
    etag on;
    server {{
        listen 127.0.0.1:{http_port};
        listen 127.0.0.1:{https_port} ssl;
        server_name _;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {docroot};
        location /dav/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            client_max_body_size 64m;
        }}
{extra}
    }}
}}
"""


class Nginx:
    def __init__(self, d, cert, key, extra=""):
        self.dir = d
        self.docroot = os.path.join(d, "www")
        os.makedirs(self.docroot, exist_ok=True)
        os.makedirs(os.path.join(self.docroot, "dav"), exist_ok=True)
        self.http_port = free_port()
        self.https_port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=d, docroot=self.docroot, http_port=self.http_port,
                                      https_port=self.https_port, cert=cert, key=key, extra=extra))
        self.proc = Proc(["nginx", "-p", d, "-c", conf], os.path.join(d, "nginx.out"))
        wait_port(self.http_port, proc=self.proc.p)
        wait_port(self.https_port, proc=self.proc.p)

    def url(self, path="/", host="origin.test", https=False):
        port = self.https_port if https else self.http_port
        return "%s://%s:%d%s" % ("https" if https else "http", host, port, path)

    def write(self, name, data):
        path = os.path.join(self.docroot, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def access_log(self):
        with open(os.path.join(self.dir, "access.log")) as f:
            return f.read()

    def stop(self):
        return self.proc.stop(signal.SIGQUIT)


def make_page(size=120_000):
    """A deterministic HTML article of about size bytes."""
    rnd = random.Random(7)
    words = ("the council said on wednesday that its plan for the river crossing would "
             "cost more than expected and take longer to build than first announced").split()
    parts = ["<!DOCTYPE html><html><head><meta charset=utf-8><title>Test article</title></head>"
             "<body><article><h1>Test article</h1>"]
    while sum(len(p) for p in parts) < size:
        parts.append("<p>%s.</p>\n" % " ".join(rnd.choice(words) for _ in range(60)).capitalize())
    parts.append("</article></body></html>\n")
    return "".join(parts)


@pytest.fixture(scope="session")
def origin(session_tmp, test_ca):
    d = os.path.join(session_tmp, "nginx")
    os.makedirs(d)
    cert, key = test_ca.issue("origin", ["DNS:origin.test", "DNS:*.test", "DNS:localhost",
                                         "IP:127.0.0.1"])
    n = Nginx(d, cert, key)
    n.write("index.html", "<!DOCTYPE html><html><head><title>quell test origin</title></head>"
                          "<body><h1>Hello from the origin</h1></body></html>\n")
    n.write("small.txt", ("x" * 1023) + "\n")
    n.write("page.html", make_page())
    rnd = random.Random(1)
    n.write("big.bin", bytes(rnd.getrandbits(8) for _ in range(1 << 16)) * 160)  # 10 MiB
    yield n
    n.stop()


# ---------------------------------------------------------------- Python origins

class EchoHandler:
    """Minimal HTTP/1.1 origin on raw sockets (keep-alive, chunked, trailers)."""

    def __init__(self, conn, server):
        self.c = conn
        self.server = server
        self.buf = b""

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.c.recv(65536)
            if not d:
                return None
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
        return method, target, version, headers

    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.c.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self):
        while b"\r\n" not in self.buf:
            d = self.c.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_body(self, headers):
        h = {k.lower(): v for k, v in headers}
        if "chunked" in h.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():
                        pass
                    return body
                body += self.read_exact(size)
                self.read_line()
        return self.read_exact(int(h.get("content-length", "0")))

    def run(self):
        while True:
            req = self.read_head()
            if req is None:
                return
            method, target, version, headers = req
            self.server.requests.append((method, target, headers))
            h = {k.lower(): v for k, v in headers}
            if h.get("expect", "").lower() == "100-continue":
                self.c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = self.read_body(headers)
            path = target.split("?")[0]
            if path.startswith("/chunked"):
                self.c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                               b"5\r\nhello\r\n7\r\n, world\r\n0\r\nX-Checksum: abc123\r\n\r\n")
                continue
            if path.startswith("/slow"):
                # 20 pieces of 100 bytes, 50 ms apart.
                self.c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               b"Content-Length: 2000\r\n\r\n")
                for _ in range(20):
                    time.sleep(0.05)
                    self.c.sendall(b"s" * 100)
                continue
            out = ("method=%s\ntarget=%s\nversion=%s\n" % (method, target, version)).encode()
            out += b"".join(("h:%s: %s\n" % (k, v)).encode("latin-1") for k, v in headers)
            out += b"body-sha256=" + hashlib.sha256(body).hexdigest().encode() + b"\n"
            out += b"body-len=%d\n" % len(body)
            resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"X-Conn-Id: %d\r\n\r\n" % (len(out), id(self)))
            self.c.sendall(resp + (b"" if method == "HEAD" else out))
            if h.get("connection", "").lower() == "close":
                return


class TCPServer:
    """Threaded TCP server on 127.0.0.1 calling handler(conn, server) per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = []
        self.stopping = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            self.handler(c, self)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def url(self, path="/", host="origin.test"):
        return "http://%s:%d%s" % (host, self.port, path)

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def echo_origin():
    s = TCPServer(lambda c, srv: EchoHandler(c, srv).run())
    yield s
    s.close()


@pytest.fixture
def raw_origin():
    """raw_origin(fn) starts a TCPServer whose connections run fn(conn, server)."""
    servers = []

    def make(fn):
        s = TCPServer(fn)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


# ---------------------------------------------------------------- DNS

class DNSServer:
    """A small authoritative DNS server on UDP 127.0.0.1.

    A/AAAA for names in self.records (exact or wildcard "*.suffix"); *.test and
    *.example resolve to 127.0.0.1 (A only) by default; names starting with "nx"
    get NXDOMAIN; everything else NXDOMAIN too.  TTL is self.ttl.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.records = {"*.test": {"A": ["127.0.0.1"]}, "*.example": {"A": ["127.0.0.1"]},
                        "quell.home": {"A": ["127.0.0.1"]}}
        self.ttl = 60
        self.queries = []
        self.stopping = False
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def add(self, name, ip, ttl=None):
        rtype = "AAAA" if ":" in ip else "A"
        self.records.setdefault(name.lower(), {}).setdefault(rtype, []).append(ip)

    def _lookup(self, name, rtype):
        name = name.lower().rstrip(".")
        if name.startswith("nx"):
            return None
        if name in self.records:
            return self.records[name].get(rtype, [])
        parts = name.split(".")
        for i in range(1, len(parts)):
            wild = "*." + ".".join(parts[i:])
            if wild in self.records:
                return self.records[wild].get(rtype, [])
        return None

    def _serve(self):
        while not self.stopping:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self._answer(data)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue
            if reply:
                self.sock.sendto(reply, addr)

    def _answer(self, q):
        tid, flags, qd = struct.unpack(">HHH", q[:6])
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii"))
            i += q[i] + 1
        qtype, qclass = struct.unpack(">HH", q[i + 1:i + 5])
        question = q[12:i + 5]
        name = ".".join(labels)
        rtype = {1: "A", 28: "AAAA"}.get(qtype)
        self.queries.append((name, rtype))
        ips = self._lookup(name, rtype) if rtype else []
        rcode = 3 if ips is None else 0
        answers = b""
        for ip in ips or []:
            if rtype == "A":
                rdata = socket.inet_pton(socket.AF_INET, ip)
            else:
                rdata = socket.inet_pton(socket.AF_INET6, ip)
            answers += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, self.ttl, len(rdata)) + rdata
        hdr = struct.pack(">HHHHHH", tid, 0x8180 | rcode, 1, len(ips or []), 0, 0)
        return hdr + question + answers

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture(scope="session")
def dns():
    s = DNSServer()
    yield s
    s.close()


# ---------------------------------------------------------------- quell

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


class Quell:
    """A running `quell run` with its own config, state and CA directories."""

    def __init__(self, d, config_lines, args, env, port):
        self.dir = d
        self.port = port
        self.config_path = os.path.join(d, "quell.conf")
        self.write_config(config_lines)
        self.proxy = "http://127.0.0.1:%d" % port
        argv = [QUELL_BIN, "run", "--config", self.config_path] + list(args)
        e = dict(os.environ)
        e["HOME"] = os.path.join(d, "home")
        os.makedirs(e["HOME"], exist_ok=True)
        e.update(env or {})
        self.proc = Proc(argv, os.path.join(d, "quell.log"), cwd=d, env=e)
        self.pid = self.proc.pid
        wait_port(port, timeout=30 if SANITIZED else 10, proc=self.proc.p)

    def write_config(self, lines):
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def log(self):
        return self.proc.output()

    def status(self):
        """quell's status page (origin-form request to its own address)."""
        return curl("http://127.0.0.1:%d/" % self.port).stdout.decode("utf-8", "replace")

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=15):
        return self.proc.stop(sig, timeout)

    def check_sanitizers(self):
        out = self.log()
        for m in SANITIZER_MARKS:
            if m in out:
                i = out.index(m)
                raise AssertionError("sanitizer report in quell's output:\n" + out[max(0, i - 200):i + 3000])


@pytest.fixture
def quell(tmp_path, dns, test_ca):
    """quell(config_lines=[...], args=[], env={}, defaults=True) -> Quell.

    With defaults=True the config starts with: listen on a free port, the test
    DNS server as resolver, the test CA trusted upstream, state and CA dirs in
    tmp_path, `list none` (no subscriptions, so nothing is downloaded), access
    log to stderr, log_level info, 2 workers.  Lines you pass come after and
    may override any of these (except repeated keys, which add).
    """
    started = []

    def start(config_lines=(), args=(), env=None, defaults=True):
        d = tmp_path / ("quell%d" % len(started))
        d.mkdir()
        port = free_port()
        lines = []
        if defaults:
            given = {ln.split()[0] for ln in config_lines if ln.strip() and not ln.startswith("#")}
            base = {
                "listen": "listen 127.0.0.1:%d" % port,
                "resolver": "resolver 127.0.0.1:%d" % dns.port,
                "upstream_ca_file": "upstream_ca_file %s" % test_ca.cert,
                "state_dir": "state_dir %s" % (d / "state"),
                "ca_dir": "ca_dir %s" % (d / "ca"),
                "list": "list none",
                "workers": "workers 2",
                "log_level": "log_level info",
            }
            lines = [v for k, v in base.items() if k not in given]
            if "listen" in given:
                for ln in config_lines:
                    if ln.split()[0] == "listen":
                        port = int(ln.split()[1].rsplit(":", 1)[1])
                        break
        lines += list(config_lines)
        q = Quell(str(d), lines, args, env, port)
        started.append(q)
        return q

    yield start
    for q in started:
        q.stop()
        q.check_sanitizers()


@pytest.fixture(scope="session")
def out_dir():
    os.makedirs(OUT_DIR, exist_ok=True)
    return OUT_DIR
