"""Headless Chromium for the end-to-end tests: an NSS database that trusts
quell's CA (what Chromium on Linux reads from ~/.pki/nssdb), and one way to
run Chromium through quell."""
import os
import signal
import subprocess


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


def chromium(home, profile, proxy_port, url, extra=(), timeout=90):
    """Headless Chromium through quell; returns (rc, stdout, stderr).  It runs
    in its own session, killed as a group (only ours) on timeout."""
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--proxy-server=http://127.0.0.1:%d" % proxy_port, "--user-data-dir=" + profile]
    argv += list(extra) + [url]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, HOME=home), start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
