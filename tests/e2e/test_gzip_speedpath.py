"""gzip pages through the rewriting proxy (issues 2 and 5): the origin's
gzip is decoded, rewritten and recompressed, on ISA-L (libisal.so.2,
loaded on first use) and on zlib (QUELL_NO_ISAL), and what the client gets
decodes with curl --compressed and with Python's gzip (zlib) to exactly
the bytes the plain page gives, multi-member origin gzip included."""
import gzip
import random
import re
import socket
import time

import pytest

from conftest import curl

RULES = "##.quell-ad\n##div:has-text(Sponsored by quell)\n"


def big_page(seed):
    """~150 KB of varied HTML with ads sprinkled through it."""
    rnd = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "news", "story", "quell", "proxy", "<b>x</b>"]
    parts = ["<!DOCTYPE html><html><head><title>t</title></head><body>"]
    for i in range(600):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(5, 40)))
        parts.append("<p id=p%d class=c%d>%s %08x</p>\n" % (i, rnd.randint(0, 50), text,
                                                           rnd.getrandbits(32)))
        if i % 50 == 7:
            parts.append("<div class=quell-ad>AD BOX %d</div>" % i)
        if i % 90 == 3:
            parts.append("<div>Sponsored by quell</div>")
    parts.append("</body></html>\n")
    return "".join(parts).encode()


def normalize(body):
    """The style's nonce is new on every page."""
    return re.sub(rb'nonce="[^"]*"', b'nonce="N"', body)


def fetch(q, url, *args):
    r = curl("-x", q.proxy, "-D", "-", *args, url)
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.split(b"\r\n\r\n", 1)
    return head.decode("latin-1").lower(), body


@pytest.fixture(params=["isal", "zlib"])
def gq(request, quell, tmp_path):
    rules = tmp_path / "rules.txt"
    rules.write_text(RULES)
    env = {"QUELL_NO_ISAL": "1"} if request.param == "zlib" else {}
    q = quell(["rules %s" % rules], env=env)
    q.library = request.param
    return q


def libisal_mapped(q):
    with open("/proc/%d/maps" % q.pid) as f:
        return "libisal" in f.read()


def test_01_gzip_page_same_bytes_as_plain(gq, origin):
    data = big_page(1)
    origin.write("gzsp/plain.html", data)
    origin.write("gzsp/page.html", data)
    origin.write("gzsp/page.html.gz", gzip.compress(data, 6))      # nginx gzip_static
    assert not libisal_mapped(gq)             # loaded on first use only
    head, want = fetch(gq, origin.url("/gzsp/plain.html"))
    assert "content-encoding" not in head
    assert b"AD BOX" not in want and b"Sponsored by quell" not in want
    want = normalize(want)
    # curl decodes
    head, body = fetch(gq, origin.url("/gzsp/page.html"), "--compressed")
    assert "content-encoding: gzip" in head and "transfer-encoding: chunked" in head
    assert normalize(body) == want
    # Python's gzip (zlib) decodes the raw bytes
    head, raw = fetch(gq, origin.url("/gzsp/page.html"), "-H", "Accept-Encoding: gzip")
    assert "content-encoding: gzip" in head
    assert normalize(gzip.decompress(raw)) == want
    assert len(raw) < len(want) / 2
    # a client that does not take gzip gets the plain bytes
    head, body = fetch(gq, origin.url("/gzsp/page.html"), "-H", "Accept-Encoding: identity")
    assert "content-encoding" not in head
    assert normalize(body) == want
    assert libisal_mapped(gq) == (gq.library == "isal")


def test_02_multi_member_origin_gzip(gq, origin):
    data = big_page(2)
    cut = len(data) // 3
    origin.write("gzsp/mm-plain.html", data)
    origin.write("gzsp/mm.html", data)
    origin.write("gzsp/mm.html.gz", gzip.compress(data[:cut], 1) + gzip.compress(data[cut:], 9))
    _, want = fetch(gq, origin.url("/gzsp/mm-plain.html"))
    head, raw = fetch(gq, origin.url("/gzsp/mm.html"), "-H", "Accept-Encoding: gzip")
    assert "content-encoding: gzip" in head
    assert normalize(gzip.decompress(raw)) == normalize(want)


def test_03_corrupt_origin_gzip_aborts(gq, origin):
    data = big_page(3)
    z = bytearray(gzip.compress(data))
    z[len(z) // 2] ^= 0x55
    origin.write("gzsp/bad.html", data)
    origin.write("gzsp/bad.html.gz", bytes(z))
    r = curl("-x", gq.proxy, "-s", "-o", "/dev/null", "--compressed", origin.url("/gzsp/bad.html"))
    # the response is cut short, never ended cleanly
    assert r.returncode != 0


@pytest.mark.parametrize("coding", ["gzip", "identity"])
def test_04_trickled_body_same_bytes(gq, origin, raw_origin, coding):
    """The head alone first, then the body in small pieces (a slow origin):
    the client gets what the page sent whole gives."""
    data = big_page(4)
    origin.write("gzsp/whole.html", data)
    _, want = fetch(gq, origin.url("/gzsp/whole.html"))
    body = gzip.compress(data, 6) if coding == "gzip" else data
    rnd = random.Random(4)

    def serve(conn, server):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.recv(65536)
        enc = b"Content-Encoding: gzip\r\n" if coding == "gzip" else b""
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + enc +
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        time.sleep(0.05)
        off = 0
        while off < len(body):
            k = rnd.randint(1, 700)
            conn.sendall(body[off:off + k])
            off += k
            if rnd.random() < 0.1:
                time.sleep(0.002)
        conn.close()
    srv = raw_origin(serve)
    head, raw = fetch(gq, "http://127.0.0.1:%d/t.html" % srv.port, "-H", "Accept-Encoding: gzip")
    if coding == "gzip":                      # decoded, rewritten, recompressed
        assert "content-encoding: gzip" in head
        raw = gzip.decompress(raw)
    else:                                     # quell compresses only what it decoded
        assert "content-encoding" not in head
    assert normalize(raw) == normalize(want)
