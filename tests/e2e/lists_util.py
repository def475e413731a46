"""Helpers for the list-maintenance end-to-end tests (test_lists_update.py).

- ``ListOrigin``: our own nginx (conftest's Nginx class) serving list files
  from its docroot with ETag and Last-Modified, plus locations for a redirect
  loop, a good redirect, gzip and an HTML error page.
- ``run_lists(config, *args)``: runs ``quell lists ...`` with a config file.
- ``make_list(...)``: the text of a filter list with a header.
- ``hang_forever``: a raw_origin handler that accepts and never answers.
"""
import os
import subprocess
import time

from conftest import QUELL_BIN, Nginx

LIST_LOCATIONS = """
        location = /loop-a.txt { return 302 /loop-b.txt; }
        location = /loop-b.txt { return 302 /loop-a.txt; }
        location = /moved.txt { return 301 /lists/good.txt; }
        location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 1; }
        location = /error-page.txt { default_type text/html; return 200
            '<!DOCTYPE html><html><head><title>Oops</title></head><body>maintenance</body></html>'; }
"""


class ListOrigin(Nginx):
    """nginx serving lists over HTTP and HTTPS (test CA) on 127.0.0.1."""

    def __init__(self, d, test_ca):
        os.makedirs(d, exist_ok=True)
        cert, key = test_ca.issue("lists-origin", ["DNS:origin.test", "DNS:*.test",
                                                   "DNS:localhost", "IP:127.0.0.1"])
        super().__init__(d, cert, key, extra=LIST_LOCATIONS)

    def put_list(self, path, text, mtime=None):
        """Writes a list file under the docroot; returns its URL (origin.test)."""
        p = self.write(path.lstrip("/"), text)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        return self.url("/" + path.lstrip("/"))

    def requests_for(self, path):
        """[(status, request line)] from the access log for path."""
        out = []
        for line in self.access_log().splitlines():
            if '"GET %s ' % path in line:
                req = line.split('"')[1]
                status = int(line.split('"')[2].split()[0])
                out.append((status, req))
        return out


def make_list(n, title="Test List", expires="4 days (update frequency)", host="ads",
              start=0):
    """An Adblock-style list of n network rules ||HOSTi.test^ with a header."""
    lines = ["[Adblock Plus 2.0]", "! Title: %s" % title, "! Expires: %s" % expires,
             "! Homepage: http://origin.test/"]
    lines += ["||%s%d.test^" % (host, i) for i in range(start, start + n)]
    return "\n".join(lines) + "\n"


def write_config(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def base_config(tmp, dns_port, ca_file, extra=()):
    """Config lines for the CLI: state in tmp, the test resolver and CA."""
    return ["state_dir %s" % os.path.join(str(tmp), "state"),
            "resolver 127.0.0.1:%d" % dns_port,
            "upstream_ca_file %s" % ca_file] + list(extra)


def run_lists(config, *args, timeout=60, env=None, cwd=None):
    """Runs `quell lists ARGS --config CONFIG`; returns CompletedProcess (text)."""
    argv = [QUELL_BIN, "lists"] + [str(a) for a in args] + ["--config", str(config)]
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e, cwd=cwd)


def ls_rows(out):
    """Parses `quell lists ls` output into {name: {column: value}}."""
    lines = out.splitlines()
    head = lines[0]
    cols = ["NAME", "SOURCE", "RULES", "LAST UPDATE", "NEXT UPDATE", "STATUS", "LAST ERROR"]
    starts = [head.index(c) for c in cols]
    # RULES is right-aligned: its column starts where SOURCE's width ends
    rows = {}
    for line in lines[1:]:
        if not line.strip() or line.startswith(("no list", "default subscriptions")):
            continue
        name = line[:starts[1]].strip()
        src_end = starts[2]
        row = {"NAME": name, "SOURCE": line[starts[1]:src_end].strip()}
        rest = line[src_end:]
        parts = rest.split(None, 1)
        row["RULES"] = parts[0]
        rest = parts[1]
        # dates are "YYYY-mm-dd HH:MM", "never", "due now" or "-"
        for col in ("LAST UPDATE", "NEXT UPDATE"):
            if rest.startswith("never") or rest.startswith("-"):
                w = rest.split(None, 1)
            elif rest.startswith("due now"):
                w = ["due now", rest[len("due now"):].strip()]
            else:
                d = rest.split(None, 2)
                w = [d[0] + " " + d[1], d[2] if len(d) > 2 else ""]
            row[col] = w[0]
            rest = w[1].strip() if len(w) > 1 else ""
        st = rest.split(None, 1)
        row["STATUS"] = st[0]
        row["LAST ERROR"] = st[1] if len(st) > 1 else ""
        rows[name] = row
    return rows


def hang_forever(conn, server):
    """raw_origin handler: read the request, never answer (bounded: 60 s)."""
    deadline = time.time() + 60
    conn.settimeout(1)
    while time.time() < deadline and not server.stopping:
        try:
            if not conn.recv(4096):
                return
        except OSError:
            continue
