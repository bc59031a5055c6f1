# bench-lib.sh: what run-bench.sh and ab-bench.sh share (sourced).
# Needs REFGUARDD (the daemon to start), BENCH (refguard-bench) and
# RULES_DIR.

# start_daemon DIR [extra conf lines]: start $REFGUARDD in DIR (sync =
# full, one evaluation thread unless a later line says otherwise), set
# DPID and READY_MS (spawn to first ping answered); exit 1 when it does
# not start.
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
		# One evaluation thread, so that every phase compares with
		# the runs before eval_threads; (1b) gives it two.
		echo "eval_threads = 1"
		for l in "$@"; do echo "$l"; done
	} > "$d/refguard.conf"
	t0=$(date +%s%N)
	"$REFGUARDD" -f -c "$d/refguard.conf" 2> "$d/stderr" &
	DPID=$!
	if ! "$BENCH" wait -s "$d/rg.sock" -t 60 > /dev/null; then
		echo "$(basename "$0"): $REFGUARDD did not start:" >&2
		cat "$d/stderr" >&2
		kill "$DPID" 2> /dev/null
		DPID=
		exit 1
	fi
	READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}

stop_daemon() {
	kill -TERM "$DPID" && wait "$DPID"
	DPID=
}
