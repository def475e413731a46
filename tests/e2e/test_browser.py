"""A real browser through quell: headless Chromium with quell's CA imported
into a temporary NSS database (under a temporary HOME) loads an HTTPS page
through the proxy, and its DOM holds the page's content.  Without the CA
imported the same load must fail, which shows the browser really checked
quell's certificate."""
import os
import shutil
import signal
import subprocess

import pytest

from https_util import quell_ca

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("certutil") is None,
                                 reason="needs Debian's chromium and libnss3-tools")]

CONTENT = "Hello from the origin"


def nss_home(base, ca_pem):
    """A HOME whose ~/.pki/nssdb trusts ca_pem for web sites (or nothing when
    ca_pem is None)."""
    home = os.path.join(base, "home")
    db = os.path.join(home, ".pki", "nssdb")
    os.makedirs(db)
    subprocess.run(["certutil", "-d", "sql:" + db, "-N", "--empty-password"], check=True,
                   capture_output=True)
    if ca_pem:
        subprocess.run(["certutil", "-d", "sql:" + db, "-A", "-t", "C,,", "-n", "quell",
                        "-i", ca_pem], check=True, capture_output=True)
        listed = subprocess.run(["certutil", "-d", "sql:" + db, "-L"], check=True,
                                capture_output=True).stdout.decode()
        assert "quell" in listed
    return home


def dump_dom(home, profile, proxy_port, url, timeout=90):
    """chromium --headless --dump-dom url through quell; returns (rc, stdout, stderr).
    Chromium runs in its own session; on timeout that process group (ours)
    is killed."""
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage",
            "--proxy-server=http://127.0.0.1:%d" % proxy_port,
            "--user-data-dir=" + profile, "--dump-dom", url]
    env = dict(os.environ, HOME=home)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def test_chromium_loads_https_page_through_quell(quell, origin, tmp_path):
    q = quell(["connect_ports %d" % origin.https_port])
    ca = quell_ca(q)
    home = nss_home(str(tmp_path / "trusting"), ca)
    url = origin.url("/index.html", https=True)
    rc, dom, err = dump_dom(home, str(tmp_path / "profile1"), q.port, url)
    assert CONTENT in dom, "rc=%s\nDOM: %s\nstderr: %s\nquell: %s" % (rc, dom[:2000], err[-3000:],
                                                                     q.log()[-3000:])
    # (through a blind tunnel Chromium would have met the origin's own
    # certificate, from a CA its NSS database does not hold, and failed)


def test_chromium_without_quell_ca_refuses(quell, origin, tmp_path):
    q = quell(["connect_ports %d" % origin.https_port])
    quell_ca(q)
    home = nss_home(str(tmp_path / "untrusting"), None)
    rc, dom, err = dump_dom(home, str(tmp_path / "profile2"), q.port,
                            origin.url("/index.html", https=True))
    assert CONTENT not in dom
