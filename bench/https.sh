#!/usr/bin/env bash
# bench/https.sh: HTTPS interception throughput of quell beside Squid ssl-bump,
# Privoxy https-inspection, mitmdump and DIRECT, in one run of the shared peer
# harness (../shared/bench/peers, see its README): keep-alive requests/s for a
# 1 KB file and the 120 KB page (https_ka_small, https_ka_page), new
# connections/s with a full CONNECT + TLS handshake per request
# (https_new_small), and the proxies' CPU per request.
#
#   bench/https.sh                      # the default peers, ~5 minutes
#   PEERS="direct quell" DURATION=5 bench/https.sh
#
# Targets (issue 3): keep-alive small >= 0.7x DIRECT, new connections >= 0.45x
# DIRECT; quell CPU <= 40 us per keep-alive request, <= 1.5 ms per new
# intercepted connection.  It loads both cores for minutes: run it only when
# the machine is otherwise idle.
#
# Internally the harness starts quell as "bench/https.sh --quell-peer PORT TMP":
# it gives quell the harness's interception CA (copied into a 0600 key file,
# since quell refuses a key others can read) and trusts the origin CA upstream.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")

if [ "${1:-}" = "--quell-peer" ]; then
	port=$2 tmp=$3
	d=$tmp/quell-peer
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
list none
access_log off
log_level warn
CONF
	exec "${QUELL_BIN:-$ROOT/quell}" run --config "$d/quell.conf"
fi

PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench/peers}
[ -x "$PEERS_DIR/run.sh" ] || { echo "https.sh: no peer harness at $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
make -C "$ROOT" --no-print-directory quell >&2

export PROXY_NAME=quell
export PROXY_CMD="$HERE/https.sh --quell-peer @PORT@ @TMP@"
export PROXY_HTTPS=intercept
export PROXY_VERSION="quell $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev)"
export PEERS=${PEERS:-"direct squid-bump privoxy-ads mitmdump quell"}
export TESTS=${TESTS:-https}
export RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results/https-$(date +%Y%m%d-%H%M%S)}
"$PEERS_DIR/run.sh"
echo
echo "results: $RESULTS_DIR/results.md"
