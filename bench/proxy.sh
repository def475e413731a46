#!/usr/bin/env bash
# bench/proxy.sh: the proxy core's throughput beside tinyproxy, Privoxy and
# DIRECT, in one run of the shared peer harness (../shared/bench/peers, see
# its README): wrk through each proxy (50 connections, 10 s) for the 120 KB
# page (plain and gzip) and a 1 KB file, the 10 MiB download in MB/s, the
# proxies' RSS and CPU per request.  A benchmark, not a test: it loads both
# cores for minutes, so run it when the machine is otherwise idle.
#
#   bench/proxy.sh                                   # default peers, ~6 minutes
#   PEERS="direct tinyproxy quell" DURATION=3 BIG_RUNS=2 bench/proxy.sh   # quick look
#   QUELL_CONF="builtin off" PROXY_NAME=quell-core PEERS="direct quell-core" bench/proxy.sh
#                                  # extra config lines (";" separated): the core alone
#
# Targets (issue 2), as ratios to DIRECT: small >= 0.45x, page >= 0.30x,
# 10 MB >= 0.6x; idle RSS <= 4 MB; quell CPU <= 20 us per small request.
# The harness's results.md has the table with ratios to DIRECT and tinyproxy;
# it is printed at the end.
#
# Internally the harness starts quell as "bench/proxy.sh --quell-peer PORT TMP".
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")

if [ "${1:-}" = "--quell-peer" ]; then
	port=$2 tmp=$3
	d=$tmp/quell-proxy-peer
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
	# extra lines from QUELL_CONF, ";" separated
	printf '%s\n' "${QUELL_CONF:-}" | tr ';' '\n' >>"$d/quell.conf"
	exec "${QUELL_BIN:-$ROOT/quell}" run --config "$d/quell.conf"
fi

PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
[ -x "$PEERS_DIR/run.sh" ] || { echo "proxy.sh: no peer harness at $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
make -C "$ROOT" --no-print-directory quell >&2

export PROXY_NAME=${PROXY_NAME:-quell}
export PROXY_CMD="$HERE/proxy.sh --quell-peer @PORT@ @TMP@"
export PROXY_HTTPS=${PROXY_HTTPS:-none}
export PROXY_VERSION="quell $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev)"
export QUELL_CONF=${QUELL_CONF:-}
export PEERS=${PEERS:-"direct tinyproxy privoxy $PROXY_NAME"}
export TESTS=${TESTS:-"page page_gz small big"}
export RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/proxy-$(date +%Y%m%d-%H%M%S)}
"$PEERS_DIR/run.sh"
echo
cat "$RESULTS_DIR/results.md"
