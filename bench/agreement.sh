#!/usr/bin/env bash
# bench/agreement.sh: quell's block/allow verdicts against uBlock Origin's
# own engine (@gorhill/ubo-core, npm) on the real request set, for
# EasyList+EasyPrivacy and for all five lists; prints the agreement and
# every request decided differently (uBO's verdict, quell's verdict and
# rule, type, page, URL).
#
# UBO_DIR (default /tmp/quell-ubo) receives `npm install @gorhill/ubo-core`.
# UBO_PREPARSE: the "!#if" environment uBO's preparser resolves the lists
# with before useLists() (which keeps every block).  Default: quell's own
# (uBO on Firefox minus env_firefox, since quell is a proxy); set it to
# "ublock firefox html_filtering user_stylesheet ipaddress" for uBO on
# Firefox, or to "" to give uBO the raw lists.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUELL="${QUELL:-$ROOT/quell}"
UBO_DIR="${UBO_DIR:-/tmp/quell-ubo}"
export UBO_PREPARSE="${UBO_PREPARSE-ublock html_filtering user_stylesheet ipaddress}"
A="/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/uBlock0@raymondhill.net/assets"
EL="$A/thirdparties/easylist/easylist.txt"; EP="$A/thirdparties/easylist/easyprivacy.txt"
ALL5="$EL $EP $A/ublock/filters.min.txt $A/ublock/privacy.min.txt $A/ublock/badware.min.txt"
PSL="$A/thirdparties/publicsuffix.org/list/effective_tld_names.dat"
[ -x "$QUELL" ] || make -C "$ROOT" quell
mkdir -p "$UBO_DIR"
if [ ! -d "$UBO_DIR/node_modules/@gorhill/ubo-core" ]; then
  (cd "$UBO_DIR" && { [ -f package.json ] || npm init -y > /dev/null; } &&
   npm install --no-audit --no-fund @gorhill/ubo-core@0.1.30 > /dev/null)
fi
cp "$ROOT/bench/ubo-verdicts.mjs" "$UBO_DIR/"
REQ="$UBO_DIR/requests.tsv"
zcat "$ROOT/tests/data/lists/requests-dev.tsv.gz" > "$REQ"

for set in el+ep all5; do
  if [ "$set" = el+ep ]; then lists="$EL $EP"; else lists="$ALL5"; fi
  (cd "$UBO_DIR" && node ubo-verdicts.mjs "$REQ" "$PSL" $lists) > "$UBO_DIR/ubo-$set.txt"
  "$QUELL" check --batch --lists "$(echo $lists | tr ' ' ',')" < "$REQ" > "$UBO_DIR/quell-$set.txt"
  echo "== $set (uBO preparser env: ${UBO_PREPARSE:-none})"
  paste "$UBO_DIR/ubo-$set.txt" "$UBO_DIR/quell-$set.txt" "$REQ" | awk -F'\t' '
    { u = ($1 == 1); q = ($2 == "block" || $2 == "redirect"); n++; ub += u; qb += q
      if (u != q) { d++; printf "  differs: ubo=%s quell=%s %s | %s | page %s | %s\n", $1, $2, $3, $5, $6, $4 } }
    END { printf "  %d requests, uBO blocks %d, quell blocks %d, %d differ: agreement %.3f %%\n", n, ub, qb, d, 100 * (n - d) / n }'
done
