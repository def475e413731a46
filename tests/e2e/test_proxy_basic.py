"""Proxy core, the basics: methods, bodies, framing, keep-alive, HTTP/1.0,
hop-by-hop fields, Via/X-Forwarded-For, quell's own pages, the access log."""
import hashlib
import os
import socket

from conftest import curl, sha256_file
from proxy_util import echo_fields, proxy_get, read_response, request_bytes, Reader, wait_log


def test_01_get_through_proxy(quell, origin):
    q = quell()
    r = curl("-x", q.proxy, origin.url("/index.html", host="127.0.0.1"))
    assert r.returncode == 0, r.stderr
    assert b"Hello from the origin" in r.stdout


def test_02_get_by_name_uses_dns(quell, origin):
    q = quell()
    r = curl("-x", q.proxy, origin.url("/index.html", host="origin.test"))
    assert r.returncode == 0, r.stderr
    assert b"Hello from the origin" in r.stdout


def test_03_post_and_put_bodies(quell, echo_origin, origin):
    q = quell()
    data = os.urandom(300_000)
    body_path = os.path.join(q.dir, "body.bin")
    with open(body_path, "wb") as f:
        f.write(data)
    r = curl("-x", q.proxy, "--data-binary", "@" + body_path, echo_origin.url("/post", host="127.0.0.1"))
    fields, _ = echo_fields(r.stdout)
    assert fields["method"] == "POST"
    assert fields["body-sha256"] == hashlib.sha256(data).hexdigest()
    r = curl("-x", q.proxy, "-T", body_path, echo_origin.url("/put", host="127.0.0.1"))
    fields, _ = echo_fields(r.stdout)
    assert fields["method"] == "PUT" and fields["body-len"] == str(len(data))
    # and a real PUT to nginx's DAV location, read back
    r = curl("-x", q.proxy, "-T", body_path, "-o", "/dev/null", "-w", "%{http_code}",
             origin.url("/dav/put.bin", host="127.0.0.1"))
    assert r.stdout in (b"201", b"204"), r.stdout
    assert sha256_file(os.path.join(origin.docroot, "dav", "put.bin")) == hashlib.sha256(data).hexdigest()


def test_04_chunked_upload(quell, echo_origin):
    q = quell()
    data = os.urandom(100_000)
    r = curl("-x", q.proxy, "-H", "Transfer-Encoding: chunked", "--data-binary", "@-",
             echo_origin.url("/up", host="127.0.0.1"), input=data)
    fields, hdrs = echo_fields(r.stdout)
    assert fields["body-sha256"] == hashlib.sha256(data).hexdigest()
    assert ("transfer-encoding", "chunked") in hdrs


def test_05_expect_100_continue(quell, echo_origin):
    q = quell()
    data = os.urandom(50_000)
    r = curl("-x", q.proxy, "-H", "Expect: 100-continue", "--data-binary", "@-", "-v",
             echo_origin.url("/e", host="127.0.0.1"), input=data)
    fields, _ = echo_fields(r.stdout)
    assert fields["body-len"] == str(len(data))
    assert b"HTTP/1.1 100" in r.stderr


def test_06_head_has_no_body(quell, origin):
    q = quell()
    st, h, body, raw = proxy_get(q.port, origin.url("/page.html", host="127.0.0.1"), method="HEAD")
    assert st == 200 and body == b""
    assert int(h["content-length"]) == os.path.getsize(os.path.join(origin.docroot, "page.html"))
    assert raw.endswith(b"\r\n\r\n")


def test_07_not_modified(quell, origin):
    q = quell()
    st, h, _, _ = proxy_get(q.port, origin.url("/index.html", host="127.0.0.1"))
    etag = h["etag"]
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(request_bytes("GET", origin.url("/index.html", host="127.0.0.1"),
                                ["If-None-Match: " + etag]))
        r = Reader(s, 5)
        st, h, body, _ = read_response(s, reader=r)
        assert st == 304 and body == b""
        # the connection is still usable: no body was expected after the 304
        s.sendall(request_bytes("GET", origin.url("/small.txt", host="127.0.0.1")))
        st, _, body, _ = read_response(s, reader=r)
        assert st == 200 and len(body) == 1024


def test_08_big_download_exact(quell, origin):
    q = quell()
    r = curl("-x", q.proxy, "-o", "-", origin.url("/big.bin", host="127.0.0.1"))
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == sha256_file(os.path.join(origin.docroot, "big.bin"))


def test_09_keepalive_client_and_upstream(quell, echo_origin):
    q = quell(["workers 1"])
    urls = [echo_origin.url("/k%d" % i, host="127.0.0.1") for i in range(5)]
    r = curl("-x", q.proxy, "-w", "%{num_connects}\n", *urls)
    assert r.returncode == 0
    # curl opened one connection to quell for all five
    counts = [ln for ln in r.stdout.split(b"\n") if ln.isdigit()]
    assert counts[0] == b"1" and all(c == b"0" for c in counts[1:]), counts
    # quell opened one connection to the origin for all five
    assert echo_origin.connections == 1
    assert len(echo_origin.requests) == 5


def test_10_pipelined_requests(quell, echo_origin):
    q = quell()
    u = echo_origin.url("/p", host="127.0.0.1")
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(request_bytes("GET", u + "1") + request_bytes("GET", u + "2"))
        r = Reader(s, 5)
        for i in ("1", "2"):
            st, _, body, _ = read_response(s, reader=r)
            assert st == 200 and echo_fields(body)[0]["target"] == "/p" + i


def test_11_http10_client(quell, origin):
    q = quell()
    r = curl("-0", "-x", q.proxy, "-i", origin.url("/small.txt", host="127.0.0.1"))
    assert r.stdout.startswith(b"HTTP/1.0 200")
    assert r.stdout.endswith(b"x" * 1023 + b"\n")
    # close-delimited for an HTTP/1.0 client when the origin chunks
    st, h, body, raw = proxy_get(q.port, "http://127.0.0.1:%d/chunked" % origin.http_port,
                                 version="1.0")
    assert raw.startswith(b"HTTP/1.0 ")


def test_12_chunked_response_with_trailers(quell, echo_origin):
    q = quell()
    st, h, body, raw = proxy_get(q.port, echo_origin.url("/chunked", host="127.0.0.1"))
    assert st == 200 and body == b"hello, world"
    assert "X-Checksum: abc123" in h["_trailers"]


def test_13_hop_by_hop_dropped_no_via_no_xff(quell, echo_origin):
    q = quell()
    st, _, body, _ = proxy_get(q.port, echo_origin.url("/h", host="127.0.0.1"), headers=[
        "Connection: keep-alive, X-Secret", "X-Secret: 1", "Keep-Alive: 5",
        "Proxy-Authorization: Basic eA==", "Proxy-Connection: keep-alive", "TE: trailers",
        "X-Kept: yes"])
    _, hdrs = echo_fields(body)
    names = {k for k, _ in hdrs}
    assert "x-kept" in names
    for gone in ("connection", "x-secret", "keep-alive", "proxy-authorization",
                 "proxy-connection", "te", "via", "x-forwarded-for"):
        assert gone not in names, gone
    assert ("host", "127.0.0.1:%d" % echo_origin.port) in hdrs


def test_14_via_and_xff_when_enabled(quell, echo_origin):
    q = quell(["via on", "x_forwarded_for on"])
    st, h, body, _ = proxy_get(q.port, echo_origin.url("/v", host="127.0.0.1"))
    _, hdrs = echo_fields(body)
    assert ("x-forwarded-for", "127.0.0.1") in hdrs
    assert any(k == "via" and "quell" in v for k, v in hdrs)
    assert "quell" in h.get("via", "")


def test_15_status_page(quell, origin):
    q = quell()
    curl("-x", q.proxy, origin.url("/small.txt", host="127.0.0.1"))
    page = q.status()
    assert "quell" in page and "requests" in page and "up " in page
    import subprocess
    from conftest import QUELL_BIN
    version = subprocess.run([QUELL_BIN, "--version"], capture_output=True).stdout.decode().split()[1]
    assert version in page
    # the same page through the proxy as http://quell.home/
    r = curl("-x", q.proxy, "http://quell.home/")
    assert b"requests" in r.stdout and b"<html" in r.stdout.lower()
    r = curl("http://127.0.0.1:%d/status.txt" % q.port)
    counters = dict(ln.split(" ", 1) for ln in r.stdout.decode().splitlines())
    assert int(counters["requests"]) >= 1
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/nothing-here" % q.port)
    assert r.stdout == b"404"


def test_16_access_log_line(quell, origin):
    q = quell()
    url = origin.url("/small.txt", host="127.0.0.1")
    curl("-x", q.proxy, url)
    lines = [ln for ln in wait_log(q, url).splitlines() if url in ln]
    assert lines, q.log()
    f = lines[-1].split()
    # time client method URL status bytes duration verdict
    assert f[0].endswith("Z") and f[1].startswith("127.0.0.1:") and f[2] == "GET"
    assert f[3] == url and f[4] == "200" and int(f[5]) > 1024 and f[6].endswith("ms")
    assert f[7] == "allow"


def test_17_decoded_for_clients_without_the_encoding(quell, origin, echo_origin):
    import gzip
    page = b"<!DOCTYPE html><html><body>" + b"<p>compressible text</p>" * 2000 + b"</body></html>"
    origin.write("gz/page.html", page)
    origin.write("gz/page.html.gz", gzip.compress(page))
    q = quell()
    url = origin.url("/gz/page.html", host="127.0.0.1")
    # a client that accepts gzip gets the origin's gzip bytes
    st, h, body, _ = proxy_get(q.port, url, headers=["Accept-Encoding: gzip"])
    assert st == 200 and h.get("content-encoding") == "gzip"
    assert gzip.decompress(body) == page
    # one that accepts only identity gets plain bytes, whatever quell asked the origin
    st, h, body, _ = proxy_get(q.port, url, headers=["Accept-Encoding: identity"])
    assert st == 200 and "content-encoding" not in h and body == page
    # quell asked the origin for every encoding it decodes (the rewriter needs them)
    st, h, body, _ = proxy_get(q.port, echo_origin.url("/ae", host="127.0.0.1"),
                               headers=["Accept-Encoding: identity"])
    assert ("accept-encoding", "gzip, deflate, br, zstd") in echo_fields(body)[1]
    # and an HTTP/1.0 one, close-delimited
    st, h, body, _ = proxy_get(q.port, url, headers=["Accept-Encoding: identity"], version="1.0")
    assert st == 200 and body == page


def test_18_ipv6_and_next_address_fallback(quell, dns):
    # an origin on [::1] only; the name also has an A record where nothing listens
    srv = socket.socket(socket.AF_INET6)
    srv.bind(("::1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    dns.add("dual.lan", "127.0.0.1")
    dns.add("dual.lan", "::1")

    def serve():
        c, _ = srv.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv6")
        c.close()
    import threading
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    q = quell()
    st, _, body, _ = proxy_get(q.port, "http://dual.lan:%d/" % port)
    assert st == 200 and body == b"v6"
    t.join(5)
    srv.close()
    # an IPv6 literal in the URL
    srv = socket.socket(socket.AF_INET6)
    srv.bind(("::1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    st, _, body, _ = proxy_get(q.port, "http://[::1]:%d/" % port)
    assert st == 200 and body == b"v6"
    t.join(5)
    srv.close()


def test_19_connection_close_and_http10_keepalive(quell, echo_origin):
    q = quell()
    u = echo_origin.url("/c", host="127.0.0.1")
    # Connection: close from an HTTP/1.1 client: answered, then closed
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        s.sendall(request_bytes("GET", u, ["Connection: close"]))
        r = Reader(s, 5)
        st, h, _, _ = read_response(s, reader=r)
        assert st == 200 and h.get("connection") == "close"
        assert r.rest() == b""
    # an HTTP/1.0 client asking for keep-alive keeps its connection
    with socket.create_connection(("127.0.0.1", q.port), timeout=5) as s:
        r = Reader(s, 5)
        for i in range(2):
            s.sendall(request_bytes("GET", u, ["Connection: keep-alive"], version="1.0"))
            st, h, body, _ = read_response(s, reader=r)
            assert st == 200 and h.get("connection", "").lower() == "keep-alive"
            assert b"target=/c" in body
