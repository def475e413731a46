"""`quell filter`: the HTML rewriter on files and stdin.

Byte identity with no rules on real pages, removals by small rule lists
(generic, domain-specific, procedural, HTML rules), --explain lines,
built-in lists on by default, the config's cosmetic mode, and errors.
"""
import os
import re
import subprocess

import pytest

from conftest import QUELL_BIN, ROOT, SANITIZED

DATA = os.path.join(ROOT, "tests", "data", "html")
# Real pages for the byte-identity tests: tests/data/html, plus the seed page (kept once,
# in tests/data/seed).  Paths relative to DATA.
PAGES = sorted(f for f in os.listdir(DATA) if f.endswith(".html")) + [os.path.join(os.pardir, "seed", "seed.html")]


def run(args, stdin=b"", check=True):
    p = subprocess.run([QUELL_BIN, "filter"] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("quell filter %s: exit %d\n%s" % (args, p.returncode, p.stderr.decode()))
    return p


@pytest.fixture
def rules(tmp_path):
    def make(text, name="rules.txt"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return make


@pytest.mark.parametrize("page", PAGES)
def test_01_no_rules_is_identity(page):
    data = open(os.path.join(DATA, page), "rb").read()
    p = run(["--url", "https://www.example.com/a", "--lists", "none", "--no-builtin"], data)
    assert p.stdout == data


@pytest.mark.parametrize("page", PAGES)
def test_02_rules_that_match_nothing_keep_bytes(page, rules):
    data = open(os.path.join(DATA, page), "rb").read()
    lst = rules("##div:has-text(/(?!)/)\n##.quell-e2e-never\n")
    p = run(["--url", "https://www.example.com/a", "--lists", lst, "--no-builtin", os.path.join(DATA, page)])
    assert p.stdout == data


def test_03_removals(rules):
    lst = rules("""! comment
##.ad
##div:has-text(Sponsored)
example.com##p.only-here
other.org##p.elsewhere
##^script:has-text(tracker)
$$div[tag-content="promo code"]
""")
    doc = (b"<html><head><title>t</title><script>tracker()</script></head><body>"
           b"<div class=ad>AD</div><div>Sponsored stuff</div><p class=only-here>x</p>"
           b"<p class=elsewhere>kept</p><div>use promo code X</div><p>article</p></body></html>")
    p = run(["--url", "https://www.example.com/", "--lists", lst, "--no-builtin"], doc)
    out = p.stdout
    for gone in (b"tracker()", b"AD<", b"Sponsored", b"class=only-here", b"promo code"):
        assert gone not in out
    for kept in (b"kept", b"article", b"<title>t</title>"):
        assert kept in out
    # the style holds the domain's selector and the generic one seen on the page
    assert re.search(rb"<style nonce=\"[A-Za-z0-9+/]+\">\np\.only-here\{display:none!important\}\n</style></head>", out)
    assert b".ad{display:none!important}" in out


def test_04_explain(rules):
    lst = rules("##.ad\n##div:has-text(Sponsored)\n", name="mylist.txt")
    doc = b"<p>a</p><div class=ad>Buy  now\n cheap</div><div>Sponsored</div>"
    p = run(["--url", "http://x.test/", "--lists", lst, "--no-builtin", "--explain"], doc)
    err = p.stderr.decode()
    assert "removed ##.ad (mylist.txt:1) bytes 8-43: Buy now cheap" in err
    assert "removed ##div:has-text(Sponsored) (mylist.txt:2) bytes 43-63: Sponsored" in err
    assert "2 removed" in err


def test_05_file_and_stdin_agree(rules):
    lst = rules("##.ad\n")
    path = os.path.join(DATA, "bbc-1.html")
    a = run(["--url", "https://www.bbc.com/news", "--lists", lst, "--no-builtin", path]).stdout
    b = run(["--url", "https://www.bbc.com/news", "--lists", lst, "--no-builtin"], open(path, "rb").read()).stdout
    assert a == b


def test_06_builtin_on_by_default(rules):
    lst = rules("##.quell-e2e-never\n")
    data = open(os.path.join(DATA, PAGES[-1]), "rb").read()
    with_builtin = run(["--url", "https://news.example/", "--lists", lst, "--explain"], data)
    without = run(["--url", "https://news.example/", "--lists", lst, "--no-builtin", "--explain"], data)
    assert "(builtin:" in with_builtin.stderr.decode()
    assert "(builtin:" not in without.stderr.decode()
    assert len(with_builtin.stdout) < len(data)


def test_07_config_hide_mode(rules, tmp_path):
    conf = tmp_path / "quell.conf"
    conf.write_text("cosmetic hide\ncosmetic_site keep.example remove\nbuiltin off\nlist none\n")
    lst = rules("##.ad\n")
    doc = b"<p class=ad>x</p><p>y</p>"
    p = run(["--url", "https://a.example/", "--config", str(conf), "--lists", lst], doc)
    assert b"<p data-quell-hide class=ad>x</p>" in p.stdout
    assert b"[data-quell-hide]{display:none!important}" in p.stdout
    p = run(["--url", "https://www.keep.example/", "--config", str(conf), "--lists", lst], doc)
    assert b"class=ad" not in p.stdout


def test_07b_without_lists_uses_the_config(rules, tmp_path):
    """No --lists: what `quell run` loads (here the config's rule file and
    no built-in rules)."""
    lst = rules("##.from-config\n")
    conf = tmp_path / "quell.conf"
    conf.write_text("list none\nbuiltin off\nrules %s\nstate_dir %s\n" % (lst, tmp_path / "state"))
    p = run(["--url", "https://a.example/", "--config", str(conf), "--explain"], b"<p class=from-config>x</p><p>y")
    assert b"from-config>" not in p.stdout and b"<p>y" in p.stdout
    assert "rules.txt:1" in p.stderr.decode()


def test_08_errors(rules, tmp_path):
    assert run([], check=False).returncode == 2
    assert run(["--url"], check=False).returncode == 2
    p = run(["--url", "http://x/", "--lists", str(tmp_path / "missing.txt"), "--no-builtin"], b"x", check=False)
    assert p.returncode == 1
    assert "missing.txt" in p.stderr.decode()
    p = run(["--url", "http://x/", "--lists", "none", "--no-builtin", str(tmp_path / "nope.html")], check=False)
    assert p.returncode == 1


def test_09_large_page_streams(rules):
    """A 20 MB page goes through with memory far below its size."""
    lst = rules("##.ad\n##div:has-text(zzz)\n")
    chunk = b"<div class=row><p>text " + b"x" * 200 + b"</p><span class=ad>ad</span></div>\n"
    n = 20_000_000 // len(chunk)
    doc = b"<html><body>" + chunk * n + b"</body></html>"
    p = subprocess.run(["/usr/bin/time", "-f", "%M", QUELL_BIN, "filter", "--url", "http://x/", "--lists", lst,
                        "--no-builtin"], input=doc, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0
    assert p.stdout.count(b"class=ad") == 0
    assert p.stdout.count(b"<div class=row>") == n
    max_kb = int(p.stderr.decode().strip().splitlines()[-1])
    # ASan's shadow memory and quarantine raise the floor, not the slope
    assert max_kb < (150_000 if SANITIZED else 40_000), "max RSS %d KB" % max_kb
