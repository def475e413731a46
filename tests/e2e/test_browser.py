"""A real browser through quell: headless Chromium with quell's CA imported
into a temporary NSS database (under a temporary HOME) loads an HTTPS page
through the proxy, and its DOM holds the page's content.  Without the CA
imported the same load must fail, which shows the browser really checked
quell's certificate."""
import shutil

import pytest

from browser_util import chromium, nss_home
from https_util import quell_ca

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("certutil") is None,
                                 reason="needs Debian's chromium and libnss3-tools")]

CONTENT = "Hello from the origin"


def test_chromium_loads_https_page_through_quell(quell, origin, tmp_path):
    q = quell(["connect_ports %d" % origin.https_port])
    ca = quell_ca(q)
    home = nss_home(str(tmp_path / "trusting"), ca)
    url = origin.url("/index.html", https=True)
    rc, dom, err = chromium(home, str(tmp_path / "profile1"), q.port, url, ["--dump-dom"])
    assert CONTENT in dom, "rc=%s\nDOM: %s\nstderr: %s\nquell: %s" % (rc, dom[:2000], err[-3000:],
                                                                     q.log()[-3000:])
    # (through a blind tunnel Chromium would have met the origin's own
    # certificate, from a CA its NSS database does not hold, and failed)


def test_chromium_without_quell_ca_refuses(quell, origin, tmp_path):
    q = quell(["connect_ports %d" % origin.https_port])
    quell_ca(q)
    home = nss_home(str(tmp_path / "untrusting"), None)
    rc, dom, err = chromium(home, str(tmp_path / "profile2"), q.port,
                            origin.url("/index.html", https=True), ["--dump-dom"])
    assert CONTENT not in dom
