#!/bin/sh
# bench/rewrite.sh: HTML rewriting throughput, quell beside lol-html.
#
#   bench/rewrite.sh            (from the project root, after `make quell`)
#
# Pages: real saved pages of ../shared/corpus (the ones the lol-html harness
# uses), each repeated to at least 1 MB as that harness does.  For each page
# `quell filter --bench N` times, in-process and after the lists are
# compiled, N runs of:
#   tokenizer   the tokenizer alone (no rules)
#   rewrite     the whole rewriter with, in turn:
#                 none      no rules at all (bytes pass through untouched)
#                 generic   EasyList's generic "##" selectors only (13,685)
#                 easylist  all of EasyList (generic + the page domain's rules)
#                 full      EasyList + quell's built-in rules (what quell runs)
# 16 KiB chunks, median of N, in CPU time of the thread (steady on a shared
# machine; "none" passes bytes through untouched, so it measures nothing).
# Then the rewriter's fixed cost on the proxy benchmark's 120 KB page
# (made by ../shared/bench/peers/lib/gen_content.py): one rule that matches
# nothing (every element still goes through the tree and the index) and
# quell's built-in rules alone (what `list none` runs), in us per page.  lol-html (npm html-rewriter-wasm, through
# ../shared/bench/engines/src/bench-html.mjs) runs on the same pages when
# its node_modules are installed ($BENCH_WORK, default /tmp/nodepeers, set
# up by ../shared/bench/engines/setup.sh); otherwise its numbers measured
# when the harness was made are printed from results-summary.md.
#
# Environment: QUELL (binary, default ./quell), RUNS (default 15),
# EASYLIST (path; default: the copy Debian's webext-ublock-origin ships),
# SHARED (default ../shared), BENCH_WORK.
set -u
QUELL=${QUELL:-./quell}
RUNS=${RUNS:-15}
SHARED=${SHARED:-../shared}
BENCH_WORK=${BENCH_WORK:-/tmp/nodepeers}
EASYLIST=${EASYLIST:-$(ls /usr/share/mozilla/extensions/*/uBlock0@raymondhill.net/assets/thirdparties/easylist/easylist.txt 2>/dev/null | head -1)}
CORPUS="$SHARED/corpus/readability"

if [ ! -d "$CORPUS" ]; then
  echo "rewrite: $CORPUS not found (../shared absent): skipped"; exit 0
fi
if [ ! -x "$QUELL" ]; then
  echo "rewrite: $QUELL not built (make quell)"; exit 1
fi
if [ -z "$EASYLIST" ] || [ ! -r "$EASYLIST" ]; then
  echo "rewrite: EasyList not found (set EASYLIST=path)"; exit 1
fi

TMP=$(mktemp -d /tmp/quell-rewrite.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
grep '^##' "$EASYLIST" > "$TMP/generic.txt"

# page name, URL (for the domain's rules)
PAGES="guardian-1 https://www.theguardian.com/business/2015/jul/30/a-message-to-the-guardian
yahoo-2 https://www.yahoo.com/tech/s/
wapo-1 https://www.washingtonpost.com/world/
bbc-1 http://www.bbc.com/news/world-us-canada-33646704"

# Repeats a page to >= 1 MB, as bench-html.mjs does.
make_page() {
  out="$TMP/$1.html"; : > "$out"
  while [ "$(wc -c < "$out")" -lt 1000000 ]; do cat "$CORPUS/$1/source.html" >> "$out"; done
  echo "$out"
}

printf '%-12s %9s  %-9s %11s %11s %8s\n' page bytes rules tokenizer rewrite removed
echo "$PAGES" | while read -r name url; do
  [ -r "$CORPUS/$name/source.html" ] || continue
  page=$(make_page "$name")
  for mode in none generic easylist full; do
    case $mode in
      none)     args="--lists none --no-builtin" ;;
      generic)  args="--lists $TMP/generic.txt --no-builtin" ;;
      easylist) args="--lists $EASYLIST --no-builtin" ;;
      full)     args="--lists $EASYLIST" ;;
    esac
    # shellcheck disable=SC2086
    line=$("$QUELL" filter --url "$url" $args --bench "$RUNS" "$page" 2>&1 | grep '^bench:')
    tok=$(echo "$line" | sed -n 's/.*tokenizer \([0-9.]*\) MB\/s.*/\1/p')
    rw=$(echo "$line" | sed -n 's/.*rewrite \([0-9.]*\) MB\/s.*/\1/p')
    rm_=$(echo "$line" | sed -n 's/.*, \([0-9]*\) removed.*/\1/p')
    printf '%-12s %9s  %-9s %7s MB/s %7s MB/s %8s\n' "$name" "$(wc -c < "$page")" "$mode" "$tok" "$rw" "$rm_"
  done
done

GEN="$SHARED/bench/peers/lib/gen_content.py"
if [ -r "$GEN" ] && python3 "$GEN" "$TMP/www" >/dev/null 2>&1; then
  echo
  echo "proxy benchmark page ($(wc -c < "$TMP/www/page.html") bytes), us of CPU per page (median of $((RUNS * 20)) runs):"
  echo '##.nothing-matches-this' > "$TMP/one.txt"
  for mode in one-rule builtin; do
    case $mode in
      one-rule) args="--lists $TMP/one.txt --no-builtin" ;;
      builtin)  args="--lists none" ;;
    esac
    # shellcheck disable=SC2086
    ms=$("$QUELL" filter --url http://example.com/ $args --bench $((RUNS * 20)) "$TMP/www/page.html" 2>&1 |
         sed -n 's/.*rewrite [0-9.]* MB\/s (\([0-9.]*\) ms).*/\1/p')
    printf '  %-9s %6s us\n' "$mode" "$(echo "$ms" | awk '{ printf "%.0f", $1 * 1000 }')"
  done
  rm -f "$TMP/www/big.bin"
fi

echo
HARNESS="$SHARED/bench/engines/src/bench-html.mjs"
if command -v node >/dev/null 2>&1 && [ -d "$BENCH_WORK/node_modules/html-rewriter-wasm" ] && [ -r "$HARNESS" ]; then
  echo "lol-html (html-rewriter-wasm), same pages:"
  mkdir -p "$BENCH_WORK/harness" && cp "$SHARED"/bench/engines/src/*.mjs "$BENCH_WORK/harness/"
  pages=$(echo "$PAGES" | while read -r name url; do printf '%s,' "$TMP/$name.html"; done | sed 's/,$//')
  (cd "$BENCH_WORK/harness" && node bench-html.mjs --pages "$pages" --selectors 200 --iterations 5 --all-generic) \
    | sed -n 's/.*"page":"\([^"]*\)".*"mode":"\([^"]*\)".*"mb_per_s":\([0-9.]*\).*/  \1  \2  \3 MB\/s/p'
else
  echo "lol-html: harness not installed (bash $SHARED/bench/engines/setup.sh); numbers measured when it was made:"
  sed -n '/^## html-rewriter-wasm/,/^## /p' "$SHARED/bench/engines/results-summary.md" | grep '^| html/' \
    | awk -F'|' '{ printf "  %-22s %-28s %8s MB/s\n", $2, $4, $8 }'
fi
