"""The harness itself: the origin, the DNS server and the test CA work, so a
failure elsewhere is quell's and not the fixtures'."""
import socket
import subprocess

from conftest import curl, sha256_file


def test_nginx_serves_http_and_https(origin, test_ca):
    r = curl("-o", "/dev/null", "-w", "%{http_code}", origin.url("/index.html", host="127.0.0.1"))
    assert r.stdout == b"200"
    r = curl("--cacert", test_ca.cert, "--resolve", "origin.test:%d:127.0.0.1" % origin.https_port,
             origin.url("/index.html", https=True))
    assert b"Hello from the origin" in r.stdout, r.stderr


def test_big_file_is_10_mib(origin):
    import os
    path = os.path.join(origin.docroot, "big.bin")
    assert os.path.getsize(path) == 10 * 1024 * 1024
    assert len(sha256_file(path)) == 64


def _query(port, name, qtype=1):
    import struct
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(q, ("127.0.0.1", port))
    data, _ = s.recvfrom(4096)
    s.close()
    return data


def test_dns_answers_and_nxdomain(dns):
    r = _query(dns.port, "origin.test")
    assert r[3] & 0xF == 0 and r[7] == 1 and r[-4:] == socket.inet_aton("127.0.0.1")
    r = _query(dns.port, "nxhost.test")
    assert r[3] & 0xF == 3


def test_expired_cert_is_expired(test_ca):
    cert, _ = test_ca.issue("expired-check", ["DNS:expired.test"], expired=True)
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-checkend", "0"],
                         capture_output=True)
    assert out.returncode == 1


def test_echo_origin_echoes(echo_origin):
    r = curl("--data-binary", "hello", echo_origin.url("/x", host="127.0.0.1"))
    assert b"method=POST" in r.stdout and b"body-len=5" in r.stdout
