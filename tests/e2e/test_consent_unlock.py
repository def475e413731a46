"""The page unlocked: a consent manager's script puts a class on <html> after
the page has loaded ("sp-message-open", Sourcepoint's) and adds a style
sheet that stops scrolling with it (overflow: hidden !important).  Through
quell, with the built-in consent rules on, the page still scrolls: the
generic :style() rules ride along with the style quell injects for the
page's other rules (here a consent container, with the usual lists any ad
slot does), although the class never was in the HTML quell saw; a page
that has the class in its HTML gets them for that alone.  With the consent
category off, the lock holds (so the test can fail).

Headless Chromium over plain HTTP through quell; the page writes what it
measured into the DOM, which --dump-dom prints."""
import re
import shutil

import pytest

from browser_util import chromium, nss_home

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("certutil") is None,
                                 reason="needs Debian's chromium and libnss3-tools")]

PAGE = """<!DOCTYPE html><html><head><meta charset=utf-8><title>Locked page</title></head>
<body>%s<article><h1>A long article</h1>%s</article>
<script>
window.addEventListener("load", function () {
  /* what the consent manager does once its dialog is up */
  var s = document.createElement("style");
  s.textContent = "html.sp-message-open { overflow: hidden !important; }" +
                  "body.didomi-popup-open { overflow: hidden !important; position: fixed !important; }";
  document.head.appendChild(s);
  document.documentElement.classList.add("sp-message-open");
  document.body.classList.add("didomi-popup-open");
  var h = getComputedStyle(document.documentElement), b = getComputedStyle(document.body);
  document.body.setAttribute("data-measured", "html=" + h.overflow + ";body=" + b.overflow + "," + b.position);
});
</script></body></html>
"""
TEXT = "<p>%s</p>\n" % ("Words of the article. " * 40) * 30
# what makes quell style the page: an element a built-in rule hides
PAGE_STYLED = PAGE % ('<div id="didomi-host"></div>', TEXT)
# nothing to hide, but the lock's class is in the HTML already
PAGE_CLASS = PAGE.replace("<html>", '<html class="sp-message-open">') % ("", TEXT)


def measure(quell, origin, tmp_path, lines, name, path="/unlock/locked.html"):
    q = quell(lines)
    home = nss_home(str(tmp_path / ("nss-" + name)), None)
    rc, dom, err = chromium(home, str(tmp_path / ("profile-" + name)), q.port,
                            origin.url(path), ["--dump-dom", "--virtual-time-budget=3000"])
    m = re.search(r'data-measured="([^"]*)"', dom)
    assert m, "page did not run: rc=%s\n%s\nchromium: %s\nquell: %s" % (rc, dom[:800], err[-1500:], q.log()[-2000:])
    q.check_sanitizers()
    return m.group(1), dom


def unlocked(got):
    html, body = got.split(";")
    # the vertical axis scrolls again ("hidden auto": x stays the page's)
    return html.split(" ")[-1] == "auto" and body.endswith(",static") and not body.startswith("body=hidden,")


def test_scroll_lock_undone_through_quell(quell, origin, tmp_path):
    origin.write("unlock/locked.html", PAGE_STYLED)
    got, dom = measure(quell, origin, tmp_path, [], "on")
    assert unlocked(got), got
    assert ":not(#quell)" in dom  # the rule came in quell's style
    assert "Words of the article." in dom and 'id="didomi-host"' not in dom


def test_scroll_lock_class_in_the_html(quell, origin, tmp_path):
    origin.write("unlock/class.html", PAGE_CLASS)
    got, dom = measure(quell, origin, tmp_path, [], "class", "/unlock/class.html")
    assert unlocked(got), got


def test_scroll_lock_holds_without_the_consent_category(quell, origin, tmp_path):
    origin.write("unlock/locked.html", PAGE_STYLED)
    got, dom = measure(quell, origin, tmp_path, ["annoyances ad-labels donation newsletter"], "off")
    assert got == "html=hidden;body=hidden,fixed", got
    assert ":not(#quell)" not in dom
