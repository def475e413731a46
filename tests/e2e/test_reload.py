"""SIGHUP applies listen, workers and resolver changes to a running quell.

A reload binds new listen addresses (the old ones close, connections on them
finish), starts or retires workers without failing a request, points new
lookups at a changed resolver, and keeps the old configuration entirely when
a new address cannot be bound."""
import re
import signal
import socket
import threading
import time

import pytest

from conftest import DNSServer, curl, free_port
from proxy_util import echo_fields, proxy_get, wait_log


def _rewrite(q, **changes):
    """Rewrites q's config file: each key given replaces that key's lines
    (a list value gives several lines; None drops the key)."""
    with open(q.config_path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    for key, value in changes.items():
        lines = [ln for ln in lines if ln.split()[0] != key]
        for v in ([] if value is None else value if isinstance(value, list) else [value]):
            lines.append("%s %s" % (key, v))
    q.write_config(lines)


def _reload(q, expect="configuration reloaded", count_before=None):
    """Sends SIGHUP and waits for the reload's log line (the n-th one)."""
    n = q.log().count(expect) if count_before is None else count_before
    q.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and q.log().count(expect) <= n:
        time.sleep(0.05)
    assert q.log().count(expect) > n, q.log()[-2000:]


def _status(port):
    text = curl("http://127.0.0.1:%d/status.txt" % port).stdout.decode()
    return dict(ln.split(" ", 1) for ln in text.splitlines() if " " in ln)


def _wait_workers(port, n, timeout=10.0):
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        seen = _status(port).get("workers")
        if seen == str(n):
            return
        time.sleep(0.1)
    raise AssertionError("status page says workers %s, expected %d" % (seen, n))


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_01_new_listen_port_replaces_the_old(quell, echo_origin):
    q = quell()
    old = q.port
    st, _, _, _ = proxy_get(old, echo_origin.url("/before", host="127.0.0.1"))
    assert st == 200
    result = {}

    def slow():                    # in flight on the old port across the reload
        result["st"] = proxy_get(old, echo_origin.url("/slow", host="127.0.0.1"))
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    new = free_port()
    _rewrite(q, listen="127.0.0.1:%d" % new)
    _reload(q)
    assert "now listening on 127.0.0.1:%d" % new in q.log()
    assert "no longer listening on 127.0.0.1:%d" % old in q.log()
    st, _, body, _ = proxy_get(new, echo_origin.url("/after", host="127.0.0.1"))
    assert st == 200 and b"target=/after" in body
    assert _refused(old)
    t.join(10)
    st, _, body, _ = result["st"]
    assert st == 200 and body == b"s" * 2000          # finished on the closed address
    assert _status(new)["requests"]


def test_02_added_and_removed_addresses(quell, echo_origin):
    q = quell()
    a, b = q.port, free_port()
    _rewrite(q, listen=["127.0.0.1:%d" % a, "127.0.0.1:%d" % b])
    _reload(q)
    for port in (a, b):
        st, _, _, _ = proxy_get(port, echo_origin.url("/both", host="127.0.0.1"))
        assert st == 200
    _rewrite(q, listen="127.0.0.1:%d" % b)
    _reload(q)
    assert _refused(a)
    st, _, _, _ = proxy_get(b, echo_origin.url("/b-only", host="127.0.0.1"))
    assert st == 200


def test_03_port_in_use_keeps_the_old_config(quell, echo_origin):
    q = quell()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        # the whole file is rejected: the via change must not apply either
        _rewrite(q, listen=["127.0.0.1:%d" % q.port, "127.0.0.1:%d" % port], via="on")
        _reload(q, expect="configuration not reloaded")
        assert re.search(r"not reloaded: cannot listen on 127\.0\.0\.1:%d: Address already in use"
                         % port, q.log()), q.log()[-2000:]
        st, _, body, _ = proxy_get(q.port, echo_origin.url("/still", host="127.0.0.1"))
        assert st == 200
        assert "via" not in dict(echo_fields(body)[1])
        # a fixed file goes through on the next SIGHUP
        _rewrite(q, listen="127.0.0.1:%d" % q.port)
        _reload(q)
        st, _, body, _ = proxy_get(q.port, echo_origin.url("/fixed", host="127.0.0.1"))
        assert st == 200 and "via" in dict(echo_fields(body)[1])
    finally:
        busy.close()


def test_04_worker_count_changes_without_failed_requests(quell, echo_origin):
    q = quell(["workers 2", "shutdown_grace 5s"])
    _wait_workers(q.port, 2)
    stop = threading.Event()
    done, failures = [], []

    def loop():                 # one request per connection, as fast as it goes
        deadline = time.time() + 60
        while not stop.is_set() and time.time() < deadline:
            try:
                st, _, body, _ = proxy_get(q.port, echo_origin.url("/loop", host="127.0.0.1"),
                                           timeout=5)
                (done if st == 200 and b"target=/loop" in body else failures).append(st)
            except (OSError, EOFError) as e:
                failures.append(repr(e))
    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        for n in (4, 1, 3, 2):
            _rewrite(q, workers=str(n))
            _reload(q)
            _wait_workers(q.port, n)
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not failures, failures[:5]
    assert len(done) > 20
    for a, b in ((2, 4), (4, 1), (1, 3), (3, 2)):
        assert "reload: workers %d -> %d" % (a, b) in q.log()
    assert "retired" in q.log()


def test_05_resolver_change_applies_to_new_lookups(quell, echo_origin, dns):
    second = DNSServer()
    try:
        # only the second server knows this name; the first says NXDOMAIN
        second.add("site.reload", "127.0.0.1")
        second.add("other.reload", "127.0.0.1")
        q = quell()
        url = "http://site.reload:%d/dns" % echo_origin.port
        st, _, body, _ = proxy_get(q.port, url)
        assert st == 502 and b"site.reload" in body
        assert not second.queries
        _rewrite(q, resolver="127.0.0.1:%d" % second.port)
        _reload(q)
        # the first answer (NXDOMAIN, cached) does not outlive the change
        st, _, body, _ = proxy_get(q.port, url)
        assert st == 200 and b"target=/dns" in body
        assert ("site.reload", "A") in [(n.lower(), t) for n, t in second.queries]
        # and back (another name: site.reload may now ride a pooled
        # upstream connection, which needs no lookup)
        _rewrite(q, resolver="127.0.0.1:%d" % dns.port)
        _reload(q)
        st, _, body, _ = proxy_get(q.port, "http://other.reload:%d/dns" % echo_origin.port)
        assert st == 502 and b"other.reload" in body
        assert "other.reload" in [n.lower() for n, _ in dns.queries]
        assert "other.reload" not in [n.lower() for n, _ in second.queries]
    finally:
        second.close()


@pytest.mark.parametrize("workers", [1, 3])
def test_06_new_workers_use_the_new_listen_set(quell, echo_origin, workers):
    """Workers started by a reload listen on the reload's addresses only."""
    q = quell(["workers 2"])
    old, new = q.port, free_port()
    _rewrite(q, listen="127.0.0.1:%d" % new, workers=str(workers))
    _reload(q)
    _wait_workers(new, workers)
    for _ in range(20):                 # enough connections to reach every worker
        st, _, _, _ = proxy_get(new, echo_origin.url("/w", host="127.0.0.1"))
        assert st == 200
    assert _refused(old)


def test_07_ipv6_address_added_and_removed(quell, echo_origin):
    q = quell()
    v6 = free_port()
    _rewrite(q, listen=["127.0.0.1:%d" % q.port, "[::1]:%d" % v6])
    _reload(q)
    r = curl("-x", "http://[::1]:%d" % v6, echo_origin.url("/six", host="127.0.0.1"))
    assert b"target=/six" in r.stdout, r.stderr
    _rewrite(q, listen="127.0.0.1:%d" % q.port)
    _reload(q)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("::1", v6), timeout=2).close()
    st, _, _, _ = proxy_get(q.port, echo_origin.url("/four", host="127.0.0.1"))
    assert st == 200


def test_08_dns_cache_size_change_empties_the_cache(quell, echo_origin, dns):
    """dns_cache_size follows a reload: the cache starts empty, so the name
    is asked again."""
    q = quell(["workers 1", "upstream_pool_size 0"])
    url = "http://cache-size.test:%d/c" % echo_origin.port

    def asked():
        return len([n for n, _ in dns.queries if n.lower() == "cache-size.test"])
    assert proxy_get(q.port, url)[0] == 200
    first = asked()
    assert proxy_get(q.port, url)[0] == 200
    assert asked() == first                     # cached
    _rewrite(q, dns_cache_size="16")
    _reload(q)
    assert proxy_get(q.port, url)[0] == 200
    assert asked() > first                      # asked again
