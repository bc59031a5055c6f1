#!/bin/sh
# setup.sh: from a clean clone to a running daemon or a passing test suite.
#
#   contrib/setup.sh run    install build dependencies, build, fetch the free
#                           data (country and ASN databases, disposable
#                           domains) into ./run/data, start refguardd in the
#                           foreground on ./run/refguard.sock, with the web
#                           console at http://127.0.0.1:8470/ui/ (its token
#                           in ./run/http.token)
#   contrib/setup.sh test   install build dependencies (and chromium, for the
#                           console's browser test), build, run make check
#   contrib/setup.sh sanitize   the same with ASan and UBSan, in ./build-san;
#                           any sanitizer report fails the run
#   contrib/setup.sh valgrind   build in ./build, then run an integration
#                           subset with every refguardd under valgrind
#                           memcheck; any error or definite leak fails
#   contrib/setup.sh data   the real download: fetch the open data into
#                           ./run/data and check it (the disposable list
#                           covers the community list, the ASN database
#                           answers); skipped, saying so, when the npm
#                           registry cannot be reached
#   contrib/setup.sh package   build the Debian package, check it
#                           (dpkg -c, lintian), install it on this machine,
#                           check that it answers, then purge it
#                           (tests/package/test-deb.sh; needs root; CI only)
#   contrib/setup.sh deps|build   just those steps
#
# Builds out of tree in ./build; everything the daemon writes stays in ./run.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
run="$top/run"

DEPS="build-essential autoconf automake pkg-config libevent-dev liblmdb-dev
libxxhash-dev libmaxminddb-dev libjansson-dev libzstd-dev libsystemd-dev libnats-dev
nats-server check python3 tzdata
libmaxmind-db-writer-perl publicsuffix lmdb-utils socat curl mandoc systemd prometheus valgrind"

# Only for "test" and "sanitize": the browser the console's test drives
# (tests/integration/test_console.py; it skips, saying so, without it).
TEST_DEPS="chromium"

# Only for "package": the Debian packaging tools.
PACKAGE_DEPS="debhelper lintian dpkg-dev util-linux"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
	missing=""
	for p in $DEPS ${1:-}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "setup: installing$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $missing
}

build() {
	cd "$top"
	[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
	    autoreconf -fi
	mkdir -p "$build"
	cd "$build"
	[ -f Makefile ] || "$top/configure" --enable-werror ${CONFIGURE_FLAGS:-}
	make -j"$(nproc)"
}

# npm for contrib/fetch-data.sh (the open data comes from its registry)
need_npm() {
	command -v npm >/dev/null 2>&1 ||
	    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends npm || true
}

run_conf() {
	mkdir -p "$run/data"
	# The free data is optional: without it the facts are simply absent.
	need_npm
	"$top/contrib/fetch-data.sh" "$run/data" ||
	    echo "setup: some open data could not be fetched (above); refguardd runs with what there is"
	{
		echo "# written by contrib/setup.sh run; edit freely"
		echo "socket = refguard.sock"
		echo "state_dir = state"
		echo "rules = $top/rules"
		echo "log_level = info"
		echo "data_stamp_file = data/last-success"
		# The web console (docs/console.md) on loopback, behind a token.
		echo "http_listen = 127.0.0.1:8470"
		echo "http_token_file = http.token"
		echo "http_ui_dir = $top/ui"
		[ -f "$run/data/geo-whois-asn-country.mmdb" ] &&
		    echo "geoip_db = data/geo-whois-asn-country.mmdb"
		[ -f "$run/data/asn.mmdb" ] &&
		    echo "geoip_db = data/asn.mmdb"
		[ -f "$run/data/disposable.txt" ] &&
		    echo "disposable_file = data/disposable.txt"
	} > "$run/refguard.conf.new"
	[ -f "$run/refguard.conf" ] || mv "$run/refguard.conf.new" "$run/refguard.conf"
	rm -f "$run/refguard.conf.new"
	if [ ! -s "$run/http.token" ]; then
		(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' \
		    > "$run/http.token")
	fi
	# A configuration written before the console existed.
	if ! grep -q '^http_listen' "$run/refguard.conf"; then
		printf '%s\n' "http_listen = 127.0.0.1:8470" \
		    "http_token_file = http.token" "http_ui_dir = $top/ui" \
		    >> "$run/refguard.conf"
		echo "setup: added the web console's HTTP listener to $run/refguard.conf"
	fi
	# A configuration written before the ASN database existed.
	if [ -f "$run/data/asn.mmdb" ] &&
	    ! grep -q '^geoip_db = data/asn.mmdb' "$run/refguard.conf"; then
		echo "geoip_db = data/asn.mmdb" >> "$run/refguard.conf"
		echo "setup: added geoip_db = data/asn.mmdb to $run/refguard.conf"
	fi
}

run_check() {
	cd "$build"
	rc=0
	make -j"$(nproc)" check || rc=$?
	[ $rc -eq 0 ] || tail -200 test-suite.log 2>/dev/null || true
	# One closing line any CI can read.
	awk '/^# (PASS|FAIL|SKIP|ERROR|XPASS):/ { n[$2] = $3 }
	    END { printf "tests: %d passed, %d failed, %d skipped\n", n["PASS:"],
	    n["FAIL:"] + n["ERROR:"] + n["XPASS:"], n["SKIP:"] }' test-suite.log
	return $rc
}

case "${1:-}" in
deps)	deps ;;
package)
	deps "$PACKAGE_DEPS"
	"$top/tests/package/test-deb.sh"
	;;
build)	deps; build ;;
run)
	deps; build; run_conf
	cat <<MSG

refguardd starts in the foreground (Ctrl-C stops it). In another terminal:
  $build/refguardctl -s $run/refguard.sock ping
  echo '{"op":"check","id":"r1","referrer":{"account":"u-1","email":"Jane.Doe+x@gmail.com"},"referee":{"account":"u-2","email":"janedoe@googlemail.com"}}' |
    $build/refguardctl -s $run/refguard.sock send

The web console: open http://127.0.0.1:8470/ui/ and paste the token from
  $run/http.token

MSG
	exec "$build/refguardd" -f -c "$run/refguard.conf"
	;;
test)
	deps "$TEST_DEPS"; build
	run_check
	;;
data)
	deps; build; need_npm
	if ! command -v npm >/dev/null 2>&1 ||
	    ! timeout 60 npm ping >/dev/null 2>&1; then
		echo "data: SKIP: the npm registry cannot be reached; the open data was not fetched"
		exit 0
	fi
	mkdir -p "$run/data"
	# Reached but failing is an error: fetch-data.sh says which and why.
	"$top/contrib/fetch-data.sh" -f "$run/data"
	cd "$build"
	RG_DATA_DIR="$run/data" make check TESTS=tests/unit/test_ident_data || {
		cat tests/unit/test_ident_data.log
		exit 1
	}
	cat tests/unit/test_ident_data.log
	;;
sanitize)
	# The daemons the integration tests start inherit these; rgtest.py
	# also fails a case whose daemon printed a report.
	build="$top/build-san"
	CONFIGURE_FLAGS="--enable-asan --enable-ubsan ${CONFIGURE_FLAGS:-}"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export ASAN_OPTIONS UBSAN_OPTIONS
	deps "$TEST_DEPS"; build
	run_check
	;;
valgrind)
	# The protocol, malformed and hostile-client suites and the rules
	# against a live daemon: every path a client can reach. rgtest.py
	# wraps refguardd in valgrind (RG_VALGRIND) and fails a case on any
	# error it prints; a daemon stopped by TERM exits 1 on any error or
	# definite leak, which the tests check.
	RG_VALGRIND=1
	export RG_VALGRIND
	deps; build
	cd "$build"
	make -j"$(nproc)" check TESTS="tests/integration/test_protocol.py
	    tests/integration/test_malformed.py tests/integration/test_hostile.py
	    tests/integration/test_rules_daemon.py" || {
		tail -200 test-suite.log 2>/dev/null || true
		exit 1
	}
	;;
*)
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
