"""Running quell: command line and config errors, signals, memory under a
slow client."""
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import QUELL_BIN, curl, free_port
from proxy_util import echo_fields, proxy_get, wait_log


def _run(args, cfg_text=None, tmp=None, timeout=10):
    argv = [QUELL_BIN, "run"] + list(args)
    env = dict(os.environ)
    if tmp is not None:
        env["HOME"] = str(tmp)
    return subprocess.run(argv, capture_output=True, timeout=timeout, env=env)


def test_01_help(tmp_path):
    r = _run(["--help"], tmp=tmp_path)
    assert r.returncode == 0 and b"--listen" in r.stdout and b"--config" in r.stdout


def test_02_unknown_option_exits_2(tmp_path):
    r = _run(["--bogus", "x"], tmp=tmp_path)
    assert r.returncode == 2


@pytest.mark.parametrize("text,line", [
    ("workers 2\nbogus_key 1\n", 2),
    ("# comment\n\nlisten nowhere\n", 3),
    ("header_timeout soon\n", 1),
    ("allow 300.1.2.3/8\n", 1),
])
def test_03_config_error_names_file_line(tmp_path, text, line):
    cfg = tmp_path / "bad.conf"
    cfg.write_text(text)
    r = _run(["--config", str(cfg)], tmp=tmp_path)
    assert r.returncode == 2
    assert ("%s:%d" % (cfg, line)).encode() in r.stderr, r.stderr


def test_04_bad_listen_override_exits_2(tmp_path):
    r = _run(["--listen", "nonsense"], tmp=tmp_path)
    assert r.returncode == 2


def test_05_port_in_use_exits_1(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    r = _run(["--listen", "127.0.0.1:%d" % port], tmp=tmp_path)
    s.close()
    assert r.returncode == 1 and b"cannot listen" in r.stderr


def test_06_command_line_overrides_config(quell, echo_origin):
    first, second = free_port(), free_port()
    # the fixture waits on the config's port; --listen replaces the config's
    # addresses, so it names that port again plus a second one
    q = quell(["listen 127.0.0.1:%d" % first],
              args=["--listen", "127.0.0.1:%d" % first, "--listen", "127.0.0.1:%d" % second,
                    "--workers", "1", "--log-level", "debug"])
    r = curl("-x", "http://127.0.0.1:%d" % second, echo_origin.url("/o", host="127.0.0.1"))
    assert b"method=GET" in r.stdout
    assert "[debug]" in q.log() or "debug" in q.log()


def test_07_sighup_reloads_config_and_reopens_logs(quell, echo_origin, tmp_path):
    log = tmp_path / "access.log"
    q = quell(["access_log %s" % log])
    st, _, body, _ = proxy_get(q.port, echo_origin.url("/a", host="127.0.0.1"))
    assert "via" not in dict(echo_fields(body)[1])
    deadline = time.time() + 5                 # the line follows the response
    while time.time() < deadline and "/a" not in log.read_text():
        time.sleep(0.05)
    os.rename(log, str(log) + ".1")
    with open(q.config_path, "a") as f:
        f.write("via on\n")
    q.send_signal(signal.SIGHUP)
    deadline = time.time() + 5
    while time.time() < deadline and not os.path.exists(log):
        time.sleep(0.05)
    time.sleep(0.2)
    st, _, body, _ = proxy_get(q.port, echo_origin.url("/b", host="127.0.0.1"))
    assert "via" in dict(echo_fields(body)[1])
    deadline = time.time() + 5
    while time.time() < deadline and "/b" not in log.read_text():
        time.sleep(0.05)
    assert "/b" in log.read_text()             # the new file got the new line
    assert "/a" in open(str(log) + ".1").read()


def test_08_sighup_with_broken_config_keeps_running(quell, echo_origin):
    q = quell()
    with open(q.config_path, "a") as f:
        f.write("no_such_key 1\n")
    q.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    st, _, _, _ = proxy_get(q.port, echo_origin.url("/c", host="127.0.0.1"))
    assert st == 200
    assert "not reloaded" in wait_log(q, "not reloaded")


def test_09_sigterm_lets_requests_finish(quell, echo_origin):
    q = quell(["shutdown_grace 5s"])
    result = {}

    def fetch():
        result["r"] = curl("-x", q.proxy, echo_origin.url("/slow", host="127.0.0.1"))
    t = threading.Thread(target=fetch)
    t.start()
    time.sleep(0.3)                            # the response is under way (1 s long)
    q.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(OSError):               # no longer accepting
        socket.create_connection(("127.0.0.1", q.port), timeout=1).close()
    t.join(10)
    assert result["r"].returncode == 0 and result["r"].stdout == b"s" * 2000
    assert q.proc.p.wait(10) == 0


def test_10_sigterm_grace_ends_stuck_requests(quell, raw_origin):
    def stuck(conn, server):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        time.sleep(10)
    srv = raw_origin(stuck)
    q = quell(["shutdown_grace 1s"])
    t = threading.Thread(target=curl, args=("-x", q.proxy, "http://127.0.0.1:%d/" % srv.port))
    t.start()
    time.sleep(0.3)
    t0 = time.time()
    q.send_signal(signal.SIGTERM)
    assert q.proc.p.wait(8) == 0
    assert time.time() - t0 < 6
    t.join(10)


def _firehose(total):
    def run(conn, server):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        block = b"z" * (1 << 20)
        sent = 0
        while sent < total:
            conn.sendall(block)
            sent += len(block)
    return run


@pytest.mark.slow
def test_11_slow_client_memory_stays_flat(quell, raw_origin):
    total = 1 << 30                          # 1 GiB, as the issue says
    srv = raw_origin(_firehose(total))
    q = quell(["conn_buffer 256k", "workers 1"])
    base = q.rss_kb()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.connect(("127.0.0.1", q.port))
    s.sendall(b"GET http://127.0.0.1:%d/big HTTP/1.1\r\nHost: x\r\n\r\n" % srv.port)
    got, peak = 0, base
    deadline = time.time() + 60
    while got < total + 40 and time.time() < deadline:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
        if got % (8 << 20) < len(d):
            peak = max(peak, q.rss_kb())
            time.sleep(0.05)                   # a slow reader: ~150 MB/s at most
    s.close()
    assert got >= total
    assert peak - base < 12 * 1024, (base, peak)   # flat: far below the 1 GiB sent


def test_12_listen_on_ipv6_too(quell, echo_origin):
    v4, v6 = free_port(), free_port()
    quell(["listen 127.0.0.1:%d" % v4, "listen [::1]:%d" % v6])
    r = curl("-x", "http://[::1]:%d" % v6, echo_origin.url("/six", host="127.0.0.1"))
    assert b"target=/six" in r.stdout, r.stderr
