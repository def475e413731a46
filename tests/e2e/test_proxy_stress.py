"""Many clients at once, some of them rude (closing mid-request, mid-body,
mid-tunnel): quell keeps serving the others and stays clean under the
sanitizers."""
import os
import random
import signal
import socket
import ssl
import threading
import time

from conftest import curl
from proxy_util import Reader, read_response, request_bytes


def _tls_rude(s, rnd, origin):
    """Inside an intercepted CONNECT: stop mid-handshake or mid-request."""
    s.sendall(b"CONNECT origin.test:%d HTTP/1.1\r\nHost: x\r\n\r\n" % origin.https_port)
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            return
        head += d
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if rnd.random() < 0.3:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(40))
        return
    t = ctx.wrap_socket(s, server_hostname="origin.test")
    t.sendall(b"GET /page.html HTTP/1.1\r\nHost: origin.test\r\n\r\n")
    if rnd.random() < 0.5:
        t.recv(rnd.randrange(1, 5000))


def _rude_client(port, origin, echo, seed, errors):
    rnd = random.Random(seed)
    for _ in range(15):
        kind = rnd.randrange(7)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if kind == 0:                    # close mid-head
                s.sendall(b"GET http://127.0.0.1:%d/small.txt HTTP/1.1\r\nHo" % origin.http_port)
            elif kind == 1:                  # close mid-body of a big download
                s.sendall(request_bytes("GET", "http://127.0.0.1:%d/big.bin" % origin.http_port))
                s.recv(rnd.randrange(1, 200000))
            elif kind == 2:                  # close mid-upload
                s.sendall(b"POST http://127.0.0.1:%d/u HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 100000\r\n\r\n" % echo.port + b"z" * rnd.randrange(1, 50000))
            elif kind == 3:                  # a polite keep-alive pair
                r = Reader(s, 10)
                for path in (b"/small.txt", b"/index.html"):
                    s.sendall(b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: x\r\n\r\n"
                              % (origin.http_port, path))
                    st, _, _, _ = read_response(s, reader=r)
                    if st != 200:
                        errors.append(st)
            elif kind == 4:                  # close right after CONNECT
                s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % origin.https_port)
                s.recv(100)
                s.sendall(b"\x16\x03\x01\x00")
            elif kind == 5:
                _tls_rude(s, rnd, origin)
            else:                            # chunked upload cut in a chunk
                s.sendall(b"POST http://127.0.0.1:%d/c HTTP/1.1\r\nHost: x\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n100\r\nabc" % echo.port)
            if rnd.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        except OSError:
            pass


def test_01_rude_clients_do_not_hurt_the_polite(quell, origin, echo_origin):
    q = quell(["connect_ports %d" % origin.https_port])
    errors = []
    threads = [threading.Thread(target=_rude_client, args=(q.port, origin, echo_origin, i, errors))
               for i in range(8)]
    for t in threads:
        t.start()
    for i in range(10):                      # meanwhile, polite requests succeed
        r = curl("-x", q.proxy, "-o", "/dev/null", "-w", "%{http_code}",
                 origin.url("/page.html", host="127.0.0.1"))
        assert r.stdout == b"200"
        if i % 3 == 0:                       # and the configuration is reloaded
            q.send_signal(signal.SIGHUP)
    for t in threads:
        t.join(60)
    assert errors == []
    time.sleep(0.5)
    counters = dict(ln.split(" ", 1) for ln in
                    curl("http://127.0.0.1:%d/status.txt" % q.port).stdout.decode().splitlines())
    assert int(counters["active_connections"]) <= 2, counters
