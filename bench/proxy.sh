#!/usr/bin/env bash
# bench/proxy.sh: the proxy core's throughput beside tinyproxy, Privoxy and
# DIRECT, in one run of the shared peer harness (../shared/bench/peers, see
# its README): wrk through each proxy (50 connections, 10 s) for the 120 KB
# page (plain and gzip) and a 1 KB file, the 10 MiB download in MB/s, the
# proxies' RSS and CPU per request.  A benchmark, not a test: it loads both
# cores for minutes, so run it when the machine is otherwise idle.
#
# quell runs as up to three peers in the same run, so every row shares the
# run's conditions:
#   quell          the defaults: built-in rules on (the page is rewritten)
#   quell-core     `builtin off`: no rules, the proxy core alone, as
#                  tinyproxy is a proxy alone (issue 2's comparison)
#   quell-3rules   `builtin off` + bench/data/three-rules.txt: the same three
#                  removals as the Privoxy peer privoxy-ads (issue 5's
#                  "filtered page": like with like)
#
#   bench/proxy.sh                                   # all peers, ~10 minutes
#   PEERS="direct tinyproxy quell-core" DURATION=3 BIG_RUNS=2 bench/proxy.sh   # quick look
#   QUELL_CONF="workers 1" bench/proxy.sh            # extra lines (";" separated) for every quell row
#
# The harness knows one project proxy by name; this script runs it from a
# copy whose peer table also accepts "quell-*" names (one port each) and
# passes the name to the command, which picks the configuration.
#
# Targets (issue 2), as ratios to DIRECT: small >= 0.45x, page >= 0.30x,
# 10 MB >= 0.6x; idle RSS <= 4 MB; quell CPU <= 20 us per small request.
# Issue 5: <= 100 us of quell CPU per filtered 120 KB page.
# The harness's results.md has the table with ratios to DIRECT and tinyproxy;
# it is printed at the end.
#
# Internally the harness starts quell as "bench/proxy.sh --quell-peer PORT TMP NAME".
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")

if [ "${1:-}" = "--quell-peer" ]; then
	port=$2 tmp=$3 name=${4:-quell}
	case $name in
	*-core) extra="builtin off" ;;
	*-3rules) extra="builtin off;list $HERE/data/three-rules.txt" ;;
	*) extra= ;;
	esac
	d=$tmp/$name-peer
	mkdir -p "$d/state"
	install -d -m 700 "$d/ca"
	install -m 600 "$BENCH_PROXY_CA_KEY" "$d/ca/ca.key"
	install -m 644 "$BENCH_PROXY_CA_CERT" "$d/ca/ca.pem"
	base=${BASE_PORT:-18000}
	cat >"$d/quell.conf" <<CONF
listen 127.0.0.1:$port
ca_dir $d/ca
upstream_ca_file $BENCH_ORIGIN_CA
state_dir $d/state
connect_ports 443 $((base + 443))
intercept off
list none
access_log off
log_level warn
CONF
	# the variant's lines, then QUELL_CONF's, ";" separated
	printf '%s\n' "$extra" "${QUELL_CONF:-}" | tr ';' '\n' >>"$d/quell.conf"
	exec "${QUELL_BIN:-$ROOT/quell}" run --config "$d/quell.conf"
fi

PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
[ -x "$PEERS_DIR/run.sh" ] || { echo "proxy.sh: no peer harness at $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
make -C "$ROOT" --no-print-directory quell >&2

# A private copy of the harness whose peer table takes quell-* names.
HCOPY=$(mktemp -d /tmp/quell-peers.XXXXXX)
trap 'rm -rf "$HCOPY"' EXIT
cp -r "$PEERS_DIR"/. "$HCOPY"/
rm -rf "$HCOPY/results"
python3 - "$HCOPY/lib/peers.sh" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
port_old = '"$PROXY_NAME")  echo "$PROXY_PORT" ;;'
port_new = ('"$PROXY_NAME")  echo "$PROXY_PORT" ;;\n'
            '    "$PROXY_NAME"-core)  echo $((PROXY_PORT + 1)) ;;\n'
            '    "$PROXY_NAME"-3rules)  echo $((PROXY_PORT + 2)) ;;')
start_old = '"$PROXY_NAME")\n'
start_new = '"$PROXY_NAME"|"$PROXY_NAME"-core|"$PROXY_NAME"-3rules)\n'
cmd_old = 'cmd=${cmd//@TMP@/$BENCH_TMP}'
cmd_new = 'cmd=${cmd//@TMP@/$BENCH_TMP}; cmd=${cmd//@NAME@/$name}'
for a, b in ((port_old, port_new), (start_old, start_new), (cmd_old, cmd_new)):
    if s.count(a) != 1:
        sys.exit("proxy.sh: the harness's lib/peers.sh changed; cannot add quell-* peers")
    s = s.replace(a, b)
open(p, "w").write(s)
PY

export PROXY_NAME=${PROXY_NAME:-quell}
export PROXY_CMD="$HERE/proxy.sh --quell-peer @PORT@ @TMP@ @NAME@"
export PROXY_HTTPS=${PROXY_HTTPS:-none}
export PROXY_VERSION="quell $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev)"
export QUELL_CONF=${QUELL_CONF:-}
export PEERS=${PEERS:-"direct tinyproxy privoxy privoxy-ads $PROXY_NAME-core $PROXY_NAME-3rules $PROXY_NAME"}
export TESTS=${TESTS:-"page page_gz small big"}
export RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/proxy-$(date +%Y%m%d-%H%M%S)}
"$HCOPY/run.sh"
echo
cat "$RESULTS_DIR/results.md"
