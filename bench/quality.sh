#!/bin/sh
# bench/quality.sh: what `quell filter` keeps and removes on the shared
# corpus of real pages (../shared/corpus/quality.py; see its README).
#
#   bench/quality.sh            (from the project root, after `make quell`)
#
# Runs with EasyList + EasyPrivacy (Debian's webext-ublock-origin copies,
# or EASYLIST / EASYPRIVACY) and quell's built-in rules, prints quality.py's
# summary, and fails when the article is not preserved: article_preserved
# mean >= 0.995 and >= 0.98 on every Readability page.  Skipped (exit 0)
# when ../shared is absent.
#
# Environment: QUELL (default ./quell), SHARED (default ../shared),
# EASYLIST, EASYPRIVACY, OUT (keep filtered pages and quality.json there).
set -u
QUELL=${QUELL:-./quell}
SHARED=${SHARED:-../shared}
LISTDIR=$(ls -d /usr/share/mozilla/extensions/*/uBlock0@raymondhill.net/assets/thirdparties/easylist 2>/dev/null | head -1)
EASYLIST=${EASYLIST:-$LISTDIR/easylist.txt}
EASYPRIVACY=${EASYPRIVACY:-$LISTDIR/easyprivacy.txt}

if [ ! -r "$SHARED/corpus/quality.py" ]; then
  echo "quality: $SHARED/corpus not found (../shared absent): skipped"; exit 0
fi
if [ ! -x "$QUELL" ]; then
  echo "quality: $QUELL not built (make quell)"; exit 1
fi
LISTS=$EASYLIST
[ -r "$EASYPRIVACY" ] && LISTS="$LISTS,$EASYPRIVACY"
if [ ! -r "$EASYLIST" ]; then
  echo "quality: EasyList not found (set EASYLIST=path)"; exit 1
fi

OUT=${OUT:-$(mktemp -d /tmp/quell-quality.XXXXXX)}
mkdir -p "$OUT"
# a private copy: `make` elsewhere may relink ./quell while pages run
cp "$QUELL" "$OUT/quell" || exit 1
python3 "$SHARED/corpus/quality.py" --filter "$OUT/quell filter --url {url} --lists $LISTS" \
  --out "$OUT/pages" --json "$OUT/quality.json" || exit 1
python3 - "$OUT/quality.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
pages = d["readability"]
vals = [p["article_preserved"] for p in pages]
mean = sum(vals) / len(vals)
bad = [(p["name"], p["article_preserved"]) for p in pages if p["article_preserved"] < 0.98]
print("quality: article_preserved mean %.4f min %.4f over %d pages" % (mean, min(vals), len(vals)))
for name, v in bad:
    print("quality: %s article_preserved %.4f < 0.98" % (name, v))
ok = mean >= 0.995 and not bad
print("quality: %s" % ("ok" if ok else "FAILED (need mean >= 0.995 and every page >= 0.98)"))
sys.exit(0 if ok else 1)
EOF
