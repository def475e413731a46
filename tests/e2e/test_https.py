"""HTTPS interception end to end: quell's own CA, leaves minted per host,
verified upstream TLS with a 502 page for bad origin certificates, bypass,
blind tunnels for non-TLS bytes, the CA download and PAC pages, `quell ca`.

Basics first: the CLI and the CA pages, then one intercepted request, then
the details.  Origins are nginx on 127.0.0.1 with certificates from the
harness's test CA (trusted by quell through upstream_ca_file)."""
import hashlib
import os
import socket
import ssl
import stat
import subprocess

import pytest

from conftest import QUELL_BIN, curl
from https_util import (BadOrigins, cert_issuer, cert_text, connect_tunnel, curl_via, get,
                        quell_ca, s_client, status_counter, tls_client)


def ports_line(*ports):
    return "connect_ports " + " ".join(str(p) for p in ports)


@pytest.fixture
def iq(quell, origin):
    """quell with interception on (the default) and CONNECT allowed to nginx."""
    return quell([ports_line(origin.https_port, origin.http_port)])


def run_quell(*args, env=None):
    return subprocess.run([QUELL_BIN] + list(args), capture_output=True, timeout=60, env=env)


# ------------------------------------------------------------ 01 the CLI

def test_01_ca_init_and_export(tmp_path):
    d = str(tmp_path / "ca")
    r = run_quell("ca", "init", "--dir", d)
    assert r.returncode == 0, r.stderr
    key = os.path.join(d, "ca.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    text = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "ca.pem"), "-noout", "-text"],
                          capture_output=True, check=True).stdout.decode()
    assert "CA:TRUE" in text and "Certificate Sign, CRL Sign" in text
    assert "prime256v1" in text and "O = quell" in text

    # no silent overwrite; --force replaces
    r = run_quell("ca", "init", "--dir", d)
    assert r.returncode == 1 and b"already exists" in r.stderr
    pem = run_quell("ca", "export", "--dir", d)
    assert pem.returncode == 0 and pem.stdout.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE" not in pem.stdout
    der = run_quell("ca", "export", "--dir", d, "--der").stdout
    conv = subprocess.run(["openssl", "x509", "-inform", "DER", "-outform", "PEM"], input=der,
                          capture_output=True, check=True).stdout
    assert conv == pem.stdout

    r = run_quell("ca", "init", "--dir", d, "--rsa", "--force")
    assert r.returncode == 0, r.stderr
    text = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "ca.pem"), "-noout", "-text"],
                          capture_output=True, check=True).stdout.decode()
    assert "rsaEncryption" in text and "2048 bit" in text


def test_02_ca_dir_from_config(tmp_path):
    d = tmp_path / "from-config"
    conf = tmp_path / "q.conf"
    conf.write_text("ca_dir %s\n" % d)
    r = run_quell("ca", "init", "--config", str(conf))
    assert r.returncode == 0, r.stderr
    assert (d / "ca.pem").exists()
    # without --config: the default file under $HOME when it exists
    home = tmp_path / "home"
    (home / ".config/quell").mkdir(parents=True)
    (home / ".config/quell/quell.conf").write_text("ca_dir %s\n" % (tmp_path / "via-default-file"))
    env = dict(os.environ, HOME=str(home))
    # (root uses /etc/quell/quell.conf and /var/lib/quell/ca: not touched here)
    if os.geteuid() != 0:
        r = run_quell("ca", "init", env=env)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "via-default-file" / "ca.pem").exists()


def test_03_run_refuses_readable_key(tmp_path):
    d = tmp_path / "ca"
    assert run_quell("ca", "init", "--dir", str(d)).returncode == 0
    os.chmod(d / "ca.key", 0o644)
    conf = tmp_path / "q.conf"
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p = port.getsockname()[1]
    port.close()
    conf.write_text("listen 127.0.0.1:%d\nca_dir %s\nlist none\nstate_dir %s\n"
                    % (p, d, tmp_path / "state"))
    try:
        r = run_quell("run", "--config", str(conf))
    except subprocess.TimeoutExpired:
        pytest.fail("quell run started with a world-readable CA key")
    assert r.returncode != 0
    assert ("chmod 600 %s" % (d / "ca.key")).encode() in r.stderr + r.stdout


# ------------------------------------------------------------ 10 CA pages

def test_10_ca_pages(iq):
    ca = quell_ca(iq)
    # first start: the CA was made, and the log says where and how to install it
    log = iq.log()
    assert "created a new CA in %s" % os.path.dirname(ca) in log, log[-2000:]
    assert "http://quell.home/ca" in log
    pem = open(ca, "rb").read()
    r = curl("-x", iq.proxy, "http://quell.home/ca.pem")
    assert r.stdout == pem
    der = curl("-x", iq.proxy, "http://quell.home/ca.crt").stdout
    assert subprocess.run(["openssl", "x509", "-inform", "DER", "-outform", "PEM"], input=der,
                          capture_output=True).stdout == pem
    page = curl("-x", iq.proxy, "http://quell.home/ca").stdout.decode()
    for word in ("Firefox", "Chromium", "certutil", "Windows", "macOS", "Android", "iPhone"):
        assert word in page
    fp = subprocess.run(["openssl", "x509", "-in", ca, "-noout", "-fingerprint", "-sha256"],
                        capture_output=True, check=True).stdout.decode().strip().split("=", 1)[1]
    assert fp in page
    # the PAC file names the address the browser reached quell on
    pac = curl("http://127.0.0.1:%d/proxy.pac" % iq.port).stdout.decode()
    assert pac.strip() == ('function FindProxyForURL(url, host) { return "PROXY 127.0.0.1:%d; DIRECT"; }'
                           % iq.port)
    assert curl("http://127.0.0.1:%d/wpad.dat" % iq.port).stdout.decode() == pac
    # the key is never served
    for path in ("/ca.key", "/ca.pem", "/ca.crt", "/ca", "/"):
        body = curl("-x", iq.proxy, "http://quell.home" + path).stdout
        assert b"PRIVATE KEY" not in body
    keyres = curl("-x", iq.proxy, "-o", "/dev/null", "-w", "%{http_code}", "http://quell.home/ca.key")
    assert keyres.stdout == b"404"


# ------------------------------------------------------------ 20 interception

def test_20_curl_through_quell(iq, origin):
    ca = quell_ca(iq)
    url = origin.url("/index.html", https=True)
    r = curl_via(iq, url, ca, "-v")
    assert b"Hello from the origin" in r.stdout, r.stderr
    err = r.stderr.decode()
    assert "issuer: O=quell" in err, err
    assert "ALPN: server accepted http/1.1" in err or "ALPN, server accepted to use http/1.1" in err
    # a 120 KB page arrives whole
    r = curl_via(iq, origin.url("/page.html", https=True), ca)
    want = open(os.path.join(origin.docroot, "page.html"), "rb").read()
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(want).hexdigest()
    # without quell's CA the client refuses: it is quell's certificate, not the origin's
    r = curl("-x", iq.proxy, "--cacert", "/dev/null", url)
    assert r.returncode != 0


def test_21_s_client_chain(iq, origin):
    ca = quell_ca(iq)
    out = s_client(iq.port, "origin.test", origin.https_port, ca, servername="origin.test")
    assert "Verify return code: 0 (ok)" in out, out
    assert "O = quell, CN = quell CA" in out
    assert "depth=1 O = quell" in out and "depth=0 CN = origin.test" in out


def test_22_leaf_fields(iq, origin, dns):
    ca = quell_ca(iq)
    s, status = connect_tunnel(iq.port, "origin.test", origin.https_port)
    assert status == 200
    t = tls_client(s, "origin.test", ca)
    text = cert_text(t.getpeercert(binary_form=True))
    assert t.selected_alpn_protocol() == "http/1.1"
    t.close()
    assert "DNS:origin.test" in text
    assert "TLS Web Server Authentication" in text
    assert "Digital Signature" in text and "CA:FALSE" in text
    # an IP literal gets an IP SAN
    s, status = connect_tunnel(iq.port, "127.0.0.1", origin.https_port)
    assert status == 200
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    assert "IP Address:127.0.0.1" in cert_text(t.getpeercert(binary_form=True))
    t.close()


def test_23_keepalive_inside_tunnel(iq, origin):
    ca = quell_ca(iq)
    s, status = connect_tunnel(iq.port, "origin.test", origin.https_port)
    assert status == 200
    t = tls_client(s, "origin.test", ca)
    want_small = open(os.path.join(origin.docroot, "small.txt"), "rb").read()
    want_page = open(os.path.join(origin.docroot, "page.html"), "rb").read()
    for i in range(5):
        st, h, body = get(t, "origin.test:%d" % origin.https_port, "/small.txt" if i % 2 == 0 else "/page.html")
        assert st == 200
        assert body == (want_small if i % 2 == 0 else want_page)
        assert h.get("connection", "").lower() != "close"
    t.close()


def test_24_second_connection_mints_nothing(iq, origin):
    ca = quell_ca(iq)
    url = origin.url("/small.txt", https=True)
    assert curl_via(iq, url, ca).returncode == 0
    first = status_counter(iq, "tls_leaves_minted")
    assert first >= 1
    for _ in range(3):
        assert curl_via(iq, url, ca).returncode == 0
    assert status_counter(iq, "tls_leaves_minted") == first
    assert status_counter(iq, "tls_leaf_cache_hits") >= 3


def test_25_returning_client_resumes_session(iq, origin):
    ca = quell_ca(iq)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    session = None
    for i in range(2):
        s, status = connect_tunnel(iq.port, "origin.test", origin.https_port)
        assert status == 200
        t = ctx.wrap_socket(s, server_hostname="origin.test", session=session)
        st, _, body = get(t, "origin.test", "/small.txt")   # the TLS 1.3 ticket comes first
        assert st == 200 and len(body) == 1024
        assert t.session_reused == (i == 1)
        session = t.session
        t.close()


# ------------------------------------------------------------ 30 bad origins

@pytest.fixture(scope="module")
def bad_origins(tmp_path_factory, test_ca):
    b = BadOrigins(str(tmp_path_factory.mktemp("bad-origins")), test_ca)
    yield b
    b.stop()


@pytest.mark.parametrize("name,host,reason", [
    ("expired", "expired.test", "certificate has expired"),
    ("wrong", "wrong.test", "certificate is for another host name"),
    ("selfsigned", "selfsigned.test", "self-signed certificate"),
    ("stranger", "stranger.test", "unknown issuer"),
])
def test_30_bad_origin_certificate_gives_502(quell, bad_origins, name, host, reason):
    q = quell([ports_line(bad_origins.port(name))])
    ca = quell_ca(q)
    url = "https://%s:%d/index.html" % (host, bad_origins.port(name))
    r = curl_via(q, url, ca, "-w", "\n%{http_code}")
    body, _, code = r.stdout.rpartition(b"\n")
    assert code == b"502", r.stdout + r.stderr
    assert reason.encode() in body, body
    assert b"ORIGIN-CONTENT" not in body
    assert reason in q.log()


# ------------------------------------------------------------ 40 bypass and tunnels

def test_40_bypassed_host_shows_origin_certificate(quell, origin, test_ca):
    q = quell([ports_line(origin.https_port), "intercept_bypass test"])
    ca = quell_ca(q)
    r = curl_via(q, origin.url("/index.html", https=True), test_ca.cert, "-v")
    assert b"Hello from the origin" in r.stdout, r.stderr
    assert "issuer: CN=quell test origin CA" in r.stderr.decode()
    # a host under the bypassed suffix: the origin's own certificate too
    s, status = connect_tunnel(q.port, "www.origin.test", origin.https_port)
    assert status == 200
    t = tls_client(s, "www.origin.test", test_ca.cert, check_hostname=False)
    assert "quell test origin CA" in cert_issuer(t.getpeercert(binary_form=True))
    t.close()
    # a host outside it is intercepted
    r = curl_via(q, origin.url("/index.html", host="127.0.0.1", https=True), ca, "-v")
    assert b"Hello from the origin" in r.stdout and b"issuer: O=quell" in r.stderr, r.stderr


def test_41_intercept_off_tunnels(quell, origin, test_ca):
    q = quell([ports_line(origin.https_port), "intercept off"])
    r = curl_via(q, origin.url("/index.html", https=True), test_ca.cert, "-v")
    assert b"Hello from the origin" in r.stdout, r.stderr
    assert "issuer: CN=quell test origin CA" in r.stderr.decode()


def test_42_non_tls_bytes_pass_through(iq, origin):
    s, status = connect_tunnel(iq.port, "origin.test", origin.http_port)
    assert status == 200
    st, h, body = get(s, "origin.test", "/index.html")
    assert st == 200 and b"Hello from the origin" in body
    st, h, body = get(s, "origin.test", "/small.txt")   # and it stays a tunnel
    assert st == 200 and len(body) == 1024
    s.close()


def test_43_pinning_client_gets_auto_bypassed(quell, origin, test_ca):
    q = quell([ports_line(origin.https_port), "auto_bypass_failures 3"])
    quell_ca(q)
    # a client that trusts only the origin's CA rejects quell's leaf
    for _ in range(3):
        s, status = connect_tunnel(q.port, "pinned.test", origin.https_port)
        assert status == 200
        with pytest.raises(ssl.SSLError):
            tls_client(s, "pinned.test", test_ca.cert)
        s.close()
    # from now on the host is tunnelled: the origin's own certificate
    s, status = connect_tunnel(q.port, "pinned.test", origin.https_port)
    t = tls_client(s, "pinned.test", test_ca.cert, check_hostname=False)
    assert "quell test origin CA" in cert_issuer(t.getpeercert(binary_form=True))
    t.close()
    assert "pinned.test" in q.log()
    assert "pinned.test" in q.status()
