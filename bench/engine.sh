#!/usr/bin/env bash
# bench/engine.sh: quell's network engine measured beside uBlock Origin's
# (@gorhill/ubo-core) and Ghostery's (@ghostery/adblocker), on EasyList +
# EasyPrivacy ("el+ep") and on all five lists ("all5": + uBO filters,
# privacy, badware), with the real request set.
#
# quell's own figures (no node needed):
#   compile ms      `quell lists compile`, median of RUNS
#   snapshot bytes  the compiled file
#   load ms         `quell check --bench-protocol --snapshot` READY parse_ms
#   heap / RSS      at READY after loading the snapshot (heap = what the
#                   engine keeps; RSS adds binary and libraries)
#   per request     median / p99 / mean of quell's own ns per match, second
#                   pass over the request set (first pass is warm-up)
# Side by side: when the shared harness ($ENGINES_DIR, see its README) is
# present, it is set up in $BENCH_WORK and run with ubo:js and
# ghostery:network plus quell through the stdin/stdout protocol (compiling
# the lists, and loading a snapshot).
#
# Knobs: RUNS=3, LISTSETS="el+ep all5", QUELL=./quell, BENCH_WORK=/tmp/quell-bench,
#        ENGINES_DIR=/work/shared/bench/engines (set to "" to skip the harness).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUELL="${QUELL:-$ROOT/quell}"
RUNS="${RUNS:-3}"
LISTSETS="${LISTSETS:-el+ep all5}"
export BENCH_WORK="${BENCH_WORK:-/tmp/quell-bench}"
ENGINES_DIR="${ENGINES_DIR-/work/shared/bench/engines}"
ASSETS="/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/uBlock0@raymondhill.net/assets"
OUT="$BENCH_WORK/quell"
mkdir -p "$OUT" "$BENCH_WORK/lists/raw"
[ -x "$QUELL" ] || make -C "$ROOT" quell

# ---- inputs: lists as installed by `make deps`, the request set ----------------
if [ ! -s "$BENCH_WORK/lists/raw/easylist.txt" ]; then
  cp "$ASSETS/thirdparties/easylist/easylist.txt" "$ASSETS/thirdparties/easylist/easyprivacy.txt" \
     "$ASSETS/ublock/filters.min.txt" "$ASSETS/ublock/privacy.min.txt" "$ASSETS/ublock/badware.min.txt" \
     "$BENCH_WORK/lists/raw/"
  cp "$ASSETS/thirdparties/publicsuffix.org/list/effective_tld_names.dat" "$BENCH_WORK/lists/"
  dpkg-query -W -f '${Version}\n' webext-ublock-origin-firefox > "$BENCH_WORK/lists/VERSION" 2>/dev/null || echo "?" > "$BENCH_WORK/lists/VERSION"
fi
REQ_TSV="$OUT/requests.tsv"
[ -s "$REQ_TSV" ] || zcat "$ROOT/tests/data/lists/requests-dev.tsv.gz" > "$REQ_TSV"
REQ_NDJSON="$OUT/requests.ndjson"
[ -s "$REQ_NDJSON" ] || python3 - "$REQ_TSV" "$REQ_NDJSON" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    for line in f:
        u, t, p = line.rstrip("\n").split("\t")
        o.write(json.dumps({"url": u, "cpt": t, "frameUrl": p}) + "\n")
PY

# ---- the shared harness: setup (lists preprocessed by uBO's own preparser) ----
HARNESS=0
if [ -n "$ENGINES_DIR" ] && [ -f "$ENGINES_DIR/setup.sh" ] && command -v node >/dev/null; then
  if [ ! -d "$BENCH_WORK/node_modules" ] || [ ! -s "$BENCH_WORK/lists/easylist.txt" ]; then
    echo "== setting up $ENGINES_DIR in $BENCH_WORK"
    REQUESTS_FILE="$REQ_NDJSON" HTML_DIR="$ROOT/tests/data/html" bash "$ENGINES_DIR/setup.sh"
  fi
  HARNESS=1
fi

# the list files of a list set: preprocessed ones when the harness made them
lists_of() {
  local d="$BENCH_WORK/lists"; [ -s "$d/easylist.txt" ] || d="$BENCH_WORK/lists/raw"
  case "$1" in
    el+ep) echo "$d/easylist.txt,$d/easyprivacy.txt" ;;
    all5) echo "$d/easylist.txt,$d/easyprivacy.txt,$d/filters.min.txt,$d/privacy.min.txt,$d/badware.min.txt" ;;
  esac
}

# ---- quell alone ---------------------------------------------------------------------
# the protocol's request lines: url, frame url, WebRequest type (document ->
# sub_frame, xhr/fetch -> xmlhttprequest, texttrack/manifest -> other)
PROTO="$OUT/requests.proto"
awk -F'\t' 'BEGIN{OFS="\t"; m["document"]="sub_frame"; m["xhr"]="xmlhttprequest"; m["fetch"]="xmlhttprequest";
  m["texttrack"]="other"; m["manifest"]="other"} {t=($2 in m)?m[$2]:$2; print $1,$3,t}' "$REQ_TSV" > "$PROTO"
cat "$PROTO" "$PROTO" > "$OUT/requests.proto2"

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

TABLE="$OUT/summary.md"
{
  echo "## quell network engine ($(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo ?), lists $(cat "$BENCH_WORK/lists/VERSION"), $(wc -l < "$REQ_TSV") requests, medians of $RUNS runs)"
  echo
  echo "| lists | rules | compile ms | snapshot MB | load ms | heap MB | RSS MB | median us | p99 us | mean us | blocked |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
} > "$TABLE"
for ls in $LISTSETS; do
  L="$(lists_of "$ls")"
  SNAP="$OUT/$ls.snap"
  comp=(); load=(); heap=(); rss=(); med=(); p99=(); mean=()
  for i in $(seq 1 "$RUNS"); do
    c=$("$QUELL" lists compile --lists "$L" -o "$SNAP" | sed -n 's/.*compiled in \([0-9]*\) ms/\1/p')
    comp+=("$c")
    r=$("$QUELL" check --bench-protocol --snapshot "$SNAP" < "$OUT/requests.proto2" > "$OUT/$ls.out" && head -1 "$OUT/$ls.out")
    load+=("$(echo "$r" | field parse_ms)"); heap+=("$(echo "$r" | field heap_kb)"); rss+=("$(echo "$r" | field rss_kb)")
    n=$(wc -l < "$PROTO")
    tail -n "$n" "$OUT/$ls.out" > "$OUT/$ls.last"
    read -r m p a b < <(python3 - "$OUT/$ls.last" <<'PY'
import sys
ns, blocked = [], 0
for line in open(sys.argv[1]):
    v, t = line.split("\t")
    ns.append(int(t)); blocked += v == "1"
ns.sort()
print("%.3f %.3f %.3f %d" % (ns[len(ns) // 2] / 1e3, ns[int(len(ns) * 0.99)] / 1e3, sum(ns) / len(ns) / 1e3, blocked))
PY
)
    med+=("$m"); p99+=("$p"); mean+=("$a"); blocked="$b"
  done
  rules=$(head -1 "$OUT/$ls.out" | field rules)
  size=$(stat -c %s "$SNAP")
  printf '| %s | %s | %s | %.2f | %s | %.2f | %.1f | %s | %s | %s | %s |\n' "$ls" "$rules" \
    "$(printf '%s\n' "${comp[@]}" | median)" "$(echo "$size / 1048576" | bc -l)" \
    "$(printf '%s\n' "${load[@]}" | median)" "$(echo "$(printf '%s\n' "${heap[@]}" | median) / 1024" | bc -l)" \
    "$(echo "$(printf '%s\n' "${rss[@]}" | median) / 1024" | bc -l)" \
    "$(printf '%s\n' "${med[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" \
    "$(printf '%s\n' "${mean[@]}" | median)" "$blocked" >> "$TABLE"
done
cat "$TABLE"

# ---- side by side in the shared harness ----------------------------------------------
if [ "$HARNESS" = 1 ]; then
  echo "== harness: ubo:js, ghostery:network and quell (protocol), $LISTSETS"
  RUNS="$RUNS" LISTSETS="$LISTSETS" ENGINES="ubo:js ghostery:network" ENGINES_ALL5="ubo:js ghostery:network" \
    SKIP_HTML=1 EXTRA_NAME=quell EXTRA_CMD="$QUELL check --bench-protocol {lists}" \
    bash "$ENGINES_DIR/run-all.sh"
  cd "$BENCH_WORK/harness"
  for ls in $LISTSETS; do
    echo "== harness: quell from its snapshot, $ls"
    node bench-external.mjs --name quell-snapshot --cmd "$QUELL check --bench-protocol --snapshot $OUT/$ls.snap" --lists "$ls"
  done
  node summarize.mjs > /dev/null
  cat "$BENCH_WORK/results/summary.md"
fi
