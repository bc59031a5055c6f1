#!/bin/sh
# stress-check.sh: run `make check` many times in a row to find tests whose
# outcome depends on timing. A test suite that fails one run in twenty
# lands work by luck; run this before trusting a change to the tests or
# to the daemon's event handling.
#
#   tests/stress-check.sh [-k] [-j JOBS] [-l LOAD] [-t 'TESTS'] BUILDDIR [N]
#
#   BUILDDIR  a configured and built tree (contrib/setup.sh build: ./build;
#             sanitize: ./build-san)
#   N         runs (default 20)
#   -k        keep going after a failure (default: stop at the first)
#   -j JOBS   make check -jJOBS (default 2)
#   -l LOAD   beside the runs, a load generator, killed at the end:
#               busy[:K]  K shell busy loops (default: one per CPU)
#               make:DIR  `make clean; make -j2` of another built tree
#                         DIR, over and over
#   -t TESTS  only these tests (make check TESTS='...')
#
# The first failure's test-suite.log (every failed test's log) is printed
# and kept as BUILDDIR/stress-fail-RUN.log. The last line is the summary:
# "N runs, F failures". Exit status: 0 when every run passed, 1 otherwise,
# 2 on a usage error.
set -u

usage() {
	sed -n 's/^# \{0,1\}//; 7,19p' "$0" >&2
	exit 2
}

keep=0
jobs=2
load=""
tests=""
while getopts kj:l:t: opt; do
	case $opt in
	k) keep=1 ;;
	j) jobs=$OPTARG ;;
	l) load=$OPTARG ;;
	t) tests=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$1
n=${2:-20}
case $n in '' | *[!0-9]*) echo "stress-check: N must be a number: $n" >&2
	exit 2 ;;
esac
[ -f "$build/Makefile" ] || {
	echo "stress-check: $build has no Makefile (configure and build it" \
	    "first: contrib/setup.sh build)" >&2
	exit 2
}
build=$(cd "$build" && pwd)

# The load generators: each in its own process group, killed by it.
loadpids=""
stop_load() {
	for p in $loadpids; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	done
	for p in $loadpids; do
		wait "$p" 2>/dev/null
	done
	loadpids=""
}
trap 'stop_load' EXIT
trap 'stop_load; exit 130' INT TERM

start_load() {
	case $load in
	'') ;;
	busy | busy:*)
		k=${load#busy}
		k=${k#:}
		[ -n "$k" ] || k=$(nproc 2>/dev/null || echo 2)
		i=0
		while [ "$i" -lt "$k" ]; do
			setsid sh -c 'while :; do :; done' &
			loadpids="$loadpids $!"
			i=$((i + 1))
		done
		echo "stress-check: load: $k busy loops"
		;;
	make:*)
		dir=${load#make:}
		[ -f "$dir/Makefile" ] || {
			echo "stress-check: -l make:$dir: no Makefile there" >&2
			exit 2
		}
		setsid sh -c 'while :; do make -C "$1" clean >/dev/null 2>&1;
		    make -C "$1" -j2 >/dev/null 2>&1; done' sh "$dir" &
		loadpids="$loadpids $!"
		echo "stress-check: load: make -j2 of $dir, over and over"
		;;
	*)
		echo "stress-check: unknown load: $load" >&2
		exit 2
		;;
	esac
}

start_load
runs=0
fails=0
first=""
i=1
while [ "$i" -le "$n" ]; do
	log="$build/stress-run.log"
	if [ -n "$tests" ]; then
		make -C "$build" check -j"$jobs" TESTS="$tests" >"$log" 2>&1
	else
		make -C "$build" check -j"$jobs" >"$log" 2>&1
	fi
	rc=$?
	runs=$((runs + 1))
	if [ "$rc" -eq 0 ]; then
		echo "stress-check: run $i of $n: ok"
	else
		fails=$((fails + 1))
		failed=$(grep -E '^(FAIL|ERROR|XPASS):' "$log" | tr '\n' ' ')
		echo "stress-check: run $i of $n: FAILED ${failed:-(make check" \
		    "exit $rc)}"
		if [ -z "$first" ]; then
			first="$build/stress-fail-$i.log"
			if [ -f "$build/test-suite.log" ]; then
				cp "$build/test-suite.log" "$first"
			else
				cp "$log" "$first"
			fi
			echo "---- the first failure (run $i): $first ----"
			cat "$first"
			echo "---- end of $first ----"
		fi
		[ "$keep" -eq 1 ] || break
	fi
	i=$((i + 1))
done
stop_load
echo "$runs runs, $fails failures"
[ "$fails" -eq 0 ]
