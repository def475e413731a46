"""The built-in annoyance rules through `quell filter` (built-in rules only,
no subscription): on the seed page and on the pages in tests/data/annoyances
every article line stays and every junk line goes (check_page.py's
definition); an article ABOUT advertising, baked cookies, a charity drive or
newsletters keeps every word; each category switched off in the config
leaves its own junk and only its own; --explain names the category."""
import pytest

from builtin_util import (CATEGORIES, annoyance_pages, check_page, junk_present, page_files,
                          run_filter)

# For each category, junk lines of a page that belong to it (so switching the
# category off must leave them) - one or two per page are enough.
CATEGORY_JUNK = {
    "ad-labels": [("seed", "ADVERTISEMENT"),
                  ("advertising-article", "Story continues below advertisement"),
                  ("labels-i18n", "ADVERTISEMENT - SCROLL TO CONTINUE")],
    "donation": [("seed", "Remind me next month"),
                 ("charity-drive", "Remind me in May")],
    "newsletter": [("seed", "By signing up you agree to our"),
                   ("newsletter", "Sign up for our newsletter")],
    "consent": [("seed", "Accept All Cookies"),
                ("baked-cookies", "This website uses cookies"),
                ("consent-managers", "Klaro: hi! Could we please enable")],
}


# The lines of seed.junk.txt that belong to its donation box.
SEED_DONATION_JUNK = ["Join and support independent free thinkers!",
                      "We're independent and can't be cancelled.", "Support The Post Millennial",
                      "Remind me next month", "To find out what personal data we collect and how we use it"]


def check(out, article, junk):
    r = check_page.check(str(out), article, junk)
    assert not r["article_lost"], "article lost: %s" % r["article_lost"]
    assert not r["junk_left"], "junk left: %s" % r["junk_left"]
    return r


def test_01_seed_page_clean(tmp_path):
    html, article, junk, url = page_files("seed")
    out, _ = run_filter(tmp_path, html, url)
    r = check(out, article, junk)
    assert r["article_kept"] == 16 and r["junk_gone"] == 9


@pytest.mark.parametrize("name", annoyance_pages())
def test_02_annoyance_page_clean(tmp_path, name):
    html, article, junk, url = page_files(name)
    out, _ = run_filter(tmp_path, html, url)
    check(out, article, junk)


def test_03_pages_are_real_tests(tmp_path):
    """Without the built-in rules every page still has all its junk: the
    junk lines really are on the pages, so test_02 can fail."""
    for name in ["seed"] + annoyance_pages():
        html, article, junk, url = page_files(name)
        out, _ = run_filter(tmp_path, html, url, extra=["--no-builtin"])
        with open(out, "rb") as f, open(html, "rb") as g:
            assert f.read() == g.read(), "%s: no rules must mean output = input" % name
        r = check_page.check(str(out), article, junk)
        assert not r["article_lost"], name
        assert r["junk_gone"] == 0, "%s: junk absent before filtering: %s" % (name, r)


@pytest.mark.parametrize("off", CATEGORIES)
def test_04_category_switched_off_keeps_its_junk(tmp_path, off):
    on = [c for c in CATEGORIES if c != off]
    for name in ["seed"] + annoyance_pages():
        html, article, junk, url = page_files(name)
        out, err = run_filter(tmp_path, html, url, annoyances=on, explain=True)
        r = check_page.check(str(out), article, junk)
        assert not r["article_lost"], (name, r["article_lost"])
        assert "builtin:%s" % off not in err, "%s: rules of a category switched off ran" % name
        for page, line in CATEGORY_JUNK[off]:
            if page == name:
                assert junk_present(out, line), "%s: %r removed with %s off" % (name, line, off)
        for cat in on:
            for page, line in CATEGORY_JUNK[cat]:
                if page == name:
                    assert not junk_present(out, line), "%s: %r left with %s on" % (name, line, cat)


def test_05_annoyances_none_removes_nothing_builtin(tmp_path):
    html, article, junk, url = page_files("seed")
    out, err = run_filter(tmp_path, html, url, annoyances=[], explain=True)
    assert "builtin:" not in err
    with open(out, "rb") as f, open(html, "rb") as g:
        assert f.read() == g.read()


def test_06_explain_names_the_category(tmp_path):
    html, article, junk, url = page_files("seed")
    out, err = run_filter(tmp_path, html, url, explain=True)
    for cat in CATEGORIES:
        assert "(builtin:%s:" % cat in err, "no removal explained as builtin:%s:\n%s" % (cat, err)


@pytest.mark.parametrize("annoyances", [None, ["ad-labels", "newsletter", "consent"]])
def test_07_seed_page_through_the_proxy(quell, origin, tmp_path, annoyances):
    """`quell run` applies the same built-in rules to a page it proxies over
    HTTPS (gzip on the wire), and honours the annoyances key."""
    from https_util import curl_via, quell_ca
    html, article, junk, url = page_files("seed")
    with open(html, "rb") as f:
        origin.write("builtin/seed.html", f.read())
    lines = ["connect_ports %d" % origin.https_port]
    if annoyances is not None:
        lines.append("annoyances %s" % " ".join(annoyances))
    q = quell(lines)
    out = tmp_path / "seed-proxied.html"
    r = curl_via(q, origin.url("/builtin/seed.html", https=True), quell_ca(q), "--compressed",
                 "-o", str(out))
    assert r.returncode == 0 and out.exists(), r.stderr
    res = check_page.check(str(out), article, junk)
    assert not res["article_lost"], res
    if annoyances is None:
        assert not res["junk_left"], res
    else:
        # donation off: exactly the donation box's lines are left
        assert set(res["junk_left"]) == set(SEED_DONATION_JUNK), res["junk_left"]
    q.check_sanitizers()
