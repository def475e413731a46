"""Declining by cookie, the manager recognised from the page itself: a
WordPress site that combines its scripts into one cached file
(/wp-content/cache/min/x.js: Autoptimize, WP Rocket, LiteSpeed Cache...)
never has the consent manager's own path asked for, but its pages carry the
manager's banner markup.  The rewriter removes the banner by a built-in
rule for the manager's own id or class, and that removal teaches the worker
that streamed the page: the host's next request reaches the origin with the
"declined" cookie and its response carries the Set-Cookie.  A page whose
removals are not a manager's banner teaches nothing; consent_decline off
(or the consent category off) teaches nothing.

curl through quell with one worker (the host memory is per worker); nginx
serves the page and the combined script, the echo origin (same host name)
shows what reached an origin."""
import pytest

from test_consent_decline import get, origin_cookies, set_cookies, start

COMBINED_JS = "/wp-content/cache/min/x.js"

HEAD = """<!DOCTYPE html><html><head><meta charset=utf-8><title>Blog post</title>
<script src="%s" defer></script></head><body>
<article><h1>Blog post</h1><p>The article text stays.</p></article>
""" % COMBINED_JS

# Complianz 7 (cookiebanner/templates/cookiebanner.php), trimmed
CMPLZ = """<div id="cmplz-cookiebanner-container"><div class="cmplz-cookiebanner cmplz-hidden banner-1 optin
 cmplz-bottom-right cmplz-categories-type-view-preferences" aria-modal="true" data-nosnippet="true" role="dialog"
 aria-live="polite" aria-labelledby="cmplz-header-1-optin" aria-describedby="cmplz-message-1-optin">
<div class="cmplz-header"><div class="cmplz-title" id="cmplz-header-1-optin">Manage Cookie Consent</div></div>
<div class="cmplz-body"><div class="cmplz-message" id="cmplz-message-1-optin">To provide the best experiences,
 we use technologies like cookies to store and/or access device information.</div></div>
<div class="cmplz-buttons"><button class="cmplz-btn cmplz-accept">Accept</button>
<button class="cmplz-btn cmplz-deny">Deny</button></div></div></div>
<div id="cmplz-manage-consent" data-nosnippet="true"><button class="cmplz-btn cmplz-hidden cmplz-manage-consent
 manage-consent-1">Manage consent</button></div>
"""
# Cookie Notice 2.4 (front.php)
CN = """<div id="cookie-notice" role="dialog" class="cookie-notice-hidden cookie-revoke-hidden cn-position-bottom"
 aria-label="Cookie Notice"><div class="cookie-notice-container"><span id="cn-notice-text"
 class="cn-text-container">We use cookies to ensure that we give you the best experience.</span>
<span id="cn-notice-buttons" class="cn-buttons-container"><a href="#" id="cn-accept-cookie"
 data-cookie-set="accept" class="cn-set-cookie cn-button">Ok</a></span></div></div>
"""
# Cookie Law Info 2 (public/views/cookie-law-info_bar.php)
CLI = """<div id="cookie-law-info-bar" data-nosnippet="true"><span>This website uses cookies to improve your
 experience. <a role='button' data-cli_action="accept" id="cookie_action_close_header"
 class="medium cli-plugin-button cli-plugin-main-button cookie_action_close_header cli_action_button">Accept</a>
</span></div><div id="cookie-law-info-again" style="display:none" data-nosnippet="true"><span
 id="cookie_hdr_showagain">Privacy &amp; Cookies Policy</span></div>
"""
# cookieconsent 3 (the popup its script renders; a cached page keeps it)
CC = """<div role="dialog" aria-live="polite" aria-label="cookieconsent" aria-describedby="cookieconsent:desc"
 class="cc-window cc-banner cc-type-info cc-theme-block cc-bottom"><span id="cookieconsent:desc"
 class="cc-message">This website uses cookies to ensure you get the best experience.</span>
<div class="cc-compliance"><a aria-label="dismiss cookie message" role="button" tabindex="0"
 class="cc-btn cc-dismiss">Got it!</a></div></div>
"""
TAIL = "</body></html>\n"

DECLINES = {
    "complianz": (CMPLZ, 'class="cmplz-cookiebanner',
                  "cmplz_banner-status=dismissed; cmplz_marketing=deny; cmplz_statistics=deny; "
                  "cmplz_preferences=deny", 4, "Complianz"),
    "cookie-notice": (CN, 'id="cn-notice-text"', "cookie_notice_accepted=false", 1, "Cookie Notice"),
    "cookie-law-info": (CLI, 'id="cookie-law-info-bar"', "viewed_cookie_policy=no", 1, "Cookie Law Info"),
    "cookieconsent": (CC, 'class="cc-window', "cookieconsent_status=deny", 1, "cookieconsent"),
}


def serve(origin, name, banner):
    origin.write("markup/%s.html" % name, HEAD + banner + TAIL)
    origin.write(COMBINED_JS.lstrip("/"), "/* every plugin's script, minified into one file */\n")
    return origin.url("/markup/%s.html" % name)


def test_complianz_banner_teaches_the_host(quell, origin, echo_origin):
    page = serve(origin, "complianz", CMPLZ)
    q = start(quell)
    # the page: banner removed, article kept; the first response of H has
    # no cookie to set yet (its head went out before the banner streamed)
    head, body = get(q, page)
    assert "The article text stays." in body
    assert 'class="cmplz-cookiebanner' not in body and "Manage Cookie Consent" not in body, body
    assert not set_cookies(head)
    assert "Complianz banner in a page" in q.log()
    # the combined script: no manager's path anywhere, yet H is known now
    head, _ = get(q, origin.url(COMBINED_JS), "-e", page)
    assert len(set_cookies(head)) == 4, head
    # the next request to H reaches the origin with the decline, and the
    # browser is told to keep it
    head, body = get(q, echo_origin.url("/next"))
    assert origin_cookies(body) == [DECLINES["complianz"][2]], body
    assert set_cookies(head) == [
        "cmplz_banner-status=dismissed; Path=/; Max-Age=15552000; SameSite=Lax",
        "cmplz_marketing=deny; Path=/; Max-Age=15552000; SameSite=Lax",
        "cmplz_statistics=deny; Path=/; Max-Age=15552000; SameSite=Lax",
        "cmplz_preferences=deny; Path=/; Max-Age=15552000; SameSite=Lax",
    ], head
    # a user's own choice stands; another host is left alone
    head, body = get(q, echo_origin.url("/mine"), "-H", "Cookie: cmplz_marketing=allow")
    assert origin_cookies(body) == ["cmplz_marketing=allow"] and not set_cookies(head), body
    head, body = get(q, echo_origin.url("/", host="other.test"))
    assert origin_cookies(body) == [] and not set_cookies(head), body
    q.check_sanitizers()


@pytest.mark.parametrize("name", ["cookie-notice", "cookie-law-info", "cookieconsent"])
def test_each_manager_by_its_banner(quell, origin, echo_origin, name):
    banner, marker, cookie, n_set, label = DECLINES[name]
    page = serve(origin, name, banner)
    q = start(quell)
    head, body = get(q, page)
    assert "The article text stays." in body and marker not in body, body
    head, body = get(q, echo_origin.url("/next"))
    assert origin_cookies(body) == [cookie], (name, body)
    assert len(set_cookies(head)) == n_set, head
    assert "%s banner in a page" % label in q.log()


def test_hide_mode_teaches_too(quell, origin, echo_origin):
    """cosmetic hide keeps the banner in the page, hidden: the hiding is
    reported like a removal."""
    page = serve(origin, "complianz", CMPLZ)
    q = start(quell, ["cosmetic hide"])
    head, body = get(q, page)
    assert "The article text stays." in body
    head, body = get(q, echo_origin.url("/next"))
    assert origin_cookies(body) == [DECLINES["complianz"][2]], body


def test_page_without_banner_teaches_nothing(quell, origin, echo_origin):
    """A page whose removals are not a manager's banner: a site's own
    cookie bar (removed by a built-in rule all the same) and an ad label."""
    own = """<div id="cookie-notice-bar"><p>We use cookies.</p><button>OK</button></div>
<div class="cookie-notice">Cookies help us.</div>
<p>An article about the <code>#cookie-notice</code> element and the cc-window class.</p>
"""
    page = serve(origin, "plain", own)
    q = start(quell)
    head, body = get(q, page)
    assert "The article text stays." in body and 'id="cookie-notice-bar"' not in body, body
    for path in ("/next", COMBINED_JS):
        head, body = get(q, echo_origin.url(path), "-e", page)
        assert origin_cookies(body) == [] and not set_cookies(head), (path, body)
    assert "banner in a page" not in q.log()


@pytest.mark.parametrize("extra", [["consent_decline off"], ["annoyances ad-labels donation newsletter"],
                                   ["builtin off"]])
def test_switched_off_teaches_nothing(quell, origin, echo_origin, extra):
    page = serve(origin, "complianz", CMPLZ)
    q = start(quell, extra)
    head, body = get(q, page)
    assert "The article text stays." in body
    if extra == ["consent_decline off"]:
        assert 'class="cmplz-cookiebanner' not in body  # the banner still goes
    head, body = get(q, echo_origin.url("/next"))
    assert origin_cookies(body) == [] and not set_cookies(head), (extra, body)
    assert "banner in a page" not in q.log()
