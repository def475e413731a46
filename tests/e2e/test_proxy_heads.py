"""Heads as quell forwards them, byte for byte: the request head to the
origin (Host from the URL, hop-by-hop fields and the fields Connection lists
dropped, order and spelling of the rest kept, Accept-Encoding rewritten) and
the response head to the client.  The look-ups behind it classify field
names once (proxy/http1.c http1_field_id) and gather the head in one piece
(proxy/conn.c write_request_head): these pin the output."""
import socket
import threading

from proxy_util import Reader, read_head, read_response, request_bytes


def capture_origin(raw_origin, response):
    """An origin that records each request head (raw bytes) and answers
    every request with response (bytes), keeping the connection."""
    heads = []
    lock = threading.Lock()

    def serve(c, srv):
        buf = b""
        c.settimeout(10)
        for _ in range(50):
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            with lock:
                heads.append(head + b"\r\n\r\n")
            c.sendall(response)
    return raw_origin(serve), heads


def exchange(port, raw, n=1):
    """Sends raw on one connection to quell and reads n responses."""
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        r = Reader(s, 10)
        for _ in range(n):
            out.append(read_response(s, reader=r))
    return out


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_01_request_head_byte_for_byte(quell, raw_origin):
    o, heads = capture_origin(raw_origin, OK)
    q = quell()
    url = "http://127.0.0.1:%d/p/a.js?x=1" % o.port
    fields = [
        "user-AGENT: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        "ACCEPT-ENCODING: identity",
        "Connection: keep-alive",
        "Close: kept, close is not listed",
        "Referer: http://127.0.0.1/index.html",
        "Cookie: a=1; b=2",
        "Upgrade-Insecure-Requests: 1",
        "Sec-Fetch-Dest: document",
        "Sec-Fetch-Mode: navigate",
        "Sec-Fetch-Site: same-origin",
        "Keep-Alive: 300",
        "TE: trailers",
        "Proxy-Authorization: Basic eA==",
        "X-Very-Long-Field-Name-Beyond-Any-Known-One: " + "v" * 900,
        "x-empty:",
    ]
    (st, _, body, _), = exchange(q.port, request_bytes("GET", url, fields))
    assert st == 200 and body == b"ok"
    kept = [f for f in fields if f.split(":")[0].lower() not in
            ("connection", "keep-alive", "te", "proxy-authorization")]
    want = "GET /p/a.js?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % o.port
    for f in kept:
        name, value = f.split(":", 1)
        value = value.strip()
        if name.lower() == "accept-encoding":
            value = "gzip, deflate, br, zstd"
        want += "%s: %s\r\n" % (name, value)
    want += "\r\n"
    assert heads[0].decode("latin-1") == want


def test_02_connection_listed_fields_dropped(quell, raw_origin):
    o, heads = capture_origin(raw_origin, OK)
    q = quell()
    url = "http://127.0.0.1:%d/" % o.port
    raw = request_bytes("GET", url, ["Connection: close", "CLOSE: 1", "X-A: 1"])
    raw += request_bytes("GET", url, ["Connection: x-b, Keep-Alive", "X-B: 1", "Close: 2"])
    raw += request_bytes("GET", url, ["Connection: close;x=1, upgrade", "close: 3", "Upgrade: w"])
    # the first asks to close: send the others on new connections
    exchange(q.port, raw[:raw.index(b"GET", 1)])
    rest = raw[raw.index(b"GET", 1):]
    second = rest[:rest.index(b"GET", 1)]
    third = rest[rest.index(b"GET", 1):]
    exchange(q.port, second)
    exchange(q.port, third)
    names = [[ln.split(b":")[0].lower() for ln in h.split(b"\r\n")[1:] if ln] for h in heads]
    assert names[0] == [b"host", b"x-a"]
    assert names[1] == [b"host", b"close"]
    assert names[2] == [b"host", b"connection", b"upgrade"]   # the upgrade path


def test_03_response_head_hop_fields(quell, raw_origin):
    resp = (b"HTTP/1.1 200 OK\r\nServer: t\r\nConnection: keep-alive, X-Resp-Secret\r\n"
            b"X-Resp-Secret: 1\r\nKeep-Alive: timeout=5\r\nCONTENT-type: text/plain\r\n"
            b"Close: kept\r\nContent-Length: 2\r\n\r\nok")
    o, _ = capture_origin(raw_origin, resp)
    q = quell()
    url = "http://127.0.0.1:%d/x" % o.port
    (st, h, body, raw), (st2, _, body2, raw2) = exchange(
        q.port, request_bytes("GET", url) + request_bytes("GET", url), n=2)
    assert st == st2 == 200 and body == body2 == b"ok"
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head == ("HTTP/1.1 200 OK\r\nServer: t\r\nCONTENT-type: text/plain\r\n"
                    "Close: kept\r\nContent-Length: 2")
    assert raw2.split(b"\r\n\r\n", 1)[0].decode("latin-1") == head


def test_04_many_and_large_fields_through(quell, raw_origin):
    """More fields than the list keeps inline and more bytes than its arena:
    every one arrives, in order."""
    o, heads = capture_origin(raw_origin, OK)
    q = quell()
    url = "http://127.0.0.1:%d/m" % o.port
    fields = ["X-F%d: %s" % (i, chr(97 + i % 26) * (i * 13 % 300)) for i in range(60)]
    (st, _, _, _), = exchange(q.port, request_bytes("GET", url, fields))
    assert st == 200
    lines = heads[0].decode("latin-1").split("\r\n")[2:-2]
    assert lines == fields      # "X-F0: " too: an empty value keeps its space
