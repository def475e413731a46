"""Helpers for the built-in annoyance rules' end-to-end tests: run
`quell filter` on a page and check it with check_page.py (copied from the
quality corpus into tests/data/seed, so the tests need nothing outside the
repository)."""
import os
import subprocess
import sys

from conftest import QUELL_BIN, ROOT

DATA = os.path.join(ROOT, "tests", "data")
SEED = os.path.join(DATA, "seed")
ANNOY = os.path.join(DATA, "annoyances")

sys.path.insert(0, SEED)
import check_page  # noqa: E402  (tests/data/seed/check_page.py)


CATEGORIES = ("ad-labels", "donation", "newsletter", "consent")


def annoyance_pages():
    """Names of the test pages in tests/data/annoyances (NAME.html with
    NAME.article.txt, NAME.junk.txt and NAME.url beside it)."""
    return sorted(f[:-5] for f in os.listdir(ANNOY) if f.endswith(".html"))


def page_files(name):
    """(html, article.txt, junk.txt, url) of a page; the seed page lives in
    tests/data/seed."""
    d = SEED if name == "seed" else ANNOY
    base = os.path.join(d, name)
    with open(base + ".url") as f:
        url = f.read().strip()
    return base + ".html", base + ".article.txt", base + ".junk.txt", url


def run_filter(tmp_path, html_path, url, annoyances=None, extra=(), explain=False, timeout=30):
    """Runs `quell filter --url URL --lists none` (the built-in rules only) on
    html_path, with a config file holding `annoyances ...` when given, and
    HOME in tmp_path so no user config or subscription is read.  Returns
    (output path, stderr text)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    argv = [QUELL_BIN, "filter", "--url", url, "--lists", "none"]
    if annoyances is not None:
        conf = tmp_path / ("quell-%s.conf" % ("-".join(annoyances) or "none"))
        conf.write_text("state_dir %s\nannoyances %s\n" % (tmp_path / "state",
                                                           " ".join(annoyances) or "none"))
        argv += ["--config", str(conf)]
    if explain:
        argv.append("--explain")
    argv += list(extra)
    out = tmp_path / ("out-%d.html" % len(list(tmp_path.glob("out-*.html"))))
    with open(html_path, "rb") as fin, open(out, "wb") as fout:
        p = subprocess.run(argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE, timeout=timeout,
                           env=dict(os.environ, HOME=str(home)))
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0, "quell filter failed (%d): %s" % (p.returncode, err[-2000:])
    return out, err


def visible_blocks(path):
    """The page's visible text blocks, as check_page.py sees them."""
    with open(path, "rb") as f:
        root = check_page.score.parse(check_page.score.decode(f.read()))
    return check_page.blocks(root)


def junk_present(path, line):
    """1 when a junk line is still there, by check_page.py's rule: a phrase of
    at most three words standing alone as a block, a longer one anywhere."""
    bl = visible_blocks(path)
    line = check_page.fold(line)
    if len(line.split()) <= 3:
        return check_page.norm_label(line) in {check_page.norm_label(b) for b in bl}
    return line.lower() in check_page.fold(" ".join(bl)).lower()


# ---------------------------------------------------------------- browser

class Trap:
    """Listeners on ADDR:ports that only count who connects: the stand-in
    for ad, tracking and consent hosts, which no request may reach."""

    def __init__(self, addr, ports):
        import socket
        import threading
        self.socks, self.hits = [], []
        self.stopping = False
        for port in ports:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(64)
            s.settimeout(0.5)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s, port), daemon=True).start()

    def _accept(self, s, port):
        while not self.stopping:
            try:
                c, peer = s.accept()
            except OSError:
                continue
            self.hits.append((port, peer))
            c.close()

    def close(self):
        self.stopping = True
        for s in self.socks:
            s.close()
