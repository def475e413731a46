#!/usr/bin/env bash
# bench/conns.sh: memory per idle keep-alive client connection (issue 2:
# <= 16 KB), quell side by side with Privoxy and Squid (Debian) in one run.
# Each proxy gets N connections that each made one request to a local nginx
# (1 KB file) and then stay open and idle; the growth of the proxy's VmRSS
# (process and children) divided by N is the figure.  tinyproxy is left out:
# it closes every client connection after one response.
#
#   bench/conns.sh            # N=400 (Privoxy's max-client-connections is 512)
#   N=1000 PEERS="quell" bench/conns.sh
#
# A benchmark, not a test; loopback only; every process it starts is
# stopped by PID at exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${N:-400}
PEERS=${PEERS:-"quell privoxy squid"}
make -C "$ROOT" --no-print-directory quell >&2
ulimit -n 8192

T=$(mktemp -d /tmp/quell-conns.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# the origin
OP=$(free_port)
mkdir -p "$T/www" "$T/nginx"
head -c 1024 /dev/zero | tr '\0' 'x' >"$T/www/small.txt"
cat >"$T/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000;
	server { listen 127.0.0.1:$OP; root $T/www; }
}
CONF
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" & PIDS+=($!)
wait_port "$OP" || { echo "conns.sh: nginx did not start" >&2; exit 1; }
URL=http://127.0.0.1:$OP/small.txt

printf '| proxy | version | RSS before (KB) | after %d idle connections (KB) | still open | KB per idle connection |\n|---|---|---:|---:|---:|---:|\n' "$N"
for peer in $PEERS; do
	port=$(free_port) d=$T/$peer
	mkdir -p "$d"
	case $peer in
	quell)
		mkdir -p "$d/state"
		printf 'listen 127.0.0.1:%s\nstate_dir %s/state\nintercept off\nlist none\naccess_log off\nlog_level warn\nmax_connections 4096\n' \
			"$port" "$d" >"$d/quell.conf"
		"$ROOT/quell" run --config "$d/quell.conf" 2>"$d/log" & pid=$!
		ver="quell $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev) (defaults: built-in rules on)" ;;
	privoxy)
		command -v privoxy >/dev/null || { echo "| privoxy | not installed |"; continue; }
		cp /etc/privoxy/match-all.action /etc/privoxy/default.action /etc/privoxy/user.action \
			/etc/privoxy/default.filter /etc/privoxy/user.filter "$d/"
		printf 'confdir %s\ntempldir /etc/privoxy/templates\nlogdir %s\nactionsfile match-all.action\nactionsfile default.action\nactionsfile user.action\nfilterfile default.filter\nfilterfile user.filter\nlisten-address 127.0.0.1:%s\nkeep-alive-timeout 300\ndefault-server-timeout 5\nmax-client-connections 4096\nsocket-timeout 300\n' \
			"$d" "$d" "$port" >"$d/config"
		privoxy --no-daemon "$d/config" >"$d/log" 2>&1 & pid=$!
		ver=$(privoxy --version 2>&1 | awk '{print "privoxy " $3}') ;;
	squid)
		command -v squid >/dev/null || { echo "| squid | not installed |"; continue; }
		chown -R proxy: "$d" 2>/dev/null || true
		cat >"$d/squid.conf" <<CONF
http_port 127.0.0.1:$port
workers 1
pid_filename $d/squid.pid
cache_log $d/cache.log
access_log none
cache_store_log none
logfile_rotate 0
coredump_dir $d
netdb_filename none
pinger_enable off
icp_port 0
htcp_port 0
cache deny all
cache_mem 0 MB
acl localclients src 127.0.0.1/32
http_access allow localclients
http_access deny all
client_persistent_connections on
server_persistent_connections on
client_idle_pconn_timeout 5 minutes
max_filedescriptors 16384
shutdown_lifetime 1 seconds
CONF
		squid -N -f "$d/squid.conf" >"$d/log" 2>&1 & pid=$!
		ver="squid $(squid -v | awk '/Version/{print $4; exit}')" ;;
	*) echo "conns.sh: unknown peer $peer" >&2; continue ;;
	esac
	PIDS+=("$pid")
	if ! wait_port "$port"; then
		echo "| $peer | did not start: $(tail -n 3 "$d/log" | tr '\n' ' ') |"
		continue
	fi
	sleep 0.5
	read -r before after alive per < <(python3 "$HERE/conns.py" "$port" "$pid" "$N" "$URL") || {
		echo "| $peer | failed |"; continue; }
	printf '| %s | %s | %s | %s | %s | %s |\n' "$peer" "$ver" "$before" "$after" "$alive" "$per"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
