#!/bin/sh
# test_ident_fetch.sh: contrib/fetch-data.sh without the network. A fake
# npm serves packages made here from the fixtures: the three files are
# built and installed (the ASN database from the CSV, the disposable
# list merged, deduplicated and allowlisted); then truncated, emptied,
# corrupt or missing packages are refused with exit 1 and a message,
# leaving the installed files exactly as they were (same inode, same
# bytes) with nothing half-written beside them. Also: exit 1 without npm,
# 2 on bad usage, fresh files kept quietly; DIR/last-success after a good
# run only; -s SOCKET asks the daemon there to reload when a file was
# replaced, and only then.
set -u
top="${top_srcdir:-.}"
script="$top/contrib/fetch-data.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rg-fetch-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	[ -s "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"
	exit 1
}

# a PATH with the basic tools but no npm
mkdir "$tmp/bin"
for t in sh find mkdir mktemp rm cat tail dirname date mv; do
	p=$(command -v "$t") && ln -s "$p" "$tmp/bin/$t"
done
PATH="$tmp/bin" sh "$script" "$tmp/nonpm" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc without npm (want 1)"
grep -q "error: npm not found" "$tmp/err" || fail "no error without npm"
[ -e "$tmp/nonpm" ] && fail "a data directory was made without npm"
sh "$script" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no usage error without DIR"
# fresh files are kept without touching npm or the network
mkdir "$tmp/fresh"
echo x >"$tmp/fresh/geo-whois-asn-country.mmdb"
echo x >"$tmp/fresh/asn.mmdb"
echo mailinator.com >"$tmp/fresh/disposable.txt"
if ! PATH="$tmp/bin" sh "$script" "$tmp/fresh" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
	fail "fresh files not kept quietly"
fi
grep -Eq '^[0-9]{10}$' "$tmp/fresh/last-success" ||
    fail "no last-success stamp after a run with fresh files"
[ -e "$tmp/nonpm/last-success" ] && fail "a stamp after a failed run"
echo "ok   no npm, usage, fresh files"

for t in node perl tar gzip; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP fetch with a fake npm: $t not found"
		exit 0
	fi
done
if ! perl -MMaxMind::DB::Writer::Tree -e1 2>/dev/null; then
	echo "SKIP fetch with a fake npm: libmaxmind-db-writer-perl missing"
	exit 0
fi

# ---- a fake npm ---------------------------------------------------------
# "npm pack ... PKG" copies $FAKE_NPM/<PKG with / and @ as _>.tgz into the
# current directory and prints its name, or fails like npm does.
reg="$tmp/registry"
mkdir "$reg" "$tmp/fakebin"
cat >"$tmp/fakebin/npm" <<'EOF'
#!/bin/sh
for a; do pkg=$a; done
f=$(printf '%s' "$pkg" | tr '/@' '__').tgz
if [ ! -f "$FAKE_NPM/$f" ]; then
	echo "npm error code E404" >&2
	echo "npm error 404 Not Found - GET $pkg" >&2
	exit 1
fi
cp "$FAKE_NPM/$f" . && echo "$f"
EOF
chmod +x "$tmp/fakebin/npm"

# pkg NAME VERSION FILE=SRC...: publish a package to the fake registry
pkg() {
	name=$1 ver=$2
	shift 2
	d="$tmp/build/$name/package"
	rm -rf "$tmp/build/$name"
	mkdir -p "$d"
	printf '{"name":"%s","version":"%s"}\n' "$name" "$ver" >"$d/package.json"
	for fs in "$@"; do
		mkdir -p "$(dirname "$d/${fs%%=*}")"
		cp "${fs#*=}" "$d/${fs%%=*}"
	done
	(cd "$tmp/build/$name" && tar -czf "$reg/$(printf '%s' "$name" | tr '/@' '__').tgz" package)
}

fx="$top/tests/fixtures"
perl "$top/contrib/asn2mmdb.pl" "$tmp/country.mmdb" "$fx/asn-ipv4.csv" ||
    fail "cannot build a stand-in country database"
printf '%s\n' '["Mailinator.com", "*.spam.example", "zoho.com", "a.b.c.example"]' >"$tmp/ddd.json"
printf '%s\n' '["sub.trash.example", ".dot.example", "not a domain", 7]' >"$tmp/wild.json"
printf '%s\n' '["mailinator.com", "co.uk", "trash.example", "edu.example",
    "school.edu.example", "ddns.example", "any.wild.example", "keep.wild.example"]' \
    >"$tmp/js.json"
printf '%s\n' '["yopmail.com", "gmail.com", "trash.example."]' >"$tmp/dahoom.json"
publish_all() {
	pkg @ip-location-db/geo-whois-asn-country-mmdb 2.3.2026061719 \
	    geo-whois-asn-country.mmdb="$tmp/country.mmdb"
	pkg @ip-location-db/asn 2.3.2026061719 \
	    asn-ipv4.csv="$fx/asn-ipv4.csv" asn-ipv6.csv="$fx/asn-ipv6.csv"
	pkg disposable-email-domains 1.0.62 index.json="$tmp/ddd.json" \
	    wildcard.json="$tmp/wild.json"
	pkg disposable-email-domains-js 1.26.0 \
	    dist/dict/disposable_email_blocklist.json="$tmp/js.json"
	pkg @dahoom/disposable-email 0.3.253 domains.json="$tmp/dahoom.json"
}
publish_all

# A Public Suffix List: registry suffixes (its ICANN section) leave the
# disposable list, a wildcard's children and not its exception; names
# of the private section (dynamic DNS) stay.
{
	echo "// ===BEGIN ICANN DOMAINS==="
	echo "edu.example"
	echo "*.wild.example"
	echo "!keep.wild.example"
	seq 1 1000 | sed 's/^/r/; s/$/.test/'
	echo "// ===END ICANN DOMAINS==="
	echo "// ===BEGIN PRIVATE DOMAINS==="
	echo "ddns.example"
	echo "// ===END PRIVATE DOMAINS==="
} >"$tmp/psl.dat"
fetch() {
	FETCH_PSL="${FETCH_PSL:-$tmp/psl.dat}" \
	FAKE_NPM="$reg" PATH="$tmp/fakebin:$PATH" FETCH_MIN_ASN_ROWS=3 \
	    FETCH_MIN_DISPOSABLE="3 2 2" FETCH_CHECK_ASN="5.61.0.1=64496" \
	    FETCH_CHECK_COUNTRY= sh "$script" "$@" 2>"$tmp/err"
}

data="$tmp/data"
fetch "$data"
rc=$?
[ "$rc" -eq 0 ] || fail "fetch with good packages: exit $rc"
grep -v "days old" "$tmp/err" | grep -q . && fail "unexpected messages"
for f in geo-whois-asn-country.mmdb asn.mmdb disposable.txt; do
	[ -s "$data/$f" ] || fail "$f not written"
done
grep -v '^#' "$data/disposable.txt" >"$tmp/got"
printf '%s\n' a.b.c.example ddns.example dot.example keep.wild.example \
    mailinator.com school.edu.example spam.example sub.trash.example \
    trash.example yopmail.com >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" || {
	diff "$tmp/want" "$tmp/got"
	fail "merged disposable list differs (want: deduplicated, lowercased, allowlisted zoho.com, gmail.com and the parent co.uk, registry suffixes edu.example and any.wild.example out)"
}
grep -q '^# less 3 allowed by contrib/disposable-allowlist.txt and 2 registry suffixes of the Public Suffix List: 10 domains.$' \
    "$data/disposable.txt" || fail "disposable.txt header does not count what was taken out"
grep -q '^#   disposable-email-domains-js@1.26.0: 8 entries$' "$data/disposable.txt" ||
    fail "disposable.txt header does not name its sources"
grep -q 'days old' "$tmp/err" || fail "no warning for data from 2026-06-17"
perl -MMaxMind::DB::Reader -e '
	my $r = MaxMind::DB::Reader->new(file => shift);
	my $d = $r->record_for_address("5.61.1.1");
	exit !($d && $d->{autonomous_system_number} == 64497 &&
	    $d->{autonomous_system_organization} eq q(Example "Quoted", Inc.) &&
	    $r->metadata->build_epoch == 1781722800);' "$data/asn.mmdb" ||
    fail "asn.mmdb does not answer 5.61.1.1 = AS64497 with the data date"
grep -Eq '^[0-9]{10}$' "$data/last-success" || fail "no last-success stamp"
echo "ok   fetch with good packages"

# Without the Public Suffix List: a warning, and the suffixes stay.
FETCH_PSL="$tmp/no-psl.dat" fetch -f "$data" || fail "fetch without a PSL: exit $?"
grep -q "warning: $tmp/no-psl.dat: no Public Suffix List (install publicsuffix): registry suffixes such as edu.pl stay in disposable.txt" \
    "$tmp/err" || fail "no warning without the Public Suffix List"
grep -qx 'edu.example' "$data/disposable.txt" ||
    fail "without the Public Suffix List a suffix was taken out"
fetch -f "$data" || fail "fetch with the PSL again: exit $?"
echo "ok   registry suffixes out with the Public Suffix List, a warning without"

# -s SOCKET: a reload through refguardctl (a fake here) when a file was
# replaced, none when every file was fresh; no daemon is only a warning.
printf '#!/bin/sh\necho "$*" >>"$FAKE_CTL_LOG"\n' >"$tmp/fakebin/refguardctl"
chmod +x "$tmp/fakebin/refguardctl"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$tmp/rg.sock" || fail "cannot make a socket"
FAKE_CTL_LOG="$tmp/ctl.log" REFGUARDCTL="$tmp/fakebin/refguardctl" \
    fetch -s "$tmp/rg.sock" "$data" || fail "fresh run with -s: exit $?"
[ -e "$tmp/ctl.log" ] && fail "reload asked for although nothing changed"
FAKE_CTL_LOG="$tmp/ctl.log" REFGUARDCTL="$tmp/fakebin/refguardctl" \
    fetch -f -s "$tmp/rg.sock" "$data" || fail "forced run with -s: exit $?"
[ "$(cat "$tmp/ctl.log")" = "-s $tmp/rg.sock reload" ] ||
    fail "no reload after replacing the data: $(cat "$tmp/ctl.log" 2>&1)"
FAKE_CTL_LOG="$tmp/ctl.log" REFGUARDCTL="$tmp/fakebin/refguardctl" \
    fetch -f -s "$tmp/none.sock" "$data" || fail "run without a daemon: exit $?"
grep -q "warning: no daemon listens on $tmp/none.sock" "$tmp/err" ||
    fail "no warning without a daemon"
echo "ok   -s SOCKET reloads after a change only"

# A reload the daemon refuses: exit 1 saying so, and no stamp (the daemon
# still serves the old data). One it cannot be reached for (refguardctl
# exits 3): not running, a warning, and the run is a success.
printf '#!/bin/sh\necho "refguardctl: reload_failed: rules: bad"\nexit 1\n' \
    >"$tmp/fakebin/refguardctl"
echo 1 >"$data/last-success"
REFGUARDCTL="$tmp/fakebin/refguardctl" fetch -f -s "$tmp/rg.sock" "$data"
rc=$?
[ "$rc" -eq 1 ] || fail "failed reload: exit $rc (want 1)"
grep -q "error: the data was replaced but the reload failed.*reload_failed: rules: bad" \
    "$tmp/err" || fail "failed reload: no error saying so"
[ "$(cat "$data/last-success")" = 1 ] || fail "failed reload: stamp renewed"
printf '#!/bin/sh\necho "refguardctl: connect: refused" >&2\nexit 3\n' \
    >"$tmp/fakebin/refguardctl"
REFGUARDCTL="$tmp/fakebin/refguardctl" fetch -f -s "$tmp/rg.sock" "$data" ||
    fail "daemon not answering: exit $?"
grep -q "warning: no daemon answers on $tmp/rg.sock" "$tmp/err" ||
    fail "no warning when the daemon does not answer"
grep -Eq '^[0-9]{10}$' "$data/last-success" || fail "daemon not answering: no stamp"
echo "ok   a failed reload fails the run and leaves the stamp"

# bad PKG-SETUP WANT FILE...: after PKG-SETUP (a shell command) a forced
# fetch exits 1 saying WANT, and leaves FILE... as they were
snap() {
	for f in geo-whois-asn-country.mmdb asn.mmdb disposable.txt; do
		printf '%s %s\n' "$f" "$(ls -i "$data/$f" | cut -d' ' -f1)"
		cksum <"$data/$f"
	done
	ls -a "$data"
}
bad() {
	publish_all
	eval "$1"
	snap >"$tmp/before"
	cp "$data/last-success" "$tmp/stamp"
	fetch -f "$data"
	rc=$?
	[ "$rc" -eq 1 ] || fail "$1: exit $rc (want 1)"
	grep -q "fetch-data.sh: error: .*$2" "$tmp/err" || fail "$1: no error saying '$2'"
	snap >"$tmp/after"
	# the refused files are untouched: same inode, same bytes
	for f in $3; do
		grep "^$f " "$tmp/before" >"$tmp/b1"
		grep "^$f " "$tmp/after" >"$tmp/a1"
		cmp -s "$tmp/b1" "$tmp/a1" || fail "$1: $f was replaced"
	done
	ls -a "$data" | grep -q 'tmp' && fail "$1: temporary file left in $data"
	cmp -s "$tmp/stamp" "$data/last-success" || fail "$1: stamp renewed"
	echo "ok   refused: $1"
}
head -c 150 "$fx/asn-ipv4.csv" >"$tmp/cut.csv"
bad 'pkg @ip-location-db/asn 2.3.2026061719 asn-ipv4.csv="$tmp/cut.csv" asn-ipv6.csv="$fx/asn-ipv6.csv"' \
    "asn.mmdb not updated, the old file is kept: @ip-location-db/asn 2.3.2026061719: asn2mmdb.pl: .*asn-ipv4.csv:4: line does not end with a newline: the file is truncated" \
    asn.mmdb
head -n 2 "$fx/asn-ipv4.csv" >"$tmp/short.csv"
bad 'pkg @ip-location-db/asn 2.3.2026061719 asn-ipv4.csv="$tmp/short.csv" asn-ipv6.csv="$fx/asn-ipv6.csv"' \
    "asn-ipv4.csv: 2 rows, fewer than 3" asn.mmdb
bad 'rm "$reg/_ip-location-db_asn.tgz"' "npm pack @ip-location-db/asn failed: npm error code E404" asn.mmdb
printf 'not gzip' >"$tmp/garbage"
bad 'cp "$tmp/garbage" "$reg/_ip-location-db_geo-whois-asn-country-mmdb.tgz"' \
    "geo-whois-asn-country.mmdb not updated, the old file is kept: cannot unpack" geo-whois-asn-country.mmdb
bad 'pkg @ip-location-db/geo-whois-asn-country-mmdb 2.3.2026061719 geo-whois-asn-country.mmdb="$tmp/cut.csv"' \
    "geo-whois-asn-country.mmdb: not a MaxMind DB" geo-whois-asn-country.mmdb
printf '["a.example", "b.exa' >"$tmp/trunc.json"
bad 'pkg @dahoom/disposable-email 0.3.253 domains.json="$tmp/trunc.json"' \
    "disposable.txt not updated, the old file is kept: disposable-merge.js: @dahoom/disposable-email@0.3.253: .*domains.json: .*JSON" \
    disposable.txt
printf '["a.example"]\n' >"$tmp/one.json"
bad 'pkg disposable-email-domains-js 1.26.0 dist/dict/disposable_email_blocklist.json="$tmp/one.json"' \
    "disposable-email-domains-js@1.26.0: 1 domains, fewer than 2" disposable.txt
bad 'rm "$reg/disposable-email-domains.tgz"' "npm pack disposable-email-domains failed" disposable.txt
echo "PASS: fetch-data.sh builds, checks and installs atomically, and refuses bad data"
exit 0
