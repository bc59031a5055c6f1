#!/bin/sh
# ab-bench.sh: two builds of refguardd, A (a baseline) and B (this build),
# one after the other on the same machine ("make bench-ab
# BENCH_AB_BASE=/path/to/old/refguardd").
#
#	ab-bench.sh BASE_REFGUARDD [ROUNDS] [EVAL_THREADS...]
#
# Each round starts A, then B, each on an empty store of its own (sync =
# full, the shipped rules), and drives it with refguard-bench: 16
# connections x depth 16, a warm-up, then a measured phase. It prints
# each run's checks/s and the daemon's CPU per request (user + system
# over the measured phase: the steadiest figure on a machine shared with
# other work and with the load generator), then, per thread count, the
# median of B / A over the rounds. Alternating the two in one sitting is
# what makes the ratio mean something here; a single pair means little.
#
# Environment: REFGUARDD (B), REFGUARD_BENCH, RULES_DIR (set by
# bench.am); BENCH_SECONDS (measured phase, default 8), BENCH_SEED (1).

set -u

A=${1:-}
ROUNDS=${2:-3}
[ $# -gt 2 ] && shift 2 || set --
THREADS=${*:-1 2}
B=${REFGUARDD:-./refguardd}
BENCH=${REFGUARD_BENCH:-./tests/bench/refguard-bench}
RULES_DIR=${RULES_DIR:-$(dirname "$0")/../../rules}
SECS=${BENCH_SECONDS:-8}
SEED=${BENCH_SEED:-1}

if [ -z "$A" ]; then
	echo "usage: $0 BASE_REFGUARDD [ROUNDS] [EVAL_THREADS...]" >&2
	exit 2
fi
for p in "$A" "$B" "$BENCH"; do
	[ -x "$p" ] || { echo "ab-bench: $p: not an executable" >&2; exit 2; }
done
TMP=$(mktemp -d /tmp/rgab.XXXXXX) || exit 1
DPID=
trap '[ -n "$DPID" ] && kill "$DPID" 2> /dev/null; rm -rf "$TMP"' EXIT

# start_daemon, stop_daemon
. "$(dirname "$0")/bench-lib.sh"

# run BIN THREADS TAG: one run; appends "rps cpu" to $TMP/TAG.
run() {
	d=$TMP/run
	rm -rf "$d"
	REFGUARDD=$1 start_daemon "$d" "eval_threads = $2"
	out=$("$BENCH" run -s "$d/rg.sock" -c 16 -d 16 -t "$SECS" -w 2 \
	    -S "$SEED" -g ab -p "$DPID" -D "$d/state" | grep '^RESULT')
	stop_daemon
	rps=$(echo "$out" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')
	cpu=$(echo "$out" | sed -n 's/.* cpu_us_per_req=\([0-9.]*\).*/\1/p')
	printf "%-4s eval_threads=%s  %6s checks/s  %6s us CPU/request\n" \
	    "$3" "$2" "$rps" "${cpu:-?}"
	echo "$rps ${cpu:-0}" >> "$TMP/$3.$2"
}

echo "ab-bench: A = $A, B = $B; $(nproc) CPUs, load $(cut -d' ' -f1-3 \
    /proc/loadavg); $ROUNDS rounds of ${SECS}s, 16 x 16, empty stores"
for t in $THREADS; do
	for r in $(seq "$ROUNDS"); do
		run "$A" "$t" A
		run "$B" "$t" B
	done
done
echo
for t in $THREADS; do
	paste "$TMP/A.$t" "$TMP/B.$t" | awk -v t="$t" '
	{ r[NR] = $3 / $1; c[NR] = ($2 > 0 && $4 > 0) ? $4 / $2 : 0 }
	function median(v, n,    i, j, x) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
				x = v[j]; v[j] = v[j - 1]; v[j - 1] = x
			}
		return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	END {
		printf "eval_threads=%s: B / A checks/s, median of %d: %.2f; " \
		    "CPU per request: %.2f\n", t, NR, median(r, NR), median(c, NR)
	}'
done
