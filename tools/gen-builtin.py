#!/usr/bin/env python3
"""Writes quell's built-in rule lists, filters/builtin/<category>.txt.

The lists repeat a few long regular expressions (label words, prompt phrases
in many languages, size and prose guards) across many selectors; they are
written here once and expanded.  The generated .txt files are committed (the
binary embeds them); edit this script, run it, commit both.

    tools/gen-builtin.py           rewrite the lists
    tools/gen-builtin.py --check   exit 1 when a list differs from what this script writes
"""
import os
import sys
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), 'filters', 'builtin')
# What may surround a label: white space (with no-break and zero-width
# spaces), dashes, bullets, brackets, tildes and stars, a close cross, and
# icon-font glyphs (private use area: "AdChoices" followed by its icon).
TRIM = r"\s\x{a0}\x{2000}-\x{200d}\x{2022}\x{2013}\x{2014}\x{b7}\x{2026}\x{d7}\x{2715}\x{25bc}\x{e000}-\x{f8ff}|:~*\-\(\)\[\]"
# Possessive: a label never starts with these characters, and PCRE2 must
# not hand them back one by one to an alternative that begins with a
# "[^<>]{0,60}" run (that backtracking made a long link cost 100 us).
L = "[" + TRIM + "]*+"
R = "[" + TRIM + "!.]*+"
def whole(alts):
    """The whole text is one of alts (factored: see factor())."""
    return "/^" + L + "(?:" + factor(alts) + ")" + R + "$/iu"
def size(n):
    """Condition: the element's whole text is at most n characters.  First
    in every chain, so a big element fails on a cheap test."""
    return ":has-text(/^[\\s\\S]{0,%d}$/)" % n
# An element with three paragraphs in a row is prose: no text rule takes it.
PROSE = ":not(:has(p + p + p))"
def syntax(rx):
    """(index, character, groups open before it) for each character of the
    regular expression rx that is neither escaped nor inside a [class]:
    the ones that can split alternatives or open and close groups."""
    depth, cls, i = 0, False, 0
    while i < len(rx):
        c = rx[i]
        if c == "\\":
            i += 2
            continue
        if cls:
            cls = c != "]"
        elif c == "[":
            cls = True
        else:
            yield i, c, depth
            depth += (c == "(") - (c == ")")
        i += 1
def factor(alts):
    """alts ("a|b|...") with the alternatives that begin with the same
    plain letter grouped under it: PCRE2 tries the alternatives of a group
    in turn at every position its start-of-match bitmap lets through, so
    "s(?:ign up|ubscribe)" costs one test where "sign up|subscribe" costs
    two.  Order does not matter to a search for any of them."""
    cuts = [i for i, c, depth in syntax(alts) if c == "|" and depth == 0]
    parts = [alts[a + 1:b] for a, b in zip([-1] + cuts, cuts + [len(alts)])]
    # "(?:a|b)rest" is "arest|brest": spelt out, both find their letter
    wide = []
    for a in parts:
        if a.startswith("(?:"):
            end = next((k for k, c, depth in syntax(a) if c == ")" and depth == 1), None)
            inner, rest = (a[3:end], a[end + 1:]) if end else ("", "")
            if end and rest[:1] not in ("?", "*", "+", "{") and "(" not in inner and "|" in inner:
                wide.extend(x + rest for x in inner.split("|"))
                continue
        wide.append(a)
    parts = wide
    groups, order = {}, []
    for a in parts:
        k = a[0].lower() if a and a[0].isalpha() and a[1:2] not in ("?", "*", "+", "{") else None
        key = k if k else a
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(a[1:] if k else a)
    out = []
    for key in order:
        g = groups[key]
        if len(key) == 1 and key.isalpha() and (len(g) > 1 or g[0] != key):
            out.append(key + ("(?:%s)" % "|".join(g) if len(g) > 1 else g[0]))
        else:
            out.extend(g)
    return "|".join(out)
def has(alts):
    """Condition: the text holds one of alts (unanchored, so PCRE2 scans
    with its start-of-match optimisations; factored by first letter)."""
    return ":has-text(/(?:%s)/iu)" % factor(alts)
def any_of(branches):
    """Condition: the text passes one of branches, each a run of lookaheads
    anchored at the start (for the few elements a cheaper test let through)."""
    return ":has-text(/^(?:%s)/iu)" % "|".join(branches)
def within(n):
    return "(?=[\\s\\S]{0,%d}$)" % n
def holds(alts):
    """The text holds one of alts somewhere (a lookahead, inside any_of()):
    factored by first letter as has() is, since PCRE2 tries the lazy run's
    every position against each alternative in turn (the donation box's
    final test cost ~50K instructions an element spelt out)."""
    f = factor(alts)
    cuts = [i for i, c, depth in syntax(f) if c == "|" and depth == 0]
    parts = [f[a + 1:b] for a, b in zip([-1] + cuts, cuts + [len(f)])]
    # ("\\bdon\\b" begins with its d: the word boundary takes no character)
    parts = [a[2:] if a.startswith("\\b") else a for a in parts]
    firsts = sorted(set(a[:1].lower() for a in parts))
    if all(a[:1].isascii() and a[:1].isalpha() and a[1:2] not in ("?", "*", "+", "{") for a in parts):
        # every alternative begins with a plain letter: a class of those
        # letters turns most positions down in one test (caseless, as the
        # letters themselves: k and s take their Unicode other cases too)
        return "(?=[\\s\\S]*?(?=[%s])(?:%s))" % ("".join(firsts), f)
    return "(?=[\\s\\S]*?(?:%s))" % f
def box(alts, n):
    return "/^(?=[\\s\\S]{0,%d}$)[\\s\\S]*?(?:%s)/iu" % (n, alts)
def j(*xs):
    return "|".join(xs)
# Tier 1: phrases only ever printed as an ad label or ad-box control.
UI = j(r"ad ?choices", r"ads by google", r"ad feedback", r"report (?:this )?ad", r"ad loading", r"loading ad",
       r"sponsored links?", r"promoted (?:stories|links)", r"advertisement feature",
       r"(?:story|article|content|text) continues (?:below|after)(?: (?:this )?(?:advertisement|ad))?",
       r"continue reading below(?: advertisement)?",
       r"(?:advertisement|anzeige)\W*(?:continue reading below|scroll to continue(?: with content)?|skip advertisement|weiterlesen nach der anzeige|lesen sie weiter)",
       r"scroll to continue with content", r"skip advertisement", r"continue reading the main story", r"weiterlesen nach der anzeige", r"anzeigen von google",
       r"artikel wird nach der anzeige fortgesetzt", r"annonces google", r"la suite après (?:cette )?(?:la )?publicité",
       r"l.article continue après la publicité", r"el artículo continúa (?:después|tras) (?:la|el) (?:publicidad|anuncio)",
       r"l.articolo continua dopo la pubblicità", r"het artikel gaat verder na de advertentie")
# Tier 2: label words.  Whole text of a block, they are a label; but an
# article about advertising may list them (a list item, a table cell, a
# heading), so those elements are left alone.
LAB = j(r"advertisements?", r"advertorial", r"anzeige", r"publicit(?:é|e)s?", r"publicidad", r"publicidade",
        r"pubblicit(?:à|a)", r"advertentie", r"advertenties", r"reklama", r"reklamy", r"annons", r"annonse", r"mainos",
        r"hirdetés", r"inzerce", r"oglas", r"διαφήμιση", r"реклама", r"iklan", r"quảng cáo", r"広告", r"广告", r"廣告", r"광고", r"إعلان", r"פרסומת", r"تبلیغات",
        r"โฆษณา", r"विज्ञापन", r"publicitate", r"publicitat", r"reklāma", r"reklaam", r"reklamă",
        r"sponsored", r"sponsored (?:by|content|stories|story|posts?|articles?|results?|listings?)", r"ad content",
        r"gesponsert", r"gesponsord", r"sponsoris(?:é|e)", r"sponsorizzato", r"patrocinado",
        r"promoted (?:content|story|posts?)", r"paid (?:content|post|partnership|promotion)", r"paid (?:partner|sponsor) content",
        r"paid for by", r"sponsored content by",
        r"partner content", r"advertiser content")
# Tier 2 words that are never a section heading of an article (a heading
# "Advertisement" is a label; "Sponsored content" may be a section).
LAB_HEAD = j(r"advertisements?", r"anzeige", r"publicit(?:é|e)", r"publicidad", r"publicidade", r"pubblicit(?:à|a)",
             r"advertentie", r"reklama", r"реклама")
# Tier 3: words an article uses on their own (a pseudo-heading paragraph
# "Advertising"): generic containers and navigation links only.
WORD = j(r"advertising", r"adverts?", r"ads?", r"werbung", r"reklame", r"reklam", r"annonce", r"promoted",
         r"recommended by")

def ad_labels():
    out = [open(os.path.join(HERE, 'builtin', 'ad-slots.txt')).read().rstrip('\n') + '\n']
    out.append("""! The labels.  Whole-text matches: the regexes are anchored at both ends and
! only tolerate what may surround a label (white space, dashes, bullets,
! brackets, an icon-font glyph), so an element holding anything else is
! never matched.  Character classes hold no unbalanced parenthesis or
! quote, so any list parser finds the end of :has-text().
!
! Tier 1: phrases only ever printed as an ad label or an ad box's controls
! ("Story continues below advertisement", "Advertisement - scroll to
! continue", "AdChoices", "Ads by Google", "Sponsored links"...), in English
! and the common European languages: any element but h1, inline ones
! included (a "Skip advertisement" link can sit anywhere).
! Tier 2: label words ("Advertisement", "Anzeige", "Publicité", "Sponsored",
! "Sponsored by", "Paid content"...) as the whole text of a generic block or of a link or
! span directly in one.  Not list items or table cells: an article about
! advertising may list "Sponsored content" as an item; headings only for
! the plain "Advertisement" words, never a phrase an article could use as
! a section title.
! Tier 3: words an article may also set on their own line ("Advertising" as
! a pseudo-heading paragraph): only generic containers and navigation
! links ("Advertising" in a site menu).
! One rule per element kind holds the tiers that apply to it, so an element
! costs one text test, not three.
""")
    tiers = (
        (UI, ("div", "p", "li", "section", "aside", "header", "footer", "figcaption", "center", "td", "dt", "dd",
              "h2", "h3", "h4", "h5", "h6", "label", "button", "div > span", "div > a", "li > a", "span > a", "div > small",
              "div > strong", "div > b", "nav > a", "td > a", "td > span", "a", "span", "small", "strong", "b")),
        (LAB, ("div", "p", "section", "aside", "header", "footer", "figcaption", "center", "label", "div > span",
               "div > a", "li > a", "span > a", "div > small", "div > strong", "div > b", "nav > a", "span > strong")),
        (WORD, ("div", "section", "aside", "figcaption", "div > span", "li > a", "div > a", "nav > a")),
        (LAB_HEAD, ("h2", "h3", "h4", "h5", "h6")),
    )
    order, alts = [], {}
    for rx, sels in tiers:
        for sel in sels:
            if sel not in alts:
                order.append(sel)
                alts[sel] = []
            alts[sel].append(rx)
    # "div > a" needs no tier that "a" already tests on every link: that
    # text test would run twice on the same element ("td > a" holds only
    # such tiers and goes altogether)
    for sel in order:
        subject = sel.split(" ")[-1]
        if subject != sel and subject in alts:
            alts[sel] = [rx for rx in alts[sel] if rx not in alts[subject]]
    for sel in order:
        if alts[sel]:
            out.append("##%s:has-text(%s)\n" % (sel, whole("|".join(alts[sel]))))
    out.append("""!
! ---------------------------------------------------------------------------
! The box that held a label and a slot.  Once both are gone it has no text
! left (or only the label, for an engine that still counts removed text):
! an element that contains an ad slot and holds no text but a label goes.
! Not when it holds an image or a video, which may be content.
""")
    slots = ('div[id^="div-gpt-ad"], ins.adsbygoogle, div[id^="google_ads_iframe"], iframe[id^="google_ads_iframe"], '
             'div[data-ad-unit], div[data-ad-slot], div[data-google-query-id], div[id^="taboola-"], .trc_related_container, '
             '.OUTBRAIN, div[id^="outbrain_widget"], .teads-inread, amp-ad')
    # the slot's own loader call stays behind as script text, which
    # :has-text() counts: allow it
    push = r"(?:\(adsbygoogle[^;]{0,80}\.push\(\{\}\);?|googletag\.cmd\.push\([^;]{0,300}\);?\s*\}?\)?;?|\s)*+"
    empty_or_label = "/^" + push + L + "(?:" + UI + "|" + LAB + "|" + WORD + ")?" + R + push + "$/iu"
    for t in ("div", "aside", "section", "figure"):
        out.append("##%s:has(%s):not(:has(img, video)):has-text(%s)\n" % (t, slots, empty_or_label))
    out.append("""! Empty ad containers by their class or id ("ad-slot", "adWrapper",
! "advert", "sponsor", "dfp-..."): nothing but a blank, often fixed-height,
! box once the ad is blocked.  Only when they hold no text and no image.
""")
    for a in ('class^="ad-"', 'class*=" ad-"', 'class$="-ad"', 'class*="-ad "', 'class~="ad"', 'class~="ads"', 'class*="-ad-"',
              'id^="ad-"', 'id^="ad_"', 'id$="-ad"', 'id*="-ad-"', 'class^="ad_"', 'class*=" ad_"',
              'class*="advert" i', 'id*="advert" i', 'class*="adslot" i', 'class*="adunit" i', 'class*="ad-slot" i', 'class*="ad-unit" i',
              'class*="ad-container" i', 'class*="ad-wrapper" i', 'class*="adcontainer" i', 'class*="adwrapper" i', 'class*="adbox" i',
              'class*="sponsor" i', 'class*="dfp" i', 'id*="dfp" i', 'class*="gpt-ad" i', 'class*="leaderboard" i', 'class*="skyscraper" i',
              'class*="mrec" i', 'class*="prebid" i', 'class*="taboola" i', 'class*="outbrain" i', 'class*="adsense" i'):
        out.append('##div[%s]:not(:has(img, video, iframe)):has-text(/^\\s*$/)\n' % a)
    return ''.join(out)

# ------------------------------------------------------------------ donation
# A prompt box is recognised by a control only prompts have (a "remind me
# later" or "maybe later" button, "Already a member?") together with a word
# of the ask; "make a donation" or "every contribution, big or small" alone
# is what an article about a charity drive says too.
DON_DISMISS = j(
    r"remind me (?:next month|next week|later|in (?:a |one |two )?\w+)", r"maybe later", r"(?:erinnere mich|erinnern sie mich) (?:später|nächsten monat|im \w+)", r"später erinnern", r"vielleicht später", r"me le rappeler (?:plus tard|le mois prochain)", r"peut-être plus tard", r"recuérdame (?:más tarde|el próximo mes)", r"(?:quizás|tal vez) más tarde", r"ricordamelo (?:più tardi|il mese prossimo)", r"forse più tardi", r"herinner me (?:later|volgende maand)", r"misschien later", r"przypomnij mi (?:później|w przyszłym miesiącu)", r"może później", r"lembre-me mais tarde", r"talvez mais tarde",
)
# "Already a member?" sits above paywalls too, next to a teaser of the
# article: only in a small box.
DON_ALREADY = j(
    r"already an? (?:member|supporter|subscriber|patron|donor|insider)\s*\?", r"i(?:.ve| have)? already (?:donated|contributed|given|subscribed)", r"schon (?:mitglied|abonnent|unterstützer)\s*\?", r"déjà (?:abonné|membre|donateur)\s*\?", r"¿ya eres (?:socio|miembro|suscriptor)\s*\?", r"sei già (?:abbonato|socio)\s*\?", r"al (?:lid|abonnee)\s*\?", r"já é (?:assinante|membro)\s*\?",
)
DON_ASK = j(
    r"support", r"donat", r"contribut", r"member", r"subscri", r"patron", r"give", r"gift", r"fund",
    r"unterstütz", r"spende", r"mitglied", r"abo", r"soutien", r"soutenez", r"\bdon\b", r"dons\b", r"abonn", r"apoy", r"dona",
    r"suscri", r"socio", r"sostien", r"abbona", r"steun", r"doneer", r"lid\b", r"wesprzyj", r"wspar", r"darowizn", r"apoie", r"doação", r"assin",
)
# Pitches that are themselves the prompt's headline: enough in a small box.
DON_PITCH = j(
    r"join and support", r"support (?:independent|quality|fact-based|reader-funded|public[- ]interest) (?:journalism|media|news|reporting|free thinkers|voices)",
    r"support us (?:today )?(?:for|from|with) as little as", r"you have (?:\d+|one|two|three) free (?:articles?|stories|reads?) (?:left|remaining)",
    r"free (?:articles?|stories) (?:left|remaining) this month", r"subscribe (?:now )?for unlimited (?:digital )?access",
    r"unterstützen sie (?:uns|unsere arbeit|unseren journalismus|unabhängigen journalismus)", r"unterstütze (?:uns|unsere arbeit)",
    r"soutenez(?:-nous| notre (?:journalisme|rédaction|travail)| le journalisme indépendant)",
    r"apoya (?:nuestro|el) periodismo(?: independiente)?", r"apóyanos", r"sostieni (?:il nostro|il) giornalismo", r"sostienici",
    r"steun (?:ons|onze journalistiek|onafhankelijke journalistiek)", r"wesprzyj (?:nas|niezależne dziennikarstwo)", r"apoie o jornalismo",
)
def don_box_or_pitch():
    return "/^(?:(?=[\\s\\S]{0,1500}$)(?=[\\s\\S]*?(?:%s))[\\s\\S]*?(?:%s)|(?=[\\s\\S]{0,600}$)[\\s\\S]*?(?:%s))/iu" % (DON_DISMISS, DON_ASK, DON_PITCH)
PRICE = r"[$€£]\s?\d|\d(?:[.,]\d+)?\s?(?:€|\$|£|¢|eur\b|euros?\b|usd\b|cents?\b|dollars?\b)"
OFFER = j(r"subscri", r"abonn", r"\babo\b", r"suscri", r"abbona", r"assin", r"per month", r"a month", r"/\s?(?:month|mo|year|yr)\b",
          r"par mois", r"pro monat", r"im monat", r"al mes\b", r"al mese", r"sans engagement", r"free trial", r"essai gratuit", r"membership")
AS_LOW_AS = r"(?:as (?:low|little) as|ab nur|à partir de|desde solo|a partire da) (?:just |only )?(?:[$€£]\s?)?\d"
DON_CTA = j(
    r"donate", r"donate (?:now|today|here)", r"donations?", r"give now", r"contribute(?: (?:now|today))?",
    r"make a (?:contribution|donation|gift)", r"support us", r"support (?:the [\w ]{2,30}|our (?:work|journalism|reporting|mission|newsroom))",
    r"support (?:independent|quality) (?:journalism|media|news)",
    r"become an? (?:member|supporter|patron|subscriber|insider|contributor|sustaining member)",
    r"join (?:now|today|us today)", r"membership", r"member(?:ship)? benefits", r"memberships",
    r"subscribe(?: (?:now|today|here))?", r"subscriptions?", r"subscribe\W+\d+ days? free", r"subscribe for [^<>]{1,30}", r"subscriber services",
    r"manage (?:my )?subscription", r"upgrade to premium", r"start (?:your )?free trial", r"free trial",
    r"patreon", r"buy me a coffee", r"ko-?fi", r"paypal",
    r"spenden", r"jetzt spenden", r"jetzt unterstützen", r"unterstützen", r"mitglied werden", r"abonnieren", r"jetzt abonnieren", r"abo",
    r"faire un don", r"je fais un don", r"soutenez-nous", r"s.abonner", r"abonnez-vous", r"abonnement",
    r"donar", r"dona(?: ahora| ora)?", r"apóyanos", r"suscríbete", r"hazte (?:socio|miembro)",
    r"fai una donazione", r"sostienici", r"abbonati", r"doneer(?: nu)?", r"steun ons", r"word lid", r"abonneer",
    r"wesprzyj nas", r"przekaż darowiznę", r"wpłać", r"apoie", r"doe agora", r"assine",
)

DON_LI = j(r"subscribe(?: (?:now|today|here))?", r"donate (?:now|today)", r"support us",
           r"become an? (?:member|supporter|patron|subscriber)", r"make a contribution", r"jetzt spenden", r"jetzt abonnieren",
           r"abonnieren", r"s.abonner", r"abonnez-vous", r"suscríbete", r"abbonati")

# A word every DON_DISMISS, DON_ALREADY, DON_PITCH and AS_LOW_AS phrase
# holds, searched first (see CONSENT_KEY).
DON_KEY = j(r"remind me", r"maybe later", r"erinnere mich", r"erinnern sie", r"später erinnern", r"vielleicht später",
            r"me le rappeler", r"plus tard", r"recuérdame", r"más tarde", r"ricordamelo", r"più tardi", r"herinner me",
            r"misschien later", r"przypomnij", r"może później", r"lembre-me", r"mais tarde",
            r"already a", r"already d", r"already c", r"already g", r"already s", r"schon mitglied", r"schon abonnent",
            r"schon unterst", r"déjà abonn", r"déjà membre", r"déjà donateur", r"ya eres", r"sei gi", r"al lid", r"al abonnee", r"já é",
            r"join and support", r"support independent", r"support quality", r"support fact", r"support reader", r"support public",
            r"support us", r"free article", r"free stor", r"free read", r"for unlimited", r"unterstütze", r"soutenez", r"periodismo",
            r"apóyanos", r"sostieni", r"steun on", r"wesprzyj", r"apoie o",
            r"as low as", r"as little as", r"ab nur", r"partir de", r"desde solo", r"partire da")
def don_boxes(t):
    """One rule per element kind for the five kinds of prompt box (a dismiss
    control and a word of the ask, 1500 characters; "Already a member?" and
    a word of the ask, 600; a pitch, 600; a dismiss control alone, 250;
    "as low as 99c" and an offer, 400, not in forms and dialogs), so an element costs one unanchored search
    (any of the rare phrases) and one prose test, not four of each; the
    exact test runs only on the few elements that hold such a phrase."""
    rare = [DON_DISMISS, DON_ALREADY, DON_PITCH]
    exact = [holds(DON_DISMISS) + holds(DON_ASK), within(600) + holds(DON_ALREADY) + holds(DON_ASK), within(600) + holds(DON_PITCH),
             within(250) + holds(DON_DISMISS)]
    if t in ("div", "section", "aside"):
        rare.append(AS_LOW_AS)
        exact.append(within(400) + holds(AS_LOW_AS) + holds(OFFER))
    return "##%s%s%s%s%s%s\n" % (t, size(1500), has(DON_KEY), has(j(*rare)), PROSE, any_of(exact))

def donation():
    return """! Title: quell built-in rules: donation, membership and subscription prompts
! Category: donation (config "annoyances"; on by default)
!
! "Join and support ... Remind me next month": the box a page puts between
! the article and its end asking for money, and the Donate / Subscribe /
! Become a member buttons scattered over the page.  Subscription lists keep
! them (they are first-party and not ads).  An article ABOUT a charity drive
! or about donations must come through whole, so:
!  - a box is only removed when it holds a control only a prompt has (a
!    "remind me later" or "maybe later" button; "Already a member?" in a
!    smaller box) and a word of the ask, or a pitch that is itself a
!    prompt's headline ("Join and support independent free thinkers"), AND
!    its whole text is short (1500 characters, 600 for "already a member"
!    or a pitch alone) and it holds no three paragraphs in a row (prose),
!    so the element matched is never an article container;
!  - buttons and links go only when their WHOLE text is the call to action,
!    and only where navigation puts them (a button; a link directly inside
!    a list item or a container), never a link inside a paragraph.
!
! ---------------------------------------------------------------------------
! Prompt boxes (English and the common European languages), one rule per
! element kind: a dismiss control and a word of the ask (1500 characters);
! "Already a member?" and a word of the ask (600: paywalls put it under a
! teaser of the article); a pitch that is itself the prompt's headline
! ("Join and support independent free thinkers", "Soutenez-nous", 600);
! "as low as 99c" and an offer (400, block containers only); a dismiss
! control alone in a tiny box (250 characters: the words of the ask may
! have been on buttons that other rules removed first).  The size test
! comes first, then one search for any of those rare phrases, so most
! elements cost one scan; the exact test runs on the few that hold one.
""" + "".join(don_boxes(t) for t in ("div", "section", "aside", "form", "dialog")) + """!
! Prompt boxes identified by their markup: the class or id names the
! donation/membership ask.  Bounded (3000 characters, counting inline
! scripts, which :has-text() counts as uBO does), because "membership" or
! "support" in a class name can also wrap real content.
""" + "".join("##%s%s\n" % (t, size(3000)) for t in (
    'div[class*="donat" i]:not([class*="category-"]):not([class*="tag-"])', 'section[class*="donat" i]:not([class*="category-"]):not([class*="tag-"])',
    'aside[class*="donat" i]', 'div[id*="donat" i]',
    'div[class*="support-box" i]', 'section[class*="support-box" i]', 'div[class*="support-us" i]', 'section[class*="support-us" i]',
    'div[class*="supportus" i]', 'div[class*="contribution" i]:not([class*="category-"]):not([class*="tag-"])', 'section[class*="contribution" i]',
    'div[class*="membership" i]:not([class*="category-"]):not([class*="tag-"])', 'section[class*="membership" i]', 'aside[class*="membership" i]',
    'div[class*="member-cta" i]', 'div[class*="epic" i][class*="contribut" i]', 'div[id*="epic" i][class*="contribut" i]',
    'div[class*="paywall-prompt" i]', 'div[class*="subscribe-cta" i]', 'div[class*="subscription-cta" i]',
    'div[class*="subscription-ask" i]', 'div[class*="subscribe-ask" i]',
)) + """!
! Subscription offers: a box named for the subscription (class or id; not
! "subscriber", which sites use for the paywalled article body) that
! quotes a price and an offer ("Offre 100% numérique: 8€ par mois sans
! engagement"), or any small box (400 characters) selling "as low as 99¢".
""" + "".join("##%s%s%s%s\n" % (t, size(1500), has(PRICE), has(OFFER)) for t in (
    'div[class*="subscri" i]:not([class*="subscriber" i]):not([class*="category-"]):not([class*="tag-"])',
    'div[id*="subscri" i]:not([id*="subscriber" i])', 'section[class*="subscri" i]:not([class*="subscriber" i])',
    'aside[class*="subscri" i]', 'div[class*="abonn" i]:not([class*="abonnent" i])', 'div[class*="offer" i][class*="sub" i]:not([class*="subscriber" i])',
)) + """!
! Calls to action whose whole text is the ask (Donate, Subscribe, Become a
! member, Support us, Spenden, S'abonner, Abonnieren ...).  Not the dismiss
! buttons ("Maybe later"): a rule that removes an element first leaves its
! box without that text, and the box rules above look for it.
""" + "".join("##%s:has-text(%s)\n" % (t, whole(DON_CTA)) for t in (
    "button", "li > a", "div > a", "nav a", "header a", "footer a", "span > a", "li > span", "div > span.btn", "a.btn", "a.button",
)) + """!
! ... and list items that are nothing but such a call to action (imperatives
! no article lists as an item of its own).
""" + "".join("##%s:has-text(%s)\n" % (t, whole(DON_LI)) for t in ("li",)) + """!
! What is left of a prompt once its text is gone: an element named for the
! ask (subscribe, donate, membership, contribution, support-us) with no text
! and no image.
""" + "".join("##%s:not(input):not(:has(img, video)):has-text(/^\\s*$/)\n" % t for t in (
    '[class*="subscri" i]', '[id*="subscri" i]', '[class*="donat" i]', '[id*="donat" i]', '[class*="membership" i]',
    '[id*="membership" i]', '[class*="contribut" i]', '[class*="support-us" i]', '[class*="supportus" i]',
))

# ------------------------------------------------------------------ newsletter
# Any wording of a sign-up pitch: only trusted in a box that also has an
# e-mail field (an article about newsletters has no input).
NL_ANY = j(
    r"newsletter", r"nieuwsbrief", r"boletín", r"mailing list", r"inbox", r"e-?mail (?:updates|alerts|list)",
    r"(?:sign[ -]?up|subscribe|register|anmelden|abonnieren|inscri|suscr|iscriv|zapisz|assine)",
)
# Small print and confirmations that only a sign-up form prints.
NL_UI = j(
    r"by (?:signing up|subscribing|submitting your e-?mail|entering your e-?mail|clicking (?:sign up|subscribe|submit))",
    r"enter your e-?mail(?: address)?", r"thanks? (?:you )?for (?:signing up|subscribing)\b",
    r"mit (?:der|ihrer) anmeldung (?:zum newsletter )?(?:stimmen|akzeptieren|willigen)", r"en vous inscrivant,? vous acceptez",
    r"al suscribirte,? aceptas", r"iscrivendoti,? accetti", r"(?:quickly )?sign up with:? (?:facebook|google|apple|e-?mail)",
    r"i (?:understand|agree) (?:that )?i will receive", r"join [\d,.]+ (?:other )?(?:subscribers|readers)",
)
# Headlines that are themselves the nag ("Sign up for our newsletter"): in
# a small box (400 characters).
NL_PITCH = j(
    r"(?:sign up|subscribe|register) (?:now |today )?(?:for|to) our (?:[\w\-]+ ){0,3}(?:newsletters?|e-?mails?|mailing list)",
    r"get (?:our|the) (?:[\w\-]+ ){0,3}newsletter", r"newsletter (?:abonnieren|bestellen)\b", r"(?:zum|für unseren) newsletter anmelden\b",
    r"(?:inscrivez-vous|abonnez-vous) (?:à|a) (?:notre|la) newsletter", r"recevez (?:notre|la) newsletter", r"recevoir la newsletter",
    r"suscríbete a (?:nuestro|nuestra|el|la) (?:newsletter|boletín)", r"iscriviti alla (?:nostra )?newsletter",
    r"(?:schrijf je in|meld je aan) voor (?:onze|de) nieuwsbrief", r"zapisz się do (?:naszego )?newslettera", r"assine (?:a nossa|nossa) newsletter",
)
# A word every NL_UI and NL_PITCH phrase holds, searched first (see
# CONSENT_KEY): few letters start it, so PCRE2 skips most positions.  The
# newsletter and consent wording rules search the words of both (NLC_KEY,
# defined with CONSENT_KEY): one filter, so the rewriter scans a text for
# them once for both rules.
NL_KEY = j(r"by signing up", r"by subscribing", r"by submitting", r"by entering", r"by clicking", r"enter your e",
           r"for signing up", r"for subscribing", r"anmeldung", r"vous inscrivant", r"suscribirte", r"iscrivendoti", r"sign up with",
           r"will receive", r"subscribers", r"readers", r"newsletter", r"nieuwsbrief", r"bolet",
           r"for our", r"to our")
EMAIL_FIELD = 'input[type="email"], input[name*="mail" i], input[placeholder*="mail" i], input[id*="mail" i]'
NL_CTA = j(
    r"(?:sign up|subscribe|register) (?:now |today )?(?:to|for) [^<>]{0,80}", r"get [^<>]{0,60} (?:in|to|into) your inbox[^<>]{0,20}",
    r"[^<>]{0,60}(?:delivered|sent) (?:straight |directly |right )?(?:to|into) your inbox[^<>]{0,20}",
    r"newsletters?", r"my newsletters", r"newsletters? (?:&|and) alerts", r"sign up", r"sign up now", r"subscribe to (?:our |the )?newsletters?",
    r"get (?:our|the) newsletter", r"get news alerts", r"e-?mail alerts", r"e-?mail newsletters?", r"explore newsletters",
    r"newsletter abonnieren", r"newsletter anmelden", r"nieuwsbrief", r"boletín", r"recevoir la newsletter",
    r"inscrivez-vous", r"iscriviti", r"suscríbete", r"get (?:the )?(?:daily|weekly) (?:email|newsletter)",
)

def newsletter():
    return """! Title: quell built-in rules: newsletter nags and sign-up boxes
! Category: newsletter (config "annoyances"; on by default)
!
! "Get the news that matters, in your inbox" boxes, their sign-up forms with
! the "By signing up you agree to our Terms" small print, and the
! Newsletters links.  As with donation prompts, a box goes only when its
! whole text is short and it has an e-mail field and a word of the pitch,
! or a sign-up form's small print, or (in a small box) a headline that is
! the nag itself (and, for the wording tests, no three paragraphs in a row:
! prose); a link or button only when its whole text is the call to action.
! An article that mentions a newsletter keeps every word.
!
! ---------------------------------------------------------------------------
! Sign-up boxes: a box with an e-mail field, no text area (a comment form)
! and no password (a log-in form), and a word of the pitch (3000
! characters: a country list or an inline script counts as text).
""" + "".join("##%s:has(%s):not(:has(textarea, input[type=\"password\"]))%s%s\n" % (t, EMAIL_FIELD, size(3000), has(NL_ANY)) for t in ("div", "section", "aside", "form", "dialog")) + """!
! Boxes with a sign-up form's small print ("By signing up you agree to our
! Terms"), whatever the form is made of.
! ... and boxes whose headline is the nag, kept small (400 characters).
""" + "".join("##%s%s%s%s%s%s\n" % (t, size(1500), has(NLC_KEY), has(j(NL_UI, NL_PITCH)), PROSE,
                                   any_of([holds(NL_UI), within(400) + holds(NL_PITCH)])) for t in ("div", "section", "aside", "form", "dialog")) + """!
! Sign-up forms: a form with an e-mail field and no text area (a comment
! form) or password (a log-in form).
##form:has(input[type="email"], input[name*="email" i]):not(:has(textarea, input[type="password"])):has-text(/^[\\s\\S]{0,1500}$/)
!
! Boxes whose markup names them (the common plugins: Mailchimp, MC4WP,
! Jetpack subscriptions, Klaviyo, ConvertKit, Sendinblue/Brevo, MailerLite,
! and the plain "newsletter" class), bounded in size like the above (1500
! characters; 3000 for those with an e-mail field: a country list or an
! inline script counts as text).
""" + "".join("##%s:has(%s):not(:has(textarea, input[type=\"password\"]))%s\n" % (t, EMAIL_FIELD, size(3000)) for t in (
    'div[class*="newsletter" i]', 'div[id*="newsletter" i]', 'form[class*="newsletter" i]', 'form[id*="newsletter" i]',
    'section[class*="newsletter" i]', 'div[id*="subscribe" i]', 'div[class*="subscribe" i]', 'section[class*="subscription" i]',
)) + "".join("##%s%s\n" % (t, size(1500)) for t in (
    'div[class*="newsletter" i]:not([class*="category-"]):not([class*="tag-"])', 'section[class*="newsletter" i]', 'aside[class*="newsletter" i]', 'form[class*="newsletter" i]',
    'div[id*="newsletter" i]', 'section[id*="newsletter" i]', 'aside[id*="newsletter" i]', 'form[id*="newsletter" i]',
    'li[class*="newsletter" i]', 'a[class*="newsletter" i]',
    'div[class*="signup" i]:not([class*="category-"]):not([class*="tag-"])', 'div[id*="signup" i]', 'section[class*="signup" i]',
    'div[class*="sign-up" i]:not([class*="category-"]):not([class*="tag-"])', 'div[id*="sign-up" i]',
    'div[class*="email-signup" i]', 'div[class*="email-sub" i]',
    'div[class*="subscribe-form" i]', 'div[class*="subscribe-box" i]', 'div[class*="subscribe-widget" i]',
    'div[id^="mc_embed_signup"]', 'div[class*="mc4wp" i]', 'form[class*="mc4wp" i]', 'div[class*="mailchimp" i]',
    'div[class*="jetpack_subscription" i]', 'section[class*="jetpack_subscription" i]', 'div.wp-block-jetpack-subscriptions',
    'div[class*="klaviyo-form" i]', 'div[class*="convertkit" i]', 'form[class*="convertkit" i]', 'div[class*="sib-form" i]',
    'div[class*="ml-form-embed" i]', 'div[class*="mailerlite" i]', 'div[class*="optin" i]', 'section[class*="optin" i]',
    'iframe[class*="email-sub" i]', 'iframe[src*="newsletter" i]',
)) + """!
! Links and buttons whose whole text is the call to action.
""" + "".join("##%s:has-text(%s)\n" % (t, whole(NL_CTA)) for t in (
    "button", "li > a", "div > a", "nav a", "header a", "footer a", "span > a",
)) + """!
! Sign-up links named so in their markup, when short ("Join", "Sign up").
""" + "".join("##%s%s\n" % (t, size(40)) for t in (
    'a[class*="signup" i]', 'a[id*="signup" i]', 'a[class*="sign-up" i]', 'a[id*="sign-up" i]',
)) + """!
! What is left of a sign-up box once its text is gone.
""" + "".join("##%s:not(input):not(:has(img, video)):has-text(/^\\s*$/)\n" % t for t in (
    '[class*="newsletter" i]', '[id*="newsletter" i]', '[class*="signup" i]', '[id*="signup" i]', '[class*="optin" i]',
    '[class*="mailchimp" i]', '[id^="mc_embed"]', '[class*="mc4wp" i]',
))

# ------------------------------------------------------------------ consent
CMP_SELECTORS = [
    ("OneTrust (and its CookiePro brand)", ['#onetrust-consent-sdk', '#onetrust-banner-sdk', '#onetrust-pc-sdk', '.onetrust-pc-dark-filter',
        '#ot-sdk-btn-floating', '.ot-sdk-show-settings', '#optanon', '.optanon-alert-box-wrapper', '#optanon-popup-wrapper', '#optanon-popup-bg',
        '.optanon-show-settings-popup-wrapper']),
    ("Cookiebot (Cybot)", ['#CybotCookiebotDialog', '#CybotCookiebotDialogBodyUnderlay', '#CookiebotWidget', '#cookiebanner.cookiebanner']),
    ("Quantcast Choice", ['#qc-cmp2-container', '.qc-cmp2-container', '#qc-cmp2-ui', '.qc-cmp-ui-container', '#qcCmpUi', '.qc-cmp-showing']),
    ("Didomi", ['#didomi-host', '#didomi-notice', '#didomi-popup', '.didomi-popup-backdrop', '.didomi-notice-banner']),
    ("Sourcepoint", ['div[id^="sp_message_container_"]', '.sp_veil', 'div[class^="sp_message"]', 'iframe[id^="sp_message_iframe_"]']),
    ("TrustArc / TRUSTe", ['#truste-consent-track', '#truste-consent-content', '#teconsent', '#consent_blackbar', '.truste_overlay', '.truste_box_overlay',
        '.truste-banner', '#trustarc-banner-overlay', 'div.truste', '#truste-show-consent']),
    ("Usercentrics", ['#usercentrics-root', '#usercentrics-cmp-ui', '#uc-banner-modal', '#uc-center-container', '.uc-banner', '#uc-privacy-button',
        '#uc-main-banner', '#uc-banner-centered', 'aside#usercentrics-cmp-ui']),
    ("Borlabs Cookie", ['#BorlabsCookieBox', '#BorlabsCookieBoxWrap', '#BorlabsCookieWidget', '._brlbs-bg-animation', '.borlabs-cookie-preference',
        'a[href="#borlabs-cookie-preference"]', 'div.BorlabsCookie', '._brlbs-block-content', '#borlabs-cookie-box',
        'div.borlabs-hide[data-borlabs-cookie-type]', '.brlbs-cmpnt-dialog', '.brlbs-cmpnt-container.brlbs-cmpnt-dialog-box', '#BorlabsCookieBoxWidget']),
    ("CookieYes / GDPR Cookie Consent (Cookie Law Info)", ['#cookie-law-info-bar', '#cookie-law-info-again', '.cli-modal', '.cli-modal-backdrop', '#cliSettingsPopup',
        '.cky-consent-container', '.cky-overlay', '.cky-modal', '.cky-btn-revisit-wrapper', '.cky-preference-center', '.wt-cli-cookie-bar-container']),
    ("Complianz", ['#cmplz-cookiebanner-container', '.cmplz-cookiebanner', '#cmplz-manage-consent', '.cmplz-manage-consent', '.cmplz-soft-cookiewall',
        '#cmplz-manage-consent-container', '.cmplz-documents']),
    ("Cookie Notice (dFactory)", ['#cookie-notice', '.cn-revoke-cookie', '#cn-notice-text', '.cookie-notice-container', '#cookie-notice-consent']),
    ("Osano and the open-source cookieconsent", ['.osano-cm-window', '.osano-cm-dialog', '.osano-cm-widget', '.cc-window', '.cc-banner', '.cc-revoke', '.cc-grower',
        '.cc_banner-wrapper', '.cc_container']),
    ("Jetpack EU cookie law widget", ['#eu-cookie-law', '.widget_eu_cookie_law_widget', '.eu-cookie-law-widget']),
    ("Moove GDPR Cookie Compliance", ['#moove_gdpr_cookie_info_bar', '#moove_gdpr_cookie_modal', '#moove_gdpr_save_popup_settings_button', '.moove-gdpr-info-bar-container',
        '.gdpr_lightbox', '.gdpr-infobar-reject-btn']),
    ("iubenda", ['#iubenda-cs-banner', '.iubenda-cs-container', '#iubenda-iframe', '.iubenda-tp-btn', '.iub-cs-container']),
    ("Klaro", ['#klaro', '.klaro .cookie-notice', '.klaro .cookie-modal', '.klaro']),
    ("tarteaucitron", ['#tarteaucitronRoot', '#tarteaucitronAlertBig', '#tarteaucitronAlertSmall']),
    ("HubSpot cookie banner", ['#hs-eu-cookie-confirmation']),
    ("Sirdata, Commanders Act (TrustCommander), Piwik PRO, Ketch, Truendo, Clickio, AppConsent, Ensighten, Squarespace, Wix",
        ['#sd-cmp', '#popin_tc_privacy', '#footer_tc_privacy', '#privacy-iframe', '#ppms_cm_popup_overlay', '#lanyard_root',
         '#truendo_container', '#cl-consent', '#appconsent', '#ensNotifyBanner', '.sqs-cookie-banner-v2',
         'div[data-hook="consent-banner-root"]']),
    ("cookie-script, CookieFirst, Termly, Axeptio, Cookie Information, consentmanager, Google Funding Choices, Evidon, Ezoic, LiveRamp, Civic, Shopify, GDPR Cookie Compliance, Real Cookie Banner, WP GDPR Compliance, CookieHub, Iubenda's, Admiral",
        ['#cookiescript_injected', '#cookiescript_injected_wrapper', '.cookiefirst-root', 'div[class*="termly-styles-root"]', '#termly-code-snippet-support',
         '#axeptio_overlay', '.axeptio_widget', '#axeptio_main_button', '#coiOverlay', '#coi-banner-wrapper', '#cmpbox', '#cmpbox2', '.cmpboxBG', '#cmpwrapper',
         '.fc-consent-root', '.fc-dialog-overlay', '#_evidon_banner', '#_evidon-barrier-wrapper', '.evidon-banner', '.evidon-barrier', '#evidon-prefdiag-overlay',
         '#ez-cookie-dialog-wrapper', '#ccc', '#ccc-overlay', '#ccc-notify', '#shopify-pc__banner', '.gdpr-cookie-notice', '.rcb-banner', '.wpgdprc-consent-bar',
         '#gdpr-cookie-consent-bar', '.ch2-container', '#ch2-dialog', '#gdpr-consent-tool-wrapper', '#consent-banner', '#cookie-banner', '#cookieBanner',
         '#cookie-consent', '#cookieConsent', '#cookie-consent-banner', '#cookie_consent', '#cookies-consent', '#cookieconsent', '.cookieconsent',
         '#cookie-bar', '#cookiebar', '.cookie-bar', '#cookie-notice-bar', '#cookie-law', '#cookie-law-banner', '#cookie-popup', '.cookie-popup', '#cookies-banner',
         '.cookie-banner', '.cookies-banner', '.cookie-consent', '.cookie-consent-banner', '.cookie-disclaimer', '#cookie-disclaimer', '#gdpr-banner',
         '.gdpr-banner', '#gdpr-consent', '#cookie-box', '.cookie-box', '#cookiewarning', '.cookiewarning', '#cookie-warning', '.cookie-warning',
         '#cookieNotice', '.cookieNotice', '#cookie-info', '.cookie-info-bar', '#sliding-popup', '.eu-cookie-compliance-banner', '#cookies-eu-banner',
         '.js-cookie-consent', '#catapult-cookie-bar', '#cookie-law-info', '.cookie-overlay', '#privacy-banner', '.privacy-banner', '#cookie-preferences',
         '.cookie-preference', '.cookie-preferences', '.sp-dsgvo', '.sp-dsgvo-popup-overlay', '.dsgvo-banner', '#dsgvo-banner', '#dsgvo-cookie-banner',
         '.__youtube_prefs_gdpr__ .__youtube_prefs_gdpr_consent', 'div.__youtube_prefs_gdpr__', '.wpgdprc-checkbox']),
]
CMP_HOSTS = [
    ("OneTrust / CookiePro", ["cookielaw.org", "onetrust.com", "cookiepro.com", "optanon.blob.core.windows.net"]),
    ("Cookiebot", ["cookiebot.com", "cookiebot.eu"]),
    ("Quantcast Choice", ["quantcast.mgr.consensu.org", "cmp.quantcast.com"]),
    ("Didomi", ["sdk.privacy-center.org", "api.privacy-center.org"]),
    ("Sourcepoint", ["privacy-mgmt.com", "sp-prod.net", "sourcepoint.mgr.consensu.org"]),
    ("TrustArc", ["consent.trustarc.com", "consent-pref.trustarc.com", "consent.truste.com"]),
    ("Usercentrics", ["app.usercentrics.eu", "privacy-proxy.usercentrics.eu", "api.usercentrics.eu", "web.cmp.usercentrics.eu"]),
    ("CookieYes", ["cdn-cookieyes.com", "app.cookieyes.com"]),
    ("Osano", ["cmp.osano.com"]),
    ("iubenda", ["cdn.iubenda.com", "cs.iubenda.com"]),
    ("Sirdata, Commanders Act, Ketch, Truendo, Clickio, AppConsent", ["consentframework.com", "cdn.trustcommander.net", "global.ketchcdn.com",
        "cdn.priv.center", "clickiocmp.com", "cdn.appconsent.io"]),
    ("cookie-script, CookieFirst, Termly, Axeptio, Cookie Information, consentmanager, Google Funding Choices, Evidon, CookieHub, Civic",
        ["cdn.cookie-script.com", "consent.cookiefirst.com", "app.termly.io", "static.axept.io", "policy.app.cookieinformation.com",
         "consentmanager.net", "consensu.org", "fundingchoicesmessages.google.com", "evidon.com", "cookiehub.net", "cc.cdn.civiccomputing.com"]),
]
# A banner says that the site uses cookies (or the like) AND offers a
# choice; both must be in the box.  "We place cookies on the sheet" or
# "store the cookies in a tin" is baking, not consent.
CONSENT_SAYS = j(
    *(subj + r"(?: and (?:our|selected|our \w+) (?:\w+ )?partners)? (?:uses?|are using|is using) (?:\w+ ){0,2}cookies(?: and (?:similar|other) (?:technologies|tools))? (?:to|so|in order to)\b"
      for subj in (r"we", r"this (?:web)?site", r"our (?:web)?site", r"this page", r"the site")),
    r"(?:this (?:web)?site|our (?:web)?site|the site) uses cookies", r"(?:tracking|similar) technologies",
    r"(?:use|usage) of cookies", r"accept (?:all )?cookies", r"cookie (?:policy|notice|consent|statement|banner|declaration)",
    r"(?:store|access) (?:and/or access )?information on (?:a|your) device", r"personali[sz]ed (?:ads|advertising)(?: and content)?",
    r"legitimate interests?", r"(?:current|your) cookie (?:settings|preferences)", r"enable (?:all )?cookies", r"(?:allow|accept) (?:all )?cookies to (?:view|see|display|load)",
    r"(?:verwendet|verwenden|nutzt|nutzen|setzt|setzen|benutzt|benutzen) (?:\w+ ){0,3}cookies", r"cookie-?(?:richtlinie|hinweis|erklärung)",
    r"datenschutz-?einstellungen", r"(?:utilise|utilisons|utilisent) (?:des |les )?(?:cookies|traceurs)", r"gestion des cookies",
    r"(?:utiliza|utilizamos|usamos|usa|utilizan) (?:\w+ )?cookies", r"(?:utilizza|utilizziamo|usa|usiamo) (?:\w+ )?cookie",
    r"(?:gebruikt|gebruiken|maakt gebruik van) (?:\w+ )?cookies", r"używa(?:my)? (?:plików )?cookies", r"(?:använder|bruger|bruker) (?:\w+ )?cookies",
    r"používá(?:me)? (?:soubory )?cookies?", r"sütiket használ", r"käyttää evästeitä", r"käytämme evästeitä", r"bruker informasjonskapsler",
    r"folose(?:ș|ş|s)te (?:module )?cookie", r"χρησιμοποιε(?:ί|ι|ούμε) cookies", r"çerez(?:ler)? kullan", r"использует (?:файлы )?cookie",
    r"utiliza(?:mos)? (?:\w+ )?cookies", r"usa(?:mos)? cookies",
)
# ... and offers a choice or points to the policy: the wording of consent
# buttons and links.  The statement above is strict ("we use cookies to",
# "this site uses cookies"), so this may be broad; not "allow" or
# "settings" alone, which a recipe uses ("allow the dough to rest").
CONSENT_CHOICE = j(
    r"accept(?:ing)? (?:all|cookies|and (?:close|continue))", r"i accept", r"i agree", r"agree and (?:close|continue|proceed)",
    r"allow (?:all|cookies|selection)", r"reject (?:all|cookies|non-essential)", r"decline (?:all|cookies|optional)",
    r"\baccept\b", r"\bok\b", r"\bagree\b", r"dismiss", r"learn more", r"more info(?:rmation)?", r"(?:privacy|cookie) (?:policy|notice)",
    r"datenschutzerklärung", r"mehr erfahren", r"en savoir plus", r"más información", r"maggiori informazioni", r"meer informatie",
    r"find out more", r"read more", r"\bclose\b", r"\bcontinue\b", r"understood", r"verstanden", r"schließen", r"fermer", r"cerrar",
    r"chiudi", r"sluiten", r"mehr infos?", r"weitere informationen",
    r"přijmout", r"souhlasím", r"elfogad", r"hyväksy", r"accept(?:ă|a)", r"αποδοχή", r"kabul", r"принять", r"согласен",
    r"got it", r"(?:manage|customi[sz]e|adjust) (?:my |your )?(?:preferences|settings|cookies|consent|choices|options)",
    r"(?:cookie|privacy|consent) (?:settings|preferences)", r"only (?:necessary|essential|required)", r"necessary cookies",
    r"akzeptieren", r"zustimmen", r"ablehnen", r"einverstanden", r"nur (?:notwendige|essenzielle|erforderliche)", r"einstellungen",
    r"tout accepter", r"tout refuser", r"j.accepte", r"accepter", r"refuser", r"continuer sans accepter", r"personnaliser", r"paramétrer",
    r"aceptar", r"rechazar", r"acepto", r"configurar", r"accetta", r"accetto", r"rifiuta", r"accepteren", r"weigeren", r"akkoord",
    r"akceptuj", r"odrzuć", r"zgadzam się", r"godkänn", r"acceptera", r"avvisa", r"afvis", r"godta", r"aceitar", r"rejeitar",
)
# A word every CONSENT_SAYS phrase holds: searched first, it turns most
# elements away at a few literal tests per position, where CONSENT_SAYS
# would try its phrases ("we ...", "this site ...") at almost every one.
CONSENT_KEY = j(r"cooki", r"tracking technolog", r"similar technolog", r"information on", r"personalised ad", r"personalized ad",
                r"legitimate interest", r"datenschutz-e", r"datenschutze", r"traceurs", r"sütiket", r"evästeitä",
                r"informasjonskaps", r"çerez")
# The first test of the newsletter and consent wording rules (see NL_KEY):
# at most 64 words, the rewriter's word filter holds no more.
NLC_KEY = j(NL_KEY, CONSENT_KEY)
def consent_box(n):
    return "/^(?=[\\s\\S]{0,%d}$)(?=[\\s\\S]*?(?:%s))[\\s\\S]*?(?:%s)/iu" % (n, CONSENT_SAYS, CONSENT_CHOICE)
CONSENT_CTA = j(
    r"cookie[- ]?(?:settings|preferences|policy settings|einstellungen|richtlinie|consent|banner|choices)", r"(?:change |manage |update )?(?:privacy|consent) (?:settings|preferences|choices|options)",
    r"manage (?:cookies|consent|my cookies|cookie preferences)", r"manage (?:my |your )?(?:preferences|options|choices)",
    r"(?:privacy|consent) (?:preferences|choices)", r"your privacy choices", r"privacy (?:manager|center|centre)", r"datenschutz-?einstellungen", r"privatsphäre-?einstellungen",
    r"(?:cookie-?)?einstellungen (?:ändern|anpassen|verwalten)", r"zustimmung (?:ändern|verwalten|widerrufen)", r"einwilligung (?:ändern|widerrufen|verwalten)",
    r"paramètres des cookies", r"gérer (?:les |mes )?cookies", r"préférences (?:de |des )?cookies", r"configuración de cookies", r"impostazioni (?:dei )?cookie",
    r"cookie-?instellingen", r"ustawienia (?:plików )?cookies", r"revoke (?:cookie )?consent",
    r"how we use cookies", r"(?:our )?use of cookies", r"(?:our )?cookie (?:policy|notice|statement|declaration)(?: \((?:eu|us|uk)\))?",
    r"cookie-?(?:richtlinie|erklärung|hinweise?)(?: \((?:eu|us)\))?",
    r"politique (?:de |relative aux )?cookies(?: \((?:ue|eu)\))?", r"política de cookies(?: \((?:ue|eu)\))?",
    r"(?:customi[sz]e|change|update|edit|open) (?:your |my )?(?:cookie|privacy|consent) (?:settings|preferences|choices)",
    r"do not sell (?:or share )?my (?:personal )?info(?:rmation)?", r"(?:gdpr|dsgvo|rgpd|ccpa)(?: (?:commitment|compliance|data protection policy|privacy policy|policy|rights|requests?))?",
)

# Scroll locks, by consent manager: the class its script sets while the
# dialog is open, and where.  Only manager-specific names: Bootstrap's
# "modal-open" is every site's own dialogs too.
UNLOCK = [
    ("Sourcepoint (html.sp-message-open, removed by its message script on sp.hideMessage)",
     ["html.sp-message-open", "body.sp-message-open"]),
    ("Didomi (popup open; -ios: position: fixed)", ["body.didomi-popup-open", "html.didomi-popup-open", "body.didomi-popup-open-ios"]),
    ("OneTrust (preference center open)", ["body.ot-overflow-hidden", "html.ot-overflow-hidden"]),
    ("Quantcast Choice (v1 UI shown)", ["body.qc-cmp-ui-showing"]),
    ("Usercentrics", ["body.uc-overflow-hidden"]),
    ("Piano / Tinypass modal (consent and paywall dialogs)", ["body.tp-modal-open", "html.tp-modal-open"]),
]
UNLOCK_DECLS = "overflow-y: auto !important; position: static !important; filter: none !important"

def consent():
    out = ["""! Title: quell built-in rules: cookie-consent banners
! Category: consent (config "annoyances"; on by default)
!
! The consent managers' banners, dialogs, dimming overlays and "cookie
! settings" re-open buttons.  Three layers:
!  1. the loader scripts of the common consent managers, blocked by host, so
!     a banner that a script would insert never appears (and the script
!     tags dropped from the page, "##^"), for the browser;
!  2. the containers the managers render into, by their documented ids and
!     classes (and the common generic names);
!  3. boxes without known markup, by their wording: a statement that the
!     site uses cookies AND the wording of a consent choice, both, only when
!     short (2500 characters), only block containers, never a paragraph
!     nor a box holding three paragraphs in a row (prose), so an article
!     about cookies (the baked kind) or about consent law keeps every word;
!  4. "Cookie settings" / "Do not sell my personal information" links, by
!     their whole text, and what is left of a banner once its text is gone.
!  5. the page unlocked: the classes the managers put on <html> and <body>
!     to stop scrolling (overflow: hidden, position: fixed) or to blur the
!     page under the dialog, undone by the injected style.
! Where a manager decides by a first-party cookie with a known "declined"
! value (Cookie Notice, Complianz, Cookie Law Info, cookieconsent), quell
! also sends the decline (filters/consent.c, config "consent_decline"); no
! list syntax sets a cookie, so these rules hide what is left everywhere.
!
! ---------------------------------------------------------------------------
! 1. Loader scripts, by host.
"""]
    for name, hosts in CMP_HOSTS:
        out.append("! %s\n" % name)
        for h in hosts:
            out.append("||%s^$third-party\n" % h)
    out.append("! ... and their script tags, so the page does not ask for them at all\n")
    for name, hosts in CMP_HOSTS:
        for h in hosts:
            out.append('##^script[src*="%s"]\n' % h)
    out.append("""!
! ---------------------------------------------------------------------------
! 2. Containers, by consent manager.
""")
    for name, sels in CMP_SELECTORS:
        out.append("! %s\n" % name)
        for s in sels:
            out.append("##%s\n" % s)
    out.append("""!
! Generic cookie/consent/GDPR containers by id or class, with the same
! wording test as in 3. and bounded to 2500 characters of text: a recipe
! site's "category-cookies" article or a "comment-form-cookies-consent"
! line carries the same class words.
""")
    for t in ('div', 'section', 'aside', 'dialog', 'form'):
        for a in ('id', 'class'):
            for w in ('cookie', 'consent', 'gdpr', 'dsgvo', 'cmp-'):
                out.append('##%s[%s*="%s" i]%s%s%s%s\n' % (t, a, w, size(2500), has(NLC_KEY), has(CONSENT_SAYS), has(CONSENT_CHOICE)))
    out.append("""!
! 3. Banners without known markup, by their wording, bounded in size.
""")
    for t in ('div', 'section', 'aside', 'dialog', 'form'):
        out.append("##%s%s%s%s%s%s\n" % (t, size(2500), has(NLC_KEY), PROSE, has(CONSENT_SAYS), has(CONSENT_CHOICE)))
    out.append("""!
! "Cookie settings" / "Privacy settings" re-open links and buttons, by their
! whole text.
""")
    for t in ("button", "a", "li", "span[role=\"button\"]", "div[role=\"button\"]"):
        out.append("##%s:has-text(%s)\n" % (t, whole(CONSENT_CTA)))
    out.append("""!
! What is left of a banner once its text is gone.  Not a script: an empty
! <script id="cookie-notice-front-js" src="..."> is the manager's own code,
! which keeps a declined choice (see 5.) and the "click to load" buttons of
! the embeds it blocks working.
""")
    for t in ('[class*="cookie" i]', '[id*="cookie" i]', '[class*="consent" i]', '[id*="consent" i]', '[class*="gdpr" i]', '[id*="gdpr" i]',
              '[class*="borlabs" i]', '[class*="brlbs" i]', '[class*="cmplz" i]', '[class*="onetrust" i]', '[class*="optanon" i]'):
        out.append("##%s:not(input):not(script):not(:has(img, video, iframe)):has-text(/^\\s*$/)\n" % t)
    out.append("""!
! ---------------------------------------------------------------------------
! 5. The page unlocked.  A manager's script puts a class on <html> or <body>
! while its dialog is open and its style sheet locks the page with it
! (overflow: hidden, position: fixed, a blur); with the dialog gone the
! class stays and the page cannot scroll.  These :style() rules undo the
! lock.  Generic :style() rules ride along with the style quell injects
! for the page's other rules, or come when their class is in the page (the
! class mostly appears at run time, after quell has seen the page); they
! never remove anything.  ":not(#quell)" only raises their specificity above the
! manager's own "html.x { overflow: hidden !important }", which would win
! a tie by coming later (its sheet is added by script).  All share one set
! of declarations, so the page's style holds them as one rule.
""")
    for name, sels in UNLOCK:
        out.append("! %s\n" % name)
        for sel in sels:
            out.append("##%s:not(#quell):style(%s)\n" % (sel, UNLOCK_DECLS))
    return ''.join(out)

def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, fn in (("ad-labels", ad_labels), ("donation", donation), ("newsletter", newsletter), ("consent", consent)):
        path = os.path.join(OUT, name + ".txt")
        text = fn()
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("not what tools/gen-builtin.py writes: " + " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
