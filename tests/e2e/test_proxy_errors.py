"""Readable errors, request smuggling and malformed input, timeouts, the
allow list and the loop check."""
import socket
import time

import pytest

from conftest import curl, free_port, raw_request
from proxy_util import Reader, proxy_get, read_response, wait_log


def _raw(q, data, timeout=5):
    return raw_request(q.port, data, timeout=timeout)


def _status(raw):
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.") else None


BAD_REQUESTS = {
    "cl_and_te": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_cl": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
              b"Content-Length: 5\r\n\r\nabcde",
    "bad_cl": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4x\r\n\r\nabcd",
    "cl_list": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nabcd",
    "te_not_last_chunked": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\n"
                           b"Transfer-Encoding: chunked, gzip\r\n\r\n",
    "te_unknown": b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "obs_fold": b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
    "nul": b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n",
    "bare_cr": b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n",
    "space_before_colon": b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",
    "bad_version": b"GET http://127.0.0.1:%d/ HTTP/9.1\r\nHost: a\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03%d\r\n\r\n",
    "no_target": b"GET HTTP/1.1\r\nHost: a\r\n\r\n%d",
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_01_malformed_and_smuggling_requests(quell, echo_origin, name):
    q = quell()
    data = BAD_REQUESTS[name]
    data = data % echo_origin.port if b"%d" in data else data
    raw = _raw(q, data)
    assert _status(raw) in (400, 501, 505), (name, raw[:200])
    assert b"connection: close" in raw.lower()
    assert echo_origin.requests == []          # nothing reached the origin


def test_02_bad_chunk_size_in_request_body(quell, echo_origin):
    q = quell()
    raw = _raw(q, b"POST http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
               b"\r\nzz\r\nhello\r\n0\r\n\r\n" % echo_origin.port)
    # the head went upstream; the body is cut: the client sees 400 or a close
    assert _status(raw) in (None, 400)


def test_03_head_too_large_is_431(quell, echo_origin):
    q = quell()
    big = b"X-Big: " + b"a" * 70000 + b"\r\n"
    raw = _raw(q, b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\n" % echo_origin.port + big + b"\r\n")
    assert _status(raw) == 431


def test_04_too_many_headers_is_431(quell, echo_origin):
    q = quell(["max_headers 20"])
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(30))
    raw = _raw(q, b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: a\r\n" % echo_origin.port + hdrs + b"\r\n")
    assert _status(raw) == 431


def test_05_slowloris_gets_408(quell):
    q = quell(["header_timeout 1s"])
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(b"GET http://127.0.0.1:1/ HTTP/1.1\r\n")
        out = b""
        for _ in range(4):                     # one byte every 0.4 s: still too slow
            try:
                s.sendall(b"X")
            except OSError:
                break
            time.sleep(0.4)
        s.settimeout(3)
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                out += d
        except OSError:
            pass
    assert _status(out) == 408
    assert time.time() - t0 < 6


def test_06_idle_keepalive_closes(quell):
    q = quell(["keepalive_timeout 1s", "header_timeout 5s"])
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(b"GET /status.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        r = Reader(s, 5)
        read_response(s, reader=r)
        t0 = time.time()
        s.settimeout(4)
        assert s.recv(100) == b""              # closed quietly after the idle timeout
        assert 0.5 < time.time() - t0 < 5


def test_07_unknown_host_is_502_naming_it(quell):
    q = quell()
    st, h, body, _ = proxy_get(q.port, "http://nxdomain-host.test/")
    assert st == 502
    assert b"nxdomain-host.test" in body and b"no such host" in body
    # HTML for browsers
    st, h, body, _ = proxy_get(q.port, "http://nxdomain-host.test/",
                               headers=["Accept: text/html,application/xhtml+xml,*/*;q=0.8"])
    assert st == 502 and h["content-type"].startswith("text/html") and b"<html" in body


def test_08_refused_port_is_502(quell):
    q = quell()
    port = free_port()
    st, _, body, _ = proxy_get(q.port, "http://127.0.0.1:%d/" % port)
    assert st == 502 and b"127.0.0.1" in body


def test_09_first_byte_timeout_is_504(quell, raw_origin):
    def silent(conn, server):
        conn.recv(4096)
        time.sleep(4)
    srv = raw_origin(silent)
    q = quell(["first_byte_timeout 1s"])
    t0 = time.time()
    st, _, body, _ = proxy_get(q.port, "http://127.0.0.1:%d/" % srv.port)
    assert st == 504 and time.time() - t0 < 5


def _dies_mid_body(chunked):
    def run(conn, server):
        conn.recv(4096)
        if chunked:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"a" * 1024
                         + b"\r\n400\r\n" + b"b" * 500)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 5000)
        time.sleep(0.2)
    return run


@pytest.mark.parametrize("chunked", [False, True])
def test_10_origin_dies_mid_body(quell, raw_origin, chunked):
    srv = raw_origin(_dies_mid_body(chunked))
    q = quell()
    r = curl("-x", q.proxy, "-o", "/dev/null", "http://127.0.0.1:%d/" % srv.port)
    assert r.returncode in (18, 56), (r.returncode, r.stderr)   # partial / recv failure
    with pytest.raises(EOFError):
        proxy_get(q.port, "http://127.0.0.1:%d/" % srv.port)


def test_11_origin_dies_mid_body_http10_client(quell, raw_origin):
    srv = raw_origin(_dies_mid_body(True))
    q = quell()
    r = curl("-0", "-x", q.proxy, "-o", "/dev/null", "http://127.0.0.1:%d/" % srv.port)
    assert r.returncode != 0                   # reset, never a clean close


BAD_RESPONSES = {
    "cl_and_te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad_cl": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
    "obs_fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
    "nul": b"HTTP/1.1 200 OK\r\nX-A: \x00\r\nContent-Length: 0\r\n\r\n",
    "bare_cr": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
    "garbage": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_12_malformed_responses_are_502(quell, raw_origin, name):
    def run(conn, server):
        conn.recv(4096)
        conn.sendall(BAD_RESPONSES[name])
        time.sleep(0.3)
    srv = raw_origin(run)
    q = quell()
    st, _, body, _ = proxy_get(q.port, "http://127.0.0.1:%d/" % srv.port)
    assert st == 502, (name, body)


def test_13_bad_chunk_in_response_aborts(quell, raw_origin):
    def run(conn, server):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        time.sleep(0.3)
    srv = raw_origin(run)
    q = quell()
    r = curl("-x", q.proxy, "http://127.0.0.1:%d/" % srv.port)
    assert r.returncode != 0


def test_14_acl_denies_other_clients(quell):
    q = quell(["allow 10.0.0.0/8"])
    raw = _raw(q, b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: a\r\n\r\n")
    assert _status(raw) == 403
    assert "denied" in wait_log(q, "denied")


def test_15_request_loop_refused(quell):
    q = quell()
    st, _, body, _ = proxy_get(q.port, "http://127.0.0.1:%d/status.txt" % q.port)
    assert st == 403 and b"loop" in body
    # by name too: the check is on the resolved address
    st, _, body, _ = proxy_get(q.port, "http://localhost:%d/" % q.port)
    assert st == 403 and b"loop" in body


def test_16_https_absolute_form_rejected(quell):
    q = quell()
    raw = _raw(q, b"GET https://127.0.0.1:1/ HTTP/1.1\r\nHost: a\r\n\r\n")
    assert _status(raw) == 400 and b"CONNECT" in raw


def test_17_max_connections_pauses_accepting(quell, echo_origin):
    q = quell(["max_connections 2", "workers 1"])
    a = socket.create_connection(("127.0.0.1", q.port), timeout=5)
    b = socket.create_connection(("127.0.0.1", q.port), timeout=5)
    time.sleep(0.2)
    c = socket.create_connection(("127.0.0.1", q.port), timeout=5)   # queued in the backlog
    c.sendall(b"GET /status.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    c.settimeout(0.5)
    with pytest.raises(socket.timeout):
        c.recv(100)
    a.close()
    c.settimeout(5)
    assert c.recv(100).startswith(b"HTTP/1.1 200")
    b.close()
    c.close()


def test_18_connect_timeout_is_504(quell):
    # a listener whose accept queue is full drops SYNs: the connect hangs
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    q = quell(["connect_timeout 1s"])
    t0 = time.time()
    st, _, body, _ = proxy_get(q.port, "http://127.0.0.1:%d/" % port)
    assert st == 504 and b"timed out" in body
    assert time.time() - t0 < 5
    for c in fillers:
        c.close()
    srv.close()


def test_19_io_timeout_aborts_stalled_body(quell, raw_origin):
    def stall(conn, server):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        time.sleep(4)
    srv = raw_origin(stall)
    q = quell(["io_timeout 1s"])
    t0 = time.time()
    r = curl("-x", q.proxy, "-o", "/dev/null", "http://127.0.0.1:%d/" % srv.port)
    assert r.returncode == 18 and time.time() - t0 < 5


def _trickle(total, piece, every):
    """An origin sending a Content-Length body of total bytes, piece bytes
    every `every` seconds (a slow origin far away)."""
    def run(conn, server):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: %d\r\n\r\n" % total)
        sent = 0
        while sent < total:
            n = min(piece, total - sent)
            try:
                conn.sendall(b"t" * n)
            except OSError:
                return
            sent += n
            time.sleep(every)
    return run


def test_20_slow_origin_streams_without_waiting_for_the_read_mark(quell, raw_origin):
    # quell asks the kernel to wake it only once a large piece of a big
    # body is there (SO_RCVLOWAT); a slow origin must still stream: its
    # first bytes reach the client at once, not after 128 KB gathered
    # (here that would take 25 s)
    srv = raw_origin(_trickle(400_000, 1000, 0.2))
    q = quell()
    s = socket.create_connection(("127.0.0.1", q.port), timeout=10)
    s.sendall(b"GET http://127.0.0.1:%d/slow HTTP/1.1\r\nHost: x\r\n\r\n" % srv.port)
    r = Reader(s, 10)
    t0 = time.time()
    while b"\r\n\r\n" not in r.buf:
        r.fill()
    body = r.buf.split(b"\r\n\r\n", 1)[1]
    while len(body) < 2000:
        r.fill()
        body = r.buf.split(b"\r\n\r\n", 1)[1]
    assert time.time() - t0 < 2.5, "the first 2 KB took %.1f s" % (time.time() - t0)
    s.close()


def test_21_slow_origin_is_not_an_io_timeout(quell, raw_origin):
    # bytes arriving more slowly than the read mark fills are progress:
    # 30 KB at 1 KB every 0.1 s with io_timeout 1s arrive whole
    srv = raw_origin(_trickle(30_000, 1000, 0.1))
    q = quell(["io_timeout 1s"])
    r = curl("-x", q.proxy, "-s", "-o", "-", "http://127.0.0.1:%d/slow" % srv.port)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert len(r.stdout) == 30_000
