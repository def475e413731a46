"""Declining by cookie: a WordPress page with the Cookie Notice (or
Complianz) banner comes from host H through quell; the banner is removed
from the page; once the browser asks for the plugin's script, quell knows
H shows that consent manager, and from then on a request to H that carries
none of its cookies reaches the origin with the "declined" cookie, and the
response tells the browser to keep it (Set-Cookie).  A client that already
has an accept cookie keeps it untouched; consent_decline off or the
consent category off leave every request alone.

curl through quell (one worker: the host memory is per worker), and
headless Chromium for the whole round; nginx serves the page and the
script, the echo origin (same host name, so the same cookies) shows what
reached an origin."""
import shutil

import pytest

from browser_util import chromium, nss_home
from conftest import curl

CN_PAGE = """<!DOCTYPE html><html><head><meta charset=utf-8><title>Blog post</title>
<script src="/wp-content/plugins/cookie-notice/js/front.min.js?ver=2.4.16" id="cookie-notice-front-js"></script>
</head><body><article><h1>Blog post</h1><p>The article text stays.</p></article>
<div id="cookie-notice" role="dialog" class="cookie-notice-hidden cookie-revoke-hidden cn-position-bottom"
 aria-label="Cookie Notice"><div class="cookie-notice-container"><span id="cn-notice-text" class="cn-text-container">We
 use cookies to ensure that we give you the best experience on our website.</span><span id="cn-notice-buttons"
 class="cn-buttons-container"><a href="#" id="cn-accept-cookie" data-cookie-set="accept"
 class="cn-set-cookie cn-button">Ok</a><a href="#" id="cn-refuse-cookie" data-cookie-set="refuse"
 class="cn-set-cookie cn-button">No</a></span></div></div>
</body></html>
"""
CN_JS = "/wp-content/plugins/cookie-notice/js/front.min.js"
CMPLZ_JS = "/wp-content/plugins/complianz-gdpr/cookiebanner/js/complianz.min.js"


def get(q, url, *args):
    """(status line and headers, body) of a GET through quell."""
    r = curl("-sS", "-x", q.proxy, "-D", "-", "-H", "Accept-Encoding: identity", *args, url, check=True)
    head, _, body = r.stdout.decode("utf-8", "replace").partition("\r\n\r\n")
    return head, body


def set_cookies(head):
    return [ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.lower().startswith("set-cookie:")]


def origin_cookies(body):
    """The Cookie fields the echo origin received."""
    return [ln[len("h:Cookie: "):] for ln in body.splitlines() if ln.startswith("h:Cookie: ")]


def start(quell, extra=()):
    return quell(["workers 1", "log_level debug"] + list(extra))


def test_cookie_notice_declined_after_its_page(quell, origin, echo_origin, tmp_path):
    origin.write("consent/post.html", CN_PAGE)
    origin.write(CN_JS.lstrip("/"), "/* Cookie Notice front script */\n")
    q = start(quell)
    page = origin.url("/consent/post.html")
    jar = str(tmp_path / "jar.txt")

    # the page: banner removed, article kept; its head went out before the
    # banner streamed (which teaches quell too: test_consent_markup.py)
    head, body = get(q, page, "-c", jar)
    assert "The article text stays." in body
    assert 'id="cookie-notice"' not in body and "We\n use cookies" not in body
    assert not set_cookies(head)
    # the browser asks for the plugin's script: H shows Cookie Notice, and
    # this response carries the decline for the browser to keep
    head, _ = get(q, origin.url(CN_JS + "?ver=2.4.16"), "-e", page, "-b", jar, "-c", jar)
    sc = set_cookies(head)
    assert sc == ["cookie_notice_accepted=false; Path=/; Max-Age=15552000; SameSite=Lax"], head
    with open(jar) as f:
        assert "cookie_notice_accepted\tfalse" in f.read()

    # the browser's next request to H sends the kept cookie: nothing added
    head, body = get(q, echo_origin.url("/next"), "-b", jar)
    assert origin_cookies(body) == ["cookie_notice_accepted=false"], body
    assert not set_cookies(head)
    # a client without it: quell adds it, to the request and for the browser
    head, body = get(q, echo_origin.url("/again"), "-H", "Cookie: sid=42")
    assert origin_cookies(body) == ["sid=42; cookie_notice_accepted=false"], body
    assert set_cookies(head) == ["cookie_notice_accepted=false; Path=/; Max-Age=15552000; SameSite=Lax"]
    # an accept stays an accept
    head, body = get(q, echo_origin.url("/accepted"), "-H", "Cookie: cookie_notice_accepted=true; sid=42")
    assert origin_cookies(body) == ["cookie_notice_accepted=true; sid=42"], body
    assert not set_cookies(head)
    # another host is left alone
    head, body = get(q, echo_origin.url("/", host="other.test"))
    assert origin_cookies(body) == [] and not set_cookies(head)
    assert "Cookie Notice declined by cookie" in q.log()
    q.check_sanitizers()


def test_complianz_declines_every_category(quell, origin, echo_origin):
    origin.write(CMPLZ_JS.lstrip("/"), "/* Complianz */\n")
    q = start(quell)
    get(q, origin.url(CMPLZ_JS, host="blog.test"), "-e", "http://blog.test/post/")
    head, body = get(q, echo_origin.url("/post/2", host="blog.test"))
    assert origin_cookies(body) == ["cmplz_banner-status=dismissed; cmplz_marketing=deny; "
                                    "cmplz_statistics=deny; cmplz_preferences=deny"], body
    assert len(set_cookies(head)) == 4
    # any cookie of the manager is the user's choice
    head, body = get(q, echo_origin.url("/post/3", host="blog.test"), "-H", "Cookie: cmplz_marketing=allow")
    assert origin_cookies(body) == ["cmplz_marketing=allow"] and not set_cookies(head)


def test_switched_off(quell, origin, echo_origin):
    origin.write(CN_JS.lstrip("/"), "/* Cookie Notice front script */\n")
    for extra in (["consent_decline off"], ["annoyances ad-labels donation newsletter"]):
        q = start(quell, extra)
        head, _ = get(q, origin.url(CN_JS), "-e", origin.url("/consent/post.html"))
        assert not set_cookies(head)
        head, body = get(q, echo_origin.url("/next"))
        assert origin_cookies(body) == [] and not set_cookies(head), (extra, body)
        q.stop()


def test_chromium_keeps_the_decline(quell, origin, echo_origin, tmp_path):
    """A real browser: it loads the page (banner gone), fetches the plugin's
    script, keeps the cookie quell sets, and sends it on its next visit."""
    if shutil.which("chromium") is None or shutil.which("certutil") is None:
        pytest.skip("needs Debian's chromium and libnss3-tools")
    origin.write("consent/post.html", CN_PAGE)
    origin.write(CN_JS.lstrip("/"), "/* Cookie Notice front script */\n")
    q = start(quell)
    home = nss_home(str(tmp_path / "nss"), None)
    profile = str(tmp_path / "profile")
    rc, dom, err = chromium(home, profile, q.port, origin.url("/consent/post.html"),
                            ["--dump-dom", "--virtual-time-budget=3000"])
    assert "The article text stays." in dom, "rc=%s %s\n%s" % (rc, err[-1500:], q.log()[-2000:])
    assert 'id="cookie-notice"' not in dom
    # the next visit to the same host, from the same profile: the origin
    # gets the kept cookie, which quell no longer needs to add
    rc, dom, err = chromium(home, profile, q.port, echo_origin.url("/later"), ["--dump-dom"])
    assert "h:Cookie: cookie_notice_accepted=false" in dom, "rc=%s %s\n%s\n%s" % (rc, dom[:1500], err[-1500:], q.log()[-2000:])
    q.check_sanitizers()
