#!/bin/sh
# run-fuzz.sh: `make fuzz`. Runs each libFuzzer harness for FUZZ_SECONDS
# over a scratch copy of its checked-in corpus (new inputs go to the copy,
# never into tests/fuzz/corpus), then prints the executions and findings
# (crash, leak, timeout and OOM artifacts) of each. Exit 1 when any
# harness found something; the artifacts and logs stay in the work dir.
#
# usage: run-fuzz.sh SRCDIR WORKDIR SECONDS NAME...   (binaries: ./tests/fuzz/fuzz_NAME)
set -u
srcdir=$1 work=$2 secs=$3
shift 3
found=0
mkdir -p "$work" || exit 2
printf '%-8s %8s %12s %10s %9s  %s\n' harness seconds execs exec/s findings log
for name in "$@"; do
	bin=./tests/fuzz/fuzz_$name
	if [ ! -x "$bin" ]; then
		echo "run-fuzz.sh: $bin not built (configure --enable-fuzzing CC=clang)" >&2
		exit 2
	fi
	corpus=$work/$name.corpus
	rm -rf "$corpus" "$work/$name".crash-* 2>/dev/null
	mkdir -p "$corpus"
	cp "$srcdir/tests/fuzz/corpus/$name"/* "$corpus"/
	log=$work/$name.log
	# Rule files reach the nesting bound and the quadratic shapes only
	# past libFuzzer's usual 4 KiB inputs.
	maxlen=
	[ "$name" = rules ] && maxlen=-max_len=262144
	top_srcdir=$srcdir "$bin" $maxlen -max_total_time="$secs" \
	    -print_final_stats=1 \
	    -artifact_prefix="$work/$name.crash-" -rss_limit_mb=2048 \
	    -timeout=10 "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	n=$(ls "$work/$name".crash-* 2>/dev/null | wc -l)
	if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
		n=1	# died without an artifact: the log says why
	fi
	[ "$n" -gt 0 ] && found=1
	printf '%-8s %8s %12s %10s %9s  %s\n' "$name" "$secs" "${execs:-?}" \
	    "${rate:-?}" "$n" "$log"
done
if [ "$found" -ne 0 ]; then
	echo "run-fuzz.sh: findings: see the logs and $work/*.crash-*" >&2
	exit 1
fi
exit 0
