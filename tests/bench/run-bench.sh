#!/bin/sh
# run-bench.sh: the refguard benchmark ("make bench", "make bench-scale").
#
# Starts refguardd in a temporary directory for each scenario, drives it
# with refguard-bench and prints every figure beside its target (docs/performance.md).
# It prints figures; a missed target is reported, never an exit status.
#
#	run-bench.sh [--scale] [--scale-sizes "1000000 10000000"]
#	    [--scale-state N=DIR]...
#
# --scale-state uses DIR, a state directory "refguard-bench preload -n N"
# filled beforehand, for size N instead of preloading it in the run (the
# 10M preload takes most of an hour); the run adds its events to DIR.
#
# Environment: REFGUARDD, REFGUARD_BENCH, RULES_DIR (set by bench.am);
# BENCH_SECONDS (length of a measured phase, default 15), BENCH_SEED (1),
# BENCH_KEEP=1 keeps the temporary directory.

set -u

REFGUARDD=${REFGUARDD:-./refguardd}
BENCH=${REFGUARD_BENCH:-./tests/bench/refguard-bench}
RULES_DIR=${RULES_DIR:-$(dirname "$0")/../../rules}
SECS=${BENCH_SECONDS:-15}
SEED=${BENCH_SEED:-1}
SCALE=0
SIZES="1000000 10000000"
STATES=
while [ $# -gt 0 ]; do
	case $1 in
	--scale) SCALE=1 ;;
	--scale-sizes) SIZES=$2; shift ;;
	--scale-state) STATES="$STATES $2"; shift ;;
	*) echo "usage: $0 [--scale] [--scale-sizes N...]" \
	    "[--scale-state N=DIR]..." >&2; exit 2 ;;
	esac
	shift
done

# given_state N: the DIR of --scale-state N=DIR, or nothing.
given_state() {
	for s in $STATES; do
		[ "${s%%=*}" = "$1" ] && { echo "${s#*=}"; return; }
	done
}

for p in "$REFGUARDD" "$BENCH"; do
	[ -x "$p" ] || { echo "run-bench: $p not built" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/rgbench.XXXXXX) || exit 1
DPID=
PFDIR=
SLOWPID=
cleanup() {
	[ -n "$SLOWPID" ] && kill "$SLOWPID" 2>/dev/null
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "run-bench: kept $TMP"
	else
		rm -rf "$TMP"
	fi
	[ -n "$PFDIR" ] && rm -rf "$PFDIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

SUMMARY=$TMP/summary
: > "$SUMMARY"

# field NAME FILE: the value of NAME=... on the RESULT line of FILE.
field() {
	sed -n 's/^RESULT .*[ ]'"$1"'=\([^ ]*\).*/\1/p; s/^RESULT '"$1"'=\([^ ]*\).*/\1/p' "$2" | head -1
}

# verdict LABEL MEASURED OP TARGET UNIT: one summary line, met or not and
# by how much.
verdict() {
	awk -v l="$1" -v m="$2" -v op="$3" -v t="$4" -v u="$5" 'BEGIN {
		if (m == "") { printf "%-46s %12s   target %s %s %s   NOT MEASURED\n", l, "-", op, t, u; exit }
		ok = (op == ">=") ? (m + 0 >= t + 0) : (m + 0 <= t + 0)
		if (op == ">=") how = sprintf("%.1f%% of target", 100 * m / t)
		else how = sprintf("%.2fx the limit", m / t)
		printf "%-46s %12s %-4s target %s %s %s   %s (%s)\n", l, m, u, op, t, u,
		    ok ? "MET" : "NOT MET", how }' >> "$SUMMARY"
	tail -1 "$SUMMARY"
}

# start_daemon DIR [extra conf lines]: start refguardd in DIR, set DPID
# and READY_MS (spawn to first ping answered).
start_daemon() {
	d=$1; shift
	mkdir -p "$d/state"
	{
		echo "socket = $d/rg.sock"
		echo "state_dir = $d/state"
		echo "rules = $RULES_DIR"
		echo "hash_secret_file = $d/state/secret"
		echo "sync = full"
		echo "log_level = warning"
		echo "map_max = 64g"
		for l in "$@"; do echo "$l"; done
	} > "$d/refguard.conf"
	t0=$(date +%s%N)
	"$REFGUARDD" -f -c "$d/refguard.conf" 2> "$d/stderr" &
	DPID=$!
	if ! "$BENCH" wait -s "$d/rg.sock" -t 60 > /dev/null; then
		echo "run-bench: refguardd did not start:" >&2
		cat "$d/stderr" >&2
		exit 1
	fi
	READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

stop_daemon() {
	kill -TERM "$DPID" && wait "$DPID"
	DPID=
}

echo "refguard benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
    "$(uname -sr), seed $SEED, ${SECS}s phases"
echo "daemon: $REFGUARDD; rules: $RULES_DIR; sync = full"
echo

# ---- (1) throughput and the ping ceiling -------------------------------
echo "== (1) 16 connections x depth 16, checks (10% observes) and the ping ceiling"
D=$TMP/s1
start_daemon "$D"
"$BENCH" run -s "$D/rg.sock" -c 16 -d 16 -t "$SECS" -C -T 5 -w 2 \
    -S "$SEED" -g s1 -p "$DPID" -D "$D/state" | tee "$TMP/s1.out"
stop_daemon
RPS1=$(field rps "$TMP/s1.out")
echo

# ---- (2) latency alone -------------------------------------------------
echo "== (2) 1 connection, depth 1"
D=$TMP/s2
start_daemon "$D"
"$BENCH" run -s "$D/rg.sock" -c 1 -d 1 -t "$SECS" -w 1 -S "$SEED" -g s2 \
    -p "$DPID" -D "$D/state" | tee "$TMP/s2.out"
stop_daemon
echo

# ---- (3) open loop at 80% of (1) ---------------------------------------
RATE=$(awk -v r="${RPS1:-0}" 'BEGIN { printf "%.0f", r * 0.8 }')
echo "== (3) open loop at 80% of (1): $RATE req/s over 16 connections"
if [ "${RATE:-0}" -gt 0 ]; then
	D=$TMP/s3
	start_daemon "$D"
	"$BENCH" run -s "$D/rg.sock" -c 16 -r "$RATE" -t "$SECS" -w 1 \
	    -S "$SEED" -g s3 -p "$DPID" -D "$D/state" | tee "$TMP/s3.out"
	stop_daemon
else
	echo "skipped: no figure from (1)"
	: > "$TMP/s3.out"
fi
echo

# ---- (4) postfwd -------------------------------------------------------
echo "== (4) postfwd2 on loopback, same generator, Postfix policy protocol"
PF=$(command -v postfwd2 || ls /usr/sbin/postfwd2 2>/dev/null)
: > "$TMP/s4.out"
if [ -z "$PF" ]; then
	echo "skipped: postfwd2 is not installed (apt-get install postfwd)"
else
	# postfwd2 drops to nobody: its directory cannot sit in $TMP (0700).
	P=$(mktemp -d /tmp/rgbench-pf.XXXXXX) && chmod 0777 "$P" || exit 1
	PFDIR=$P
	# The nearest equivalent of the default rules: a self-referral
	# equality test and two velocity limits (referrer per hour, referee
	# address per day), like velocity.referrer_hourly and farm.referee_ip.
	cat > "$P/rules.cf" <<'EOF'
id=SELF ; sender==$$recipient ; action=REJECT self-referral
id=VEL_REFERRER ; action=rate(sender/10/3600/REJECT referrer velocity)
id=VEL_REFEREE_IP ; action=rate(client_address/5/86400/REJECT referee address velocity)
id=DEFAULT ; action=DUNNO
EOF
	PORT=$(( 20000 + $$ % 20000 ))
	# rate() needs postfwd2's cache process, so it runs as a daemon
	# (not --nodaemon); -k with the same options stops it.
	set -- -u nobody -g nogroup -f "$P/rules.cf" \
	    --server_socket "tcp:127.0.0.1:$PORT" \
	    --cache_socket "unix::$P/cache.sock" --pidfile "$P/postfwd2.pid"
	"$PF" "$@" > "$P/log" 2>&1
	sleep 3
	if [ ! -s "$P/postfwd2.pid" ]; then
		echo "skipped: postfwd2 did not start:"; grep -v Redundant "$P/log"
	else
		# Postfix sends one policy request at a time per connection.
		"$BENCH" run -P -s "127.0.0.1:$PORT" -c 16 -d 1 -t 10 -w 1 \
		    -o 0 -S "$SEED" -g s4 | tee "$TMP/s4.out"
		"$PF" "$@" -k > /dev/null 2>&1
	fi
fi
echo

# ---- (6) latency beside a client that reads nothing --------------------
# What test_hostile shows without a clock (the others are served while a
# client holds max_outbuf of replies), timed here.
echo "== (6) 1 connection, depth 1, beside a client that pipelines stats" \
    "and reads nothing"
D=$TMP/s6
start_daemon "$D" "max_outbuf = 256k"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.setblocking(False)
b = b"{\"op\":\"stats\"}\n" * 100000
try:
    while b:
        b = b[s.send(b):]
except BlockingIOError:
    pass
time.sleep(1e6)' "$D/rg.sock" &
SLOWPID=$!
"$BENCH" run -s "$D/rg.sock" -c 1 -d 1 -t "$SECS" -w 1 -S "$SEED" -g s6 \
    -p "$DPID" -D "$D/state" | tee "$TMP/s6.out"
kill "$SLOWPID"
wait "$SLOWPID" 2>/dev/null
SLOWPID=
stop_daemon
echo

# ---- (5) scale ---------------------------------------------------------
if [ "$SCALE" = 1 ]; then
	for N in $SIZES; do
		echo "== (5) $N events preloaded, then (1) again"
		D=$TMP/scale$N
		mkdir -p "$D"
		G=$(given_state "$N")
		if [ -n "$G" ]; then
			[ -f "$G/data.mdb" ] || { echo "run-bench: $G: no" \
			    "store" >&2; exit 2; }
			echo "preloaded beforehand: $G"
			ln -s "$G" "$D/state"
		else
			# The loader keeps up to 40M index entries in memory
			# (~3 GiB) and commits 5,000 events at a time: the
			# same records, written in fewer, denser passes.
			"$BENCH" preload -D "$D/state" -R "$RULES_DIR" \
			    -n "$N" -S "$SEED" -r 40000000 -b 5000 || exit 1
		fi
		du -shL "$D/state"
		start_daemon "$D"
		echo "start-up to ready: $READY_MS ms"
		"$BENCH" run -s "$D/rg.sock" -c 16 -d 16 -t "$SECS" -w 2 \
		    -S "$SEED" -g "x$N" -p "$DPID" -D "$D/state" |
		    tee "$TMP/scale$N.out"
		echo "RESULT ready_ms=$READY_MS" >> "$TMP/scale$N.ready"
		stop_daemon
		rm -rf "$D/state"	# ~4 KB per event (a given DIR stays)
		echo
	done
fi

# ---- summary -----------------------------------------------------------
echo "== measured vs target"
verdict "(1) checks/s, 16 conns x depth 16" "$RPS1" ">=" 100000 "/s"
verdict "(1) ratio to ping throughput" "$(field ratio "$TMP/s1.out")" \
    ">=" 0.5 ""
verdict "(2) check p50, 1 conn x depth 1" "$(field p50_us "$TMP/s2.out")" \
    "<=" 150 "us"
verdict "(2) check p99, 1 conn x depth 1" "$(field p99_us "$TMP/s2.out")" \
    "<=" 1000 "us"
verdict "(3) p99 at 80% of max rate (open loop)" \
    "$(field p99_us "$TMP/s3.out")" "<=" 5000 "us"
verdict "(6) check p99 beside a client reading nothing" \
    "$(field p99_us "$TMP/s6.out")" "<=" 1000 "us"
PFRPS=$(field rps "$TMP/s4.out")
if [ -n "$PFRPS" ] && [ -n "$RPS1" ]; then
	verdict "(4) refguard (1) / postfwd2 throughput" \
	    "$(awk -v a="$RPS1" -v b="$PFRPS" 'BEGIN { printf "%.1f", a / b }')" \
	    ">=" 100 "x"
else
	echo "(4) postfwd comparison skipped" | tee -a "$SUMMARY"
fi
if [ "$SCALE" = 1 ]; then
	for N in $SIZES; do
		verdict "(5) $N: throughput / empty store" \
		    "$(awk -v a="$(field rps "$TMP/scale$N.out")" -v b="$RPS1" \
		    'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b }')" \
		    ">=" 0.8 ""
		verdict "(5) $N: start-up to ready" \
		    "$(field ready_ms "$TMP/scale$N.ready")" "<=" 1000 "ms"
		verdict "(5) $N: anonymous RSS" \
		    "$(awk -v k="$(field rss_anon_kb "$TMP/scale$N.out")" \
		    'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" \
		    "<=" 128 "MiB"
	done
fi
exit 0
