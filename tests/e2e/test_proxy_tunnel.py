"""CONNECT tunnels and protocol switches (websocket through Upgrade)."""
import base64
import hashlib
import os
import socket
import time

from conftest import curl
from proxy_util import Reader, read_head, request_bytes, wait_log


def test_01_connect_to_https_origin(quell, origin, test_ca):
    q = quell(["connect_ports %d" % origin.https_port, "intercept off"])
    r = curl("--cacert", test_ca.cert, "-x", q.proxy,
             "https://127.0.0.1:%d/index.html" % origin.https_port)
    assert r.returncode == 0, r.stderr
    assert b"Hello from the origin" in r.stdout
    # 10 MB through the tunnel, byte-exact
    r = curl("--cacert", test_ca.cert, "-x", q.proxy, "-o", "-",
             "https://127.0.0.1:%d/big.bin" % origin.https_port)
    with open(os.path.join(origin.docroot, "big.bin"), "rb") as f:
        assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(f.read()).digest()


def test_02_connect_port_not_allowed(quell, origin):
    q = quell()                               # connect_ports: 443 only
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                  % (origin.https_port, origin.https_port))
        st, h, _ = read_head(Reader(s, 5))
    assert st == 403
    assert "denied-port" in wait_log(q, "denied-port")


def test_03_connect_refused_port(quell):
    from conftest import free_port
    port = free_port()
    q = quell(["connect_ports %d" % port, "intercept off"])   # intercepted CONNECTs are answered first
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % port)
        st, _, _ = read_head(Reader(s, 5))
    assert st == 502


def _ws_origin(conn, server):
    """Answers one Upgrade: websocket with 101, then echoes raw bytes."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = conn.recv(4096)
        if not d:
            return
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    server.requests.append(head)
    key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
           if ln.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + rest)
    while True:
        d = conn.recv(65536)
        if not d:
            return
        conn.sendall(d)


def test_04_websocket_upgrade(quell, raw_origin):
    srv = raw_origin(_ws_origin)
    q = quell()
    key = base64.b64encode(os.urandom(16)).decode()
    req = request_bytes("GET", "http://127.0.0.1:%d/ws" % srv.port, [
        "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
        "Sec-WebSocket-Version: 13"])
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(req)
        r = Reader(s, 5)
        st, h, _ = read_head(r)
        assert st == 101 and h["upgrade"].lower() == "websocket"
        assert h["connection"].lower() == "upgrade"
        # a masked text frame, echoed back verbatim by the origin
        payload = b"hello through quell"
        mask = os.urandom(4)
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
            b ^ mask[i % 4] for i, b in enumerate(payload))
        s.sendall(frame)
        assert r.exact(len(frame)) == frame
        big = os.urandom(1 << 20)
        s.sendall(big)
        assert r.exact(len(big)) == big
    upstream_head = srv.requests[0].lower()
    assert b"upgrade: websocket" in upstream_head and b"connection: upgrade" in upstream_head


def test_05_status_page_over_intercepted_https(quell):
    q = quell()
    from https_util import quell_ca
    ca = quell_ca(q)
    r = curl("--cacert", ca, "-x", q.proxy, "https://quell.home/")
    assert r.returncode == 0, r.stderr
    assert b"requests" in r.stdout and b"<html" in r.stdout.lower()


def test_06_upload_and_download_inside_interception(quell, origin):
    from https_util import quell_ca
    q = quell(["connect_ports %d" % origin.https_port])
    ca = quell_ca(q)
    data = os.urandom(3_000_000)
    path = os.path.join(q.dir, "up.bin")
    with open(path, "wb") as f:
        f.write(data)
    url = "https://127.0.0.1:%d/dav/tls-up.bin" % origin.https_port
    r = curl("--cacert", ca, "-x", q.proxy, "-T", path, "-o", "/dev/null", "-w", "%{http_code}", url)
    assert r.stdout in (b"201", b"204"), (r.stdout, r.stderr)
    r = curl("--cacert", ca, "-x", q.proxy, "-H", "Transfer-Encoding: chunked", "-T", path,
             "-o", "/dev/null", "-w", "%{http_code}", url + ".2")
    assert r.stdout in (b"201", b"204"), (r.stdout, r.stderr)
    for name in ("tls-up.bin", "tls-up.bin.2"):
        with open(os.path.join(origin.docroot, "dav", name), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == hashlib.sha256(data).digest()
    r = curl("--cacert", ca, "-x", q.proxy, "-o", "-", url)
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()


def test_07_websocket_inside_interception(quell, raw_origin, test_ca):
    import ssl
    from https_util import quell_ca
    cert, key = test_ca.issue("wss-origin", ["DNS:wss.test", "IP:127.0.0.1"])
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)

    def tls_ws(conn, server):
        _ws_origin(sctx.wrap_socket(conn, server_side=True), server)
    srv = raw_origin(tls_ws)
    q = quell(["connect_ports %d" % srv.port])
    ca = quell_ca(q)
    s = socket.create_connection(("127.0.0.1", q.port), timeout=5)
    s.sendall(b"CONNECT wss.test:%d HTTP/1.1\r\nHost: wss.test\r\n\r\n" % srv.port)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 200")
    cctx = ssl.create_default_context(cafile=ca)
    t = cctx.wrap_socket(s, server_hostname="wss.test")
    key_b64 = base64.b64encode(os.urandom(16)).decode()
    t.sendall(request_bytes("GET", "/chat", ["Host: wss.test", "Upgrade: websocket",
                                              "Connection: Upgrade", "Sec-WebSocket-Key: " + key_b64,
                                              "Sec-WebSocket-Version: 13"]))
    r = Reader(t, 5)
    st, h, _ = read_head(r)
    assert st == 101 and h["upgrade"].lower() == "websocket"
    payload = os.urandom(200_000)
    t.sendall(payload)
    assert r.exact(len(payload)) == payload
    t.close()


def test_08_tls_upstream_pool(quell, origin):
    from https_util import quell_ca
    q = quell(["connect_ports %d" % origin.https_port, "workers 1"])
    ca = quell_ca(q)

    def counters():
        txt = curl("http://127.0.0.1:%d/status.txt" % q.port).stdout.decode()
        return {k: int(v) for k, v in (ln.split(" ", 1) for ln in txt.splitlines()) if v.isdigit()}
    before = counters()
    for _ in range(4):                      # four client connections, one after the other
        r = curl("--cacert", ca, "-x", q.proxy, origin.url("/small.txt", https=True))
        assert r.returncode == 0 and len(r.stdout) == 1024
    after = counters()
    assert after["upstream_connects"] - before["upstream_connects"] == 1
    assert after["upstream_reused"] - before["upstream_reused"] == 3


def test_09_intercepted_connections_keep_their_origin_connection(quell, origin):
    """More keep-alive browser connections to one HTTPS host than the pool
    holds per host: each keeps its own origin connection between requests,
    instead of the pool closing the surplus and reopening (a TLS handshake
    each)."""
    from https_util import connect_tunnel, quell_ca, read_response, tls_client
    q = quell(["connect_ports %d" % origin.https_port, "workers 1", "upstream_pool_size 2"])
    ca = quell_ca(q)
    host = "origin.test:%d" % origin.https_port

    def counters():
        txt = curl("http://127.0.0.1:%d/status.txt" % q.port).stdout.decode()
        return {k: int(v) for k, v in (ln.split(" ", 1) for ln in txt.splitlines()) if v.isdigit()}
    before = counters()
    tls = []
    for _ in range(5):
        s, status = connect_tunnel(q.port, "origin.test", origin.https_port)
        assert status == 200
        tls.append(tls_client(s, "origin.test", ca))
    for _ in range(3):
        for t in tls:                       # all five requests in flight at once
            t.sendall(b"GET /small.txt HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
        for t in tls:
            st, _, body = read_response(t)
            assert st == 200 and len(body) == 1024
    for t in tls:
        t.close()
    after = counters()
    assert after["upstream_connects"] - before["upstream_connects"] == 5
    assert after["upstream_reused"] - before["upstream_reused"] == 10


def test_10_origin_closes_a_kept_connection(quell, tmp_path, test_ca):
    """The origin closes an idle connection a browser connection kept: the
    next request on it goes out on a new one, nothing is lost."""
    from conftest import Nginx
    from https_util import connect_tunnel, get, quell_ca, tls_client
    cert, key = test_ca.issue("short-keepalive", ["DNS:origin.test"])
    n = Nginx(str(tmp_path / "nginx"), cert, key, extra="keepalive_timeout 1s;")
    try:
        n.write("small.txt", "y" * 1024)
        q = quell(["connect_ports %d" % n.https_port, "workers 1"])
        ca = quell_ca(q)
        s, status = connect_tunnel(q.port, "origin.test", n.https_port)
        assert status == 200
        t = tls_client(s, "origin.test", ca)
        host = "origin.test:%d" % n.https_port
        for i in range(2):
            st, _, body = get(t, host, "/small.txt")
            assert st == 200 and body == b"y" * 1024
            if i == 0:
                time.sleep(1.6)             # nginx closes the idle origin connection
        t.close()
        txt = curl("http://127.0.0.1:%d/status.txt" % q.port).stdout.decode()
        assert "upstream_connects 2" in txt.splitlines()
    finally:
        n.stop()


def test_11_connect_and_client_hello_in_one_packet(quell, origin):
    """A client that sends its ClientHello right behind the CONNECT (quell
    has read it already when it decides to intercept: TLS then runs as a
    filter over the connection's buffer): keep-alive requests inside work."""
    import ssl
    from https_util import quell_ca
    q = quell(["connect_ports %d" % origin.https_port])
    ctx = ssl.create_default_context(cafile=quell_ca(q))
    host = "origin.test:%d" % origin.https_port
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    t = ctx.wrap_bio(inc, out, server_hostname="origin.test")
    try:
        t.do_handshake()
    except ssl.SSLWantReadError:
        pass
    with socket.create_connection(("127.0.0.1", q.port), timeout=10) as s:
        s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (host.encode(), host.encode()) +
                  out.read())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            assert d, "closed before the 200"
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        inc.write(rest)

        def exchange(fn):
            for _ in range(200):
                try:
                    return fn()
                except ssl.SSLWantReadError:
                    s.sendall(out.read())
                    d = s.recv(65536)
                    assert d, "closed mid-exchange"
                    inc.write(d)
            raise AssertionError("no progress")
        exchange(t.do_handshake)
        for _ in range(3):
            t.write(b"GET /small.txt HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
            s.sendall(out.read())
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 1024:
                data += exchange(lambda: t.read(65536))
            assert data.startswith(b"HTTP/1.1 200")
            assert data.split(b"\r\n\r\n", 1)[1] == b"x" * 1023 + b"\n"


def test_12_bodies_on_a_kept_origin_connection(quell, origin):
    """Requests with bodies (length and chunked) on an intercepted
    connection whose origin connection is kept from the request before."""
    from https_util import connect_tunnel, get, quell_ca, read_response, tls_client
    q = quell(["connect_ports %d" % origin.https_port, "workers 1"])
    ca = quell_ca(q)
    host = "origin.test:%d" % origin.https_port
    s, status = connect_tunnel(q.port, "origin.test", origin.https_port)
    assert status == 200
    t = tls_client(s, "origin.test", ca)
    data = os.urandom(1_000_000)
    st, _, _ = get(t, host, "/small.txt")
    assert st == 200
    t.sendall(b"PUT /dav/kept-1.bin HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
              % (host.encode(), len(data)) + data)
    st, _, _ = read_response(t)
    assert st in (201, 204)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 65536]), data[i:i + 65536])
                      for i in range(0, len(data), 65536))
    t.sendall(b"PUT /dav/kept-2.bin HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
              % host.encode() + chunks + b"0\r\n\r\n")
    st, _, _ = read_response(t)
    assert st in (201, 204)
    for name in ("kept-1.bin", "kept-2.bin"):
        st, _, body = get(t, host, "/dav/" + name)
        assert st == 200 and body == data
    t.close()
    txt = curl("http://127.0.0.1:%d/status.txt" % q.port).stdout.decode()
    assert "upstream_connects 1" in txt.splitlines()
