"""The HTML rewriter in the proxy's body chain (issue 5): pages through
quell over HTTP and intercepted HTTPS come out rewritten, gzip and br
origin bodies are decoded, rewritten and arrive decodable, Content-Length
goes and the ETag weakens, non-HTML passes untouched, a CSP page gets a
working nonce, a 50 MB page streams with flat memory."""
import ctypes
import gzip
import os
import re
import threading
import time

import pytest

from conftest import curl

RULES = "##.quell-ad\n##div:has-text(Sponsored by quell)\nexample.test##.site-junk\n"


def page(extra=""):
    return ("<!DOCTYPE html><html><head><title>t</title></head><body>"
            "<div class=quell-ad>AD BOX</div><div>Sponsored by quell</div>%s"
            "<article><p>The article text stays.</p></article></body></html>\n" % extra)


def split_response(raw):
    """(last head, body) of curl -D - output (CONNECT's head comes first)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    while body.startswith(b"HTTP/"):
        head, body = body.split(b"\r\n\r\n", 1)
    return head, body


def check_rewritten(body):
    assert b"AD BOX" not in body and b"Sponsored by quell" not in body
    assert b"The article text stays." in body
    assert re.search(rb'<style nonce="[^"]+">', body)


@pytest.fixture
def rq(quell, tmp_path, origin):
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    return quell(["rules %s" % rules, "connect_ports %d" % origin.https_port])


def br_compress(data):
    lib = ctypes.CDLL("libbrotlienc.so.1")
    out = ctypes.create_string_buffer(len(data) + 1024)
    n = ctypes.c_size_t(len(out))
    ok = lib.BrotliEncoderCompress(5, 22, 0, ctypes.c_size_t(len(data)), data, ctypes.byref(n), out)
    assert ok == 1
    return out.raw[:n.value]


def test_01_html_rewritten_http(rq, origin):
    origin.write("rw/plain.html", page())
    r = curl("-x", rq.proxy, "-D", "-", origin.url("/rw/plain.html"))
    assert r.returncode == 0, r.stderr
    head, body = split_response(r.stdout)
    h = head.decode("latin-1").lower()
    check_rewritten(body)
    assert "content-length:" not in h and "transfer-encoding: chunked" in h
    m = re.search(r"^etag: (.*)$", h, re.M)
    assert m is None or m.group(1).startswith("w/")


def test_02_gzip_origin_http_and_https(rq, origin):
    data = page().encode()
    origin.write("rw/gz.html", data)
    origin.write("rw/gz.html.gz", gzip.compress(data))     # nginx gzip_static
    for https in (False, True):
        args = ["-x", rq.proxy, "-D", "-", "--compressed"]
        if https:
            args += ["--cacert", os.path.join(rq.dir, "ca", "ca.pem")]
        r = curl(*args, origin.url("/rw/gz.html", https=https))
        assert r.returncode == 0, r.stderr
        head, body = split_response(r.stdout)
        assert b"content-encoding: gzip" in head.lower(), head   # recompressed for the client
        check_rewritten(body)
    # a client that does not accept gzip gets plain bytes
    r = curl("-x", rq.proxy, "-H", "Accept-Encoding: identity", origin.url("/rw/gz.html"))
    check_rewritten(r.stdout)


def test_03_br_origin(rq, raw_origin):
    body = br_compress(page().encode())

    def serve(conn, server):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Content-Encoding: br\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                     + body)
        conn.close()
    srv = raw_origin(serve)
    r = curl("-x", rq.proxy, "--compressed", "http://127.0.0.1:%d/br.html" % srv.port)
    assert r.returncode == 0, r.stderr
    check_rewritten(r.stdout)


def test_04_non_html_untouched(rq, origin):
    data = page().encode()
    origin.write("rw/page.txt", data)
    r = curl("-x", rq.proxy, origin.url("/rw/page.txt"))
    assert r.stdout == data


def test_05_csp_header_gets_the_nonce(rq, raw_origin):
    body = page().encode()

    def serve(conn, server):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Security-Policy: default-src 'self'; img-src *\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        conn.close()
    srv = raw_origin(serve)
    r = curl("-x", rq.proxy, "-D", "-", "http://127.0.0.1:%d/csp.html" % srv.port)
    head, out = split_response(r.stdout)
    csp = re.search(rb"(?im)^content-security-policy: (.*)\r$", head).group(1).decode()
    nonce = re.search(rb'<style nonce="([^"]+)">', out).group(1).decode()
    # nothing removed from the policy, the nonce added for styles only
    assert csp.startswith("default-src 'self'; img-src *")
    assert "style-src 'self' 'nonce-%s'" % nonce in csp
    check_rewritten(out)


def test_06_utf16_passes_untouched(rq, raw_origin):
    body = page().encode("utf-16")

    def serve(conn, server):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        conn.close()
    srv = raw_origin(serve)
    r = curl("-x", rq.proxy, "http://127.0.0.1:%d/u16.html" % srv.port)
    assert r.stdout == body


@pytest.mark.slow
def test_07_50mb_page_flat_memory(rq, origin):
    chunk = ('<div class=row><p>%s</p><div class=quell-ad>ad</div></div>\n' % ("word " * 60))
    n = 50_000_000 // len(chunk)
    origin.write("rw/big.html", "<html><body>" + chunk * n + "</body></html>")
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rq.rss_kb())
            time.sleep(0.05)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    base = rq.rss_kb()
    r = curl("-x", rq.proxy, "-o", os.path.join(rq.dir, "big.out"), "-w", "%{size_download}",
             origin.url("/rw/big.html"), timeout=180)
    done.set()
    t.join()
    assert r.returncode == 0, r.stderr
    with open(os.path.join(rq.dir, "big.out"), "rb") as f:
        out = f.read()
    assert out.count(b"class=quell-ad") == 0 and out.count(b"<div class=row>") == n
    assert peak[0] - base < 60_000, "RSS grew by %d KB" % (peak[0] - base)
