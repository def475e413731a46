"""What an idle quell leaves unbuilt until first use, and what its workers
share (doc/memory.md): with interception off no TLS object exists before the
first CA page or intercepted CONNECT, and a big /etc/hosts is held once, not
once per worker."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import QUELL_BIN, SANITIZED, SANITIZER_MARKS, Proc, curl, free_port, wait_port
from proxy_util import wait_log

BUILT = "browser-side TLS context built"


def _reload(q):
    n = q.log().count("configuration reloaded")
    q.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and q.log().count("configuration reloaded") <= n:
        time.sleep(0.05)
    assert q.log().count("configuration reloaded") > n, q.log()[-2000:]


def test_01_tls_built_on_first_use(quell, origin, test_ca, tmp_path):
    ca_dir = tmp_path / "ca"
    first = quell(["ca_dir %s" % ca_dir, "intercept off"])
    assert "created a new CA" in first.log()          # made at the first start, always
    first.stop()

    q = quell(["ca_dir %s" % ca_dir, "connect_ports %d" % origin.https_port, "intercept off",
               "log_level debug"])
    log = q.log()
    assert "loaded when first needed" in log
    assert "SHA-256" not in log and BUILT not in log
    # a blind tunnel needs none of it
    r = curl("--cacert", test_ca.cert, "-x", q.proxy,
             "https://127.0.0.1:%d/index.html" % origin.https_port)
    assert r.returncode == 0, r.stderr
    # the CA page loads the CA, nothing more
    page = curl("-x", q.proxy, "http://quell.home/ca").stdout.decode()
    log = wait_log(q, "SHA-256")
    fp = re.search(r"SHA-256 ([0-9A-F:]{95})", log)
    assert fp and fp.group(1) in page, log[-2000:]
    assert BUILT not in q.log()

    # interception switched on by a reload: the first intercepted CONNECT
    # builds the browser side, once
    with open(q.config_path) as f:
        lines = [ln for ln in f.read().splitlines() if ln != "intercept off"]
    q.write_config(lines + ["intercept on"])
    _reload(q)
    for _ in range(2):
        r = curl("--cacert", str(ca_dir / "ca.pem"), "-x", q.proxy,
                 "https://127.0.0.1:%d/index.html" % origin.https_port)
        assert r.returncode == 0, r.stderr + q.log()[-2000:].encode()
        assert b"Hello from the origin" in r.stdout
    assert q.log().count(BUILT) == 1


def _hosts_file(path, n):
    with open(path, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n# an ad-blocking list\n")
        f.write("127.0.0.1 hosts-only.example Alias.Example\n")
        for i in range(n):
            f.write("0.0.0.0 ads%d.tracker%d.example\n" % (i, i % 977))


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_02_hosts_file_shared_by_workers(tmp_path, origin, dns):
    """quell under a private mount namespace whose /etc/hosts holds 100 000
    names: names of the file resolve, and four workers cost about what one
    does (each kept its own parsed copy, twice, ~15 MB a worker before)."""
    unshare = ["unshare", "-m", "--propagation", "private"]
    if os.geteuid() != 0 or not shutil.which("unshare") or \
            subprocess.run(unshare + ["true"], capture_output=True).returncode != 0:
        pytest.skip("needs root and unshare for a private /etc/hosts")
    hosts = tmp_path / "hosts"
    _hosts_file(hosts, 100_000)
    rss = {}
    for workers in (1, 4):
        d = tmp_path / ("w%d" % workers)
        d.mkdir()
        port = free_port()
        conf = d / "quell.conf"
        conf.write_text("\n".join([
            "listen 127.0.0.1:%d" % port, "resolver 127.0.0.1:%d" % dns.port,
            "state_dir %s" % (d / "state"), "ca_dir %s" % (d / "ca"), "list none",
            "intercept off", "workers %d" % workers, "log_level info"]) + "\n")
        # sh execs quell: the PID stays the one Proc stops
        argv = unshare + ["sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts),
                          QUELL_BIN, "run", "--config", str(conf)]
        env = dict(os.environ, HOME=str(d))
        p = Proc(argv, str(d / "quell.log"), cwd=str(d), env=env)
        try:
            wait_port(port, timeout=30 if SANITIZED else 10, proc=p.p)
            time.sleep(0.3)
            rss[workers] = _rss_kb(p.pid)
            for name in ("hosts-only.example", "alias.example"):
                r = curl("-x", "http://127.0.0.1:%d" % port,
                         "http://%s:%d/index.html" % (name, origin.http_port))
                assert b"Hello from the origin" in r.stdout, r.stderr + p.output().encode()
        finally:
            p.stop()
        out = p.output()
        assert not any(m in out for m in SANITIZER_MARKS), out[-3000:]
    if not SANITIZED:
        assert rss[4] - rss[1] < 3000, rss
