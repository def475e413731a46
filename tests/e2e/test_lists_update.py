"""List maintenance end to end: `quell lists ls|add|rm|update` against a real
nginx (ETag, Last-Modified, 304, gzip, redirects, HTTPS with a test CA), plus
a hanging server and a closed port; and the running proxy swapping in an
updated list without a restart while requests keep flowing.
"""
import os
import re
import signal
import threading
import time

import pytest

from conftest import curl, free_port
from lists_util import (ListOrigin, base_config, hang_forever, ls_rows, make_list,
                        run_lists, write_config)


@pytest.fixture(scope="module")
def lists_origin(tmp_path_factory, test_ca):
    o = ListOrigin(str(tmp_path_factory.mktemp("lists-nginx")), test_ca)
    yield o
    o.stop()


@pytest.fixture
def conf(tmp_path, dns, test_ca):
    """conf(list_lines, extra=()) -> path of a config for the CLI."""
    def make(lists, extra=()):
        path = tmp_path / "quell.conf"
        write_config(path, base_config(tmp_path, dns.port, test_ca.cert, extra) +
                     ["list %s" % l for l in lists])
        return path
    return make


def stored(conf_path, list_id):
    state = os.path.join(os.path.dirname(str(conf_path)), "state", "lists")
    with open(os.path.join(state, list_id + ".txt")) as f:
        return f.read()


# ---------------------------------------------------------------- the CLI

def test_01_ls_fresh_config_shows_defaults(tmp_path):
    cfg = tmp_path / "none-yet.conf"   # does not exist: the defaults
    r = run_lists(cfg, "ls", env={"HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    rows = ls_rows(r.stdout)
    assert list(rows) == ["easylist", "easyprivacy", "ublock-filters", "fanboy-annoyance",
                          "easylist-cookie"]
    for row in rows.values():
        assert row["STATUS"] == "pending"
        assert row["LAST UPDATE"] == "never"
        assert row["SOURCE"].startswith("https://")
    assert "the built-in rules alone apply" in r.stdout
    assert "default subscriptions" in r.stdout


def test_02_add_and_rm_edit_the_config(tmp_path):
    cfg = tmp_path / "sub" / "quell.conf"   # created with its directory
    env = {"HOME": str(tmp_path)}
    r = run_lists(cfg, "add", "peter-lowe", env=env)
    assert r.returncode == 0, r.stderr
    text = cfg.read_text()
    # the defaults were written out, then the new list
    lines = [l for l in text.splitlines() if l.startswith("list ")]
    assert len(lines) == 6
    assert lines[-1].startswith("list https://pgl.yoyo.org/")
    r = run_lists(cfg, "add", "https://origin.test/my.txt", "name=mine", "every=2h", env=env)
    assert r.returncode == 0, r.stderr
    assert "list https://origin.test/my.txt name=mine every=2h" in cfg.read_text()
    r = run_lists(cfg, "add", "peter-lowe", env=env)
    assert r.returncode == 0 and "already subscribed" in r.stdout
    r = run_lists(cfg, "add", "no-such-list", env=env)
    assert r.returncode == 2 and "known lists" in r.stderr
    r = run_lists(cfg, "add", "https://origin.test/x.txt", "every=5s", env=env)
    assert r.returncode == 2 and "every=" in r.stderr
    local = tmp_path / "my-rules.txt"
    local.write_text("! Title: Mine Locally\n||local1.test^\n||local2.test^\n")
    r = run_lists(cfg, "add", "my-rules.txt", env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "list %s\n" % local in cfg.read_text()   # stored as an absolute path
    rows = ls_rows(run_lists(cfg, "ls", env=env).stdout)
    assert "mine" in rows and "peter-lowe" in rows and len(rows) == 8
    assert rows["Mine Locally"]["STATUS"] == "local" and rows["Mine Locally"]["RULES"] == "2"
    assert run_lists(cfg, "rm", "Mine Locally", env=env).returncode == 0

    r = run_lists(cfg, "rm", "easylist", env=env)
    assert r.returncode == 0, r.stderr
    assert "easylist.txt\n" not in cfg.read_text()
    r = run_lists(cfg, "rm", "mine", env=env)
    assert r.returncode == 0, r.stderr
    assert "my.txt" not in cfg.read_text()
    r = run_lists(cfg, "rm", "nothing-like-this", env=env)
    assert r.returncode == 2
    for name in ("easyprivacy", "ublock-filters", "fanboy-annoyance", "easylist-cookie",
                 "peter-lowe"):
        assert run_lists(cfg, "rm", name, env=env).returncode == 0
    # the last one gone: `list none`, not a silent return of the defaults
    assert "list none" in cfg.read_text()
    r = run_lists(cfg, "ls", env=env)
    assert r.returncode == 0 and "no lists subscribed" in r.stdout


def test_03_first_download_then_304(lists_origin, conf):
    url = lists_origin.put_list("lists/first.txt", make_list(50, title="First List"))
    cfg = conf([url + " name=first"])
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "first: updated, " in r.stdout and "50 rules" in r.stdout and " s]" in r.stdout
    assert stored(cfg, "first") == make_list(50, title="First List")
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "first: not modified, 50 rules" in r.stdout
    statuses = [s for s, _ in lists_origin.requests_for("/lists/first.txt")]
    assert statuses[-2:] == [200, 304]
    rows = ls_rows(run_lists(cfg, "ls").stdout)
    row = rows["first"]
    assert row["RULES"] == "50" and row["STATUS"] == "ok" and row["LAST ERROR"] == "-"
    assert row["LAST UPDATE"] != "never" and row["NEXT UPDATE"] not in ("never", "due now")


def test_04_changed_content_replaces_the_copy(lists_origin, conf):
    url = lists_origin.put_list("lists/changing.txt", make_list(40), mtime=1_700_000_000)
    cfg = conf([url + " name=changing"])
    assert run_lists(cfg, "update").returncode == 0
    lists_origin.put_list("lists/changing.txt", make_list(60), mtime=1_700_000_100)
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout
    assert "changing: updated, " in r.stdout and "60 rules" in r.stdout
    assert stored(cfg, "changing") == make_list(60)


def test_05_html_error_page_is_rejected(lists_origin, conf):
    url = lists_origin.put_list("lists/flaky.txt", make_list(30))
    cfg = conf([url + " name=flaky"])
    assert run_lists(cfg, "update").returncode == 0
    lists_origin.put_list("lists/flaky.txt",
                          "<!DOCTYPE html>\n<html><head><title>502</title></head>"
                          "<body>Bad gateway</body></html>\n")
    r = run_lists(cfg, "update")
    assert r.returncode == 1
    assert "flaky: FAILED: the server sent an HTML page" in r.stdout
    assert "keeping the last good copy (30 rules)" in r.stdout
    assert stored(cfg, "flaky") == make_list(30)
    row = ls_rows(run_lists(cfg, "ls").stdout)["flaky"]
    assert row["STATUS"] == "stale" and "HTML page" in row["LAST ERROR"]
    assert row["RULES"] == "30"
    # an HTML page served under a .txt name from a location (200, text/html)
    cfg2 = conf([lists_origin.url("/error-page.txt") + " name=errpage"])
    r = run_lists(cfg2, "update")
    assert r.returncode == 1 and "HTML page" in r.stdout and "no copy yet" in r.stdout


def test_06_shrink_needs_force(lists_origin, conf):
    url = lists_origin.put_list("lists/shrink.txt", make_list(100), mtime=1_700_000_000)
    cfg = conf([url + " name=shrink"])
    assert run_lists(cfg, "update").returncode == 0
    lists_origin.put_list("lists/shrink.txt", make_list(20), mtime=1_700_000_500)
    r = run_lists(cfg, "update")
    assert r.returncode == 1 and "shrank from 100 to 20 rules" in r.stdout
    assert stored(cfg, "shrink") == make_list(100)
    r = run_lists(cfg, "update", "--force")
    assert r.returncode == 0, r.stdout
    assert stored(cfg, "shrink") == make_list(20)


def test_07_server_down(conf):
    port = free_port()   # nothing listens there
    cfg = conf(["http://127.0.0.1:%d/list.txt name=down" % port])
    r = run_lists(cfg, "update")
    assert r.returncode == 1
    assert "down: FAILED: cannot connect to 127.0.0.1 port %d" % port in r.stdout
    row = ls_rows(run_lists(cfg, "ls").stdout)["down"]
    assert row["STATUS"] == "failing" and "cannot connect" in row["LAST ERROR"]
    assert "the built-in rules alone apply" in run_lists(cfg, "ls").stdout


def test_08_timeout(conf, raw_origin):
    srv = raw_origin(hang_forever)
    cfg = conf(["http://127.0.0.1:%d/list.txt name=slow" % srv.port], extra=["list_timeout 2s"])
    t0 = time.time()
    r = run_lists(cfg, "update", timeout=30)
    took = time.time() - t0
    assert r.returncode == 1
    assert "slow: FAILED: timed out after" in r.stdout
    assert 1.8 < took < 10


def test_09_oversized(lists_origin, conf):
    big = make_list(5000)   # ~90 KB
    url = lists_origin.put_list("lists/big.txt", big)
    cfg = conf([url + " name=big"], extra=["list_max_size 32k"])
    r = run_lists(cfg, "update")
    assert r.returncode == 1 and "32768-byte limit" in r.stdout


def test_10_redirects(lists_origin, conf):
    lists_origin.put_list("lists/good.txt", make_list(10, title="Good"))
    cfg = conf([lists_origin.url("/moved.txt") + " name=moved",
                lists_origin.url("/loop-a.txt") + " name=loop"])
    r = run_lists(cfg, "update")
    assert r.returncode == 1
    assert "moved: updated, " in r.stdout and "10 rules" in r.stdout
    assert "loop: FAILED: redirect loop" in r.stdout


def test_11_gzip(lists_origin, conf):
    text = make_list(2000, title="Zipped")
    url = lists_origin.put_list("gz/zipped.txt", text)
    cfg = conf([url + " name=zipped"])
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout
    assert stored(cfg, "zipped") == text
    # fewer bytes on the wire than stored
    stored_len, received = map(int, re.search(r"(\d+) bytes \((\d+) bytes received\)",
                                              r.stdout).groups())
    assert stored_len == len(text)
    assert received < len(text) / 3


def test_12_https_verified(lists_origin, conf, tmp_path):
    url = lists_origin.put_list("lists/tls.txt", make_list(5, title="TLS"))
    https = lists_origin.url("/lists/tls.txt", https=True)
    cfg = conf([https + " name=tls"])
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout
    # without the test CA: not trusted
    cfg2 = tmp_path / "noca.conf"
    write_config(cfg2, [l for l in open(cfg).read().splitlines()
                        if not l.startswith("upstream_ca_file")])
    r = run_lists(cfg2, "update")
    assert r.returncode == 1 and "certificate of origin.test not trusted" in r.stdout
    # a name the certificate does not cover (*.example resolves to 127.0.0.1)
    cfg3 = conf([https.replace("origin.test", "lists.example") + " name=wrongname"])
    r = run_lists(cfg3, "update")
    assert r.returncode == 1 and "not trusted" in r.stdout and "hostname mismatch" in r.stdout
    assert url


def test_13_title_and_expires(lists_origin, conf):
    url = lists_origin.put_list("lists/titled.txt", make_list(3, title="Nice Title",
                                                              expires="2 hours"))
    cfg = conf([url])
    assert run_lists(cfg, "update").returncode == 0
    rows = ls_rows(run_lists(cfg, "ls").stdout)
    assert "Nice Title" in rows
    row = rows["Nice Title"]
    last = time.mktime(time.strptime(row["LAST UPDATE"], "%Y-%m-%d %H:%M"))
    nxt = time.mktime(time.strptime(row["NEXT UPDATE"], "%Y-%m-%d %H:%M"))
    assert abs((nxt - last) - 7200) <= 60
    # a list may be updated by that name too
    r = run_lists(cfg, "update", "Nice Title")
    assert r.returncode == 0 and "not modified" in r.stdout


def test_14_includes_are_fetched_and_inlined(lists_origin, conf):
    lists_origin.put_list("lists/inc/part.txt", make_list(7, host="part"))
    main = ("! Title: With includes\n||main.test^\n!#include part.txt\n"
            "!#include ../../etc/passwd\n")
    url = lists_origin.put_list("lists/inc/main.txt", main)
    cfg = conf([url + " name=inc"])
    r = run_lists(cfg, "update")
    assert r.returncode == 0, r.stdout
    assert "8 rules" in r.stdout
    text = stored(cfg, "inc")
    assert "||part6.test^" in text and "||main.test^" in text
    # the include that was not fetched can no longer make the parser read a file
    assert "\n!#include" not in text and "not fetched: !#include ../../etc/passwd" in text
    # a missing include fails the update and keeps the last good copy
    lists_origin.put_list("lists/inc/main.txt", main + "!#include missing.txt\n")
    r = run_lists(cfg, "update")
    assert r.returncode == 1 and "!#include missing.txt: HTTP 404" in r.stdout
    assert stored(cfg, "inc") == text


# ---------------------------------------------------------------- the running proxy

def blocked(q, url, origin_body):
    """True when quell answered for the origin (the body is not the origin's)."""
    r = curl("-x", q.proxy, url, timeout=10)
    return origin_body.encode() not in r.stdout


def test_20_update_swaps_verdict_without_restart(lists_origin, quell):
    # ads pages on the origin: *.test resolves to 127.0.0.1 via the test DNS
    lists_origin.write("ad.js", "var origin_marker_ad = 1;\n")
    lists_origin.write("index.html", "<!DOCTYPE html><html><body>page</body></html>\n")
    port = lists_origin.http_port
    url_a = "http://adsa.test:%d/ad.js" % port
    url_b = "http://adsb.test:%d/ad.js" % port
    marker = "origin_marker_ad"
    v1 = "! Title: Swap\n||adsa.test^\n"
    v2 = "! Title: Swap\n||adsb.test^\n"
    list_url = lists_origin.put_list("lists/swap.txt", v1, mtime=1_700_000_000)
    q = quell(["list %s name=swap" % list_url])
    # the first download happens in the background at start-up
    deadline = time.time() + 20
    while time.time() < deadline and not blocked(q, url_a, marker):
        time.sleep(0.2)
    assert blocked(q, url_a, marker), "the list never took effect:\n" + q.log()[-3000:]
    assert not blocked(q, url_b, marker)

    # a request loop runs through the swap
    failures, done = [], [0]
    stop = threading.Event()

    def loop():
        end = time.time() + 30
        while not stop.is_set() and time.time() < end:
            r = curl("-o", "/dev/null", "-w", "%{http_code}", "-x", q.proxy,
                     "http://origin.test:%d/index.html" % port, timeout=10)
            code = r.stdout.decode().strip()
            if r.returncode != 0 or code != "200":
                failures.append((r.returncode, code, r.stderr[-200:]))
            done[0] += 1
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        lists_origin.put_list("lists/swap.txt", v2, mtime=1_700_000_900)
        r = run_lists(q.config_path, "update")
        assert r.returncode == 0, r.stdout + r.stderr
        q.send_signal(signal.SIGHUP)
        deadline = time.time() + 15
        while time.time() < deadline and not blocked(q, url_b, marker):
            time.sleep(0.2)
        assert blocked(q, url_b, marker), "the update was not swapped in:\n" + q.log()[-3000:]
        assert not blocked(q, url_a, marker)
        time.sleep(0.5)
    finally:
        stop.set()
        t.join(40)
    assert done[0] > 5
    assert failures == []
    assert q.proc.p.poll() is None   # the same process all along


def test_21_status_page_says_builtin_only(quell):
    port = free_port()   # nothing listens: the first download fails
    q = quell(["list http://127.0.0.1:%d/dead.txt name=dead" % port])
    deadline = time.time() + 15
    page = q.status()
    while time.time() < deadline and "cannot connect" not in page:
        time.sleep(0.2)
        page = q.status()
    assert "Filter lists" in page
    assert "built-in rules only" in page
    assert "dead" in page and "cannot connect to 127.0.0.1 port %d" % port in page


def test_22_restart_with_unchanged_lists_skips_compiling(quell, tmp_path):
    lst = tmp_path / "local.txt"
    lst.write_text("! Title: Local\n||adsc.test^\n")
    lines = ["list %s" % lst, "state_dir %s" % (tmp_path / "kept-state")]
    q1 = quell(lines)
    assert "snapshot compiled in" in q1.log()
    q1.stop()
    q2 = quell(lines)
    assert "snapshot loaded from the cache" in q2.log()
    # a changed list is compiled again
    q2.stop()
    lst.write_text("! Title: Local\n||adsc.test^\n||adsd.test^\n")
    q3 = quell(lines)
    assert "snapshot compiled in" in q3.log()
