#!/bin/sh
# fetch-data.sh [-f] [-s SOCKET] DIR: fetch refguard's open data into DIR.
# Installed as refguard-update-data(8), which DIR defaults to
# /var/lib/refguard/data, run daily by refguard-update-data.timer.
#
#   DIR/geo-whois-asn-country.mmdb  country by IP: the npm package
#       @ip-location-db/geo-whois-asn-country-mmdb (data by the NRO,
#       CC BY 4.0; merged by sapics/ip-location-db)
#   DIR/asn.mmdb  AS number and organisation by IP, built here by
#       contrib/asn2mmdb.pl from the CSV of the npm package
#       @ip-location-db/asn (RouteViews, NRO and DB-IP data, CC BY 4.0)
#   DIR/disposable.txt  disposable email domains, merged by
#       contrib/disposable-merge.js from the npm packages
#       disposable-email-domains (MIT), disposable-email-domains-js (the
#       community list disposable-email-domains/disposable-email-domains,
#       CC0) and @dahoom/disposable-email (MIT), less the domains of
#       contrib/disposable-allowlist.txt and the registry suffixes
#       (edu.pl, ac.uk) of the Public Suffix List's ICANN section, from
#       Debian's publicsuffix package
#
# Every file is written beside its final name, checked (a database is
# opened and known addresses looked up, a list must hold a plausible
# number of entries) and renamed into place, so a running refguardd
# never reads a half-written file; it picks the new ones up on its next
# reload (SIGHUP), or at once with -s SOCKET: when any file was replaced,
# "refguardctl -s SOCKET reload" asks the daemon listening there to
# reload (a daemon that is not running is no error; a reload that fails
# is, and the run is not a success). A file younger than a day is kept
# unless -f is given. After a run where every file is fresh or was
# replaced (and reloaded, with -s), DIR/last-success holds the time (Unix seconds;
# written beside and renamed too): refguardd reports its age
# (data_stamp_file, refguard.conf(5)).
#
# Quiet on success. Exit status: 0 when every file is fresh or was
# replaced; 1 when any could not be fetched or failed its checks (that
# file is left exactly as it was), or the daemon's reload failed; a line
# on stderr says which and why ("fetch-data.sh: error: ..."); 2 on bad usage. Needs npm, node,
# perl and Debian's libmaxmind-db-writer-perl (contrib/setup.sh deps).
set -u

prog=${0##*/}
# The installed command has these two lines rewritten by make.
helpers=$(cd "$(dirname "$0")" && pwd)
default_dir=
ctl=${REFGUARDCTL:-refguardctl}

usage() {
	echo "usage: $prog [-f] [-s SOCKET] ${default_dir:+[}DIR${default_dir:+]}" >&2
	[ -n "$default_dir" ] && echo "       DIR defaults to $default_dir" >&2
	exit 2
}
force=0
sock=
while getopts fs:h opt; do
	case $opt in
	f)	force=1 ;;
	s)	sock=$OPTARG ;;
	*)	usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ] && [ -n "$default_dir" ]; then
	set -- "$default_dir"
fi
[ $# -eq 1 ] || usage
dir=$1
here=$helpers
GEO_PKG=@ip-location-db/geo-whois-asn-country-mmdb
ASN_PKG=@ip-location-db/asn
DISP_PKGS="disposable-email-domains disposable-email-domains-js @dahoom/disposable-email"
# Plausibility floors: each is far below what the source holds today
# (ASN CSVs 412,000 and 103,000 rows; disposable lists 121,000, 8,800
# and 165,000 domains) and far above what a truncated file gives. The
# environment may lower them (the tests do, with small fixtures).
: "${FETCH_MIN_ASN_ROWS:=50000}"
: "${FETCH_MIN_DISPOSABLE:=50000 2000 50000}"
# Addresses whose network is known and stable; empty in the tests.
: "${FETCH_CHECK_ASN=8.8.8.8=15169 1.1.1.1=13335 2001:4860:4860::8888=15169}"
: "${FETCH_CHECK_COUNTRY=8.8.8.8=US}"
# Warn when the data is older than this (days).
STALE_DAYS=90
# The Public Suffix List (Debian's publicsuffix); the tests give their own.
: "${FETCH_PSL:=/usr/share/publicsuffix/public_suffix_list.dat}"

failed=0
replaced=0
err() {
	echo "$prog: error: $*" >&2
	failed=1
}
warn() {
	echo "$prog: warning: $*" >&2
}

# finish: the reload after a change, then the stamp after a good run (a
# reload that fails is a failed run: the daemon still serves the old data)
finish() {
	if [ "$replaced" -eq 1 ] && [ -n "$sock" ]; then
		if [ ! -S "$sock" ]; then
			warn "no daemon listens on $sock; it reads the new data when it starts"
		else
			out=$("$ctl" -s "$sock" reload 2>&1)
			rc=$?
			# 3: refguardctl cannot reach a daemon there
			if [ "$rc" -eq 3 ]; then
				warn "no daemon answers on $sock; it reads the new data when it starts"
			elif [ "$rc" -ne 0 ]; then
				err "the data was replaced but the reload failed, the daemon keeps the old data: $(echo "$out" | head -n 3 | tr '\n' ' ')"
			fi
		fi
	fi
	if [ "$failed" -eq 0 ]; then
		if ! { date +%s >"$dir/last-success.tmp.$$" &&
		    mv -f "$dir/last-success.tmp.$$" "$dir/last-success"; } 2>/dev/null; then
			rm -f "$dir/last-success.tmp.$$"
			err "cannot write $dir/last-success"
		fi
	fi
	exit $failed
}

# fresh FILE: exists, not empty and younger than a day
fresh() {
	[ "$force" -eq 0 ] && [ -s "$1" ] && [ -n "$(find "$1" -mmin -1440 2>/dev/null)" ]
}

if fresh "$dir/geo-whois-asn-country.mmdb" && fresh "$dir/asn.mmdb" &&
    fresh "$dir/disposable.txt"; then
	finish
fi
for t in npm node perl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		err "$t not found; nothing fetched (contrib/setup.sh deps installs what is needed)"
		exit 1
	fi
done
if ! mkdir -p "$dir" 2>/dev/null; then
	err "cannot create $dir; nothing fetched"
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/refguard-fetch.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

to=
command -v timeout >/dev/null 2>&1 && to="timeout 600"

# unpack PKG NAME: npm pack PKG (npm checks the tarball's integrity) and
# unpack it into $work/NAME/package
unpack() {
	if ! (cd "$work" && $to npm pack --silent --fetch-retries=1 \
	    --fetch-timeout=30000 "$1" >"$work/$2.out" 2>"$work/$2.err"); then
		echo "npm pack $1 failed: $(grep -v '^npm error A complete log' \
		    "$work/$2.err" | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	tgz=$(tail -n 1 "$work/$2.out")
	if ! mkdir "$work/$2" || ! tar -xzf "$work/$tgz" -C "$work/$2" 2>"$work/$2.err"; then
		echo "cannot unpack $tgz from $1: $(head -n 1 "$work/$2.err")"
		return 1
	fi
}

# version NAME: the unpacked package's version
version() {
	node -e 'process.stdout.write(String(require(process.argv[1]).version))' \
	    "$work/$1/package/package.json" 2>/dev/null
}

# data_epoch VERSION: the data date ip-location-db writes into its
# versions (2.3.2026061719: 2026-06-17 19:00 UTC); now if there is none
data_epoch() {
	node -e 'const m = /(\d{4})(\d{2})(\d{2})(\d{2})$/.exec(process.argv[1]);
	    process.stdout.write(String(Math.floor((m ? Date.UTC(m[1], m[2] - 1,
	    m[3], m[4]) : Date.now()) / 1000)))' "$1"
}

# stale WHAT EPOCH: warn when the data is older than STALE_DAYS
stale() {
	age=$(( ($(date +%s) - $2) / 86400 ))
	if [ "$age" -gt "$STALE_DAYS" ]; then
		warn "$1 data is $age days old: ip-location-db stopped updating its npm packages in 2026; for current data use MaxMind GeoLite2 (docs/identity.md)"
	fi
}

# check_mmdb FILE IP=VALUE...: the file opens as a MaxMind DB with a
# search tree, and each IP's record has the country code or AS number
check_mmdb() {
	perl -e '
		use strict; use warnings;
		my $f = shift;
		eval { require MaxMind::DB::Reader; 1 } or die "MaxMind::DB::Reader is not installed (Debian: libmaxmind-db-reader-perl)\n";
		my $r = eval { MaxMind::DB::Reader->new(file => $f) } or die "not a MaxMind DB: $@";
		die "no search tree\n" if $r->metadata->node_count == 0;
		for (@ARGV) {
			my ($ip, $want) = split /=/;
			my $d = $r->record_for_address($ip) // {};
			my $got = $d->{country_code} // ($d->{country} // {})->{iso_code} //
			    $d->{autonomous_system_number} // "nothing";
			die "$ip gives $got, expected $want\n" if $got ne $want;
		}' "$@" 2>&1
}

# install SRC DEST: copy SRC beside DEST, then rename it over DEST
install_file() {
	if ! cp "$1" "$2.tmp.$$" 2>"$work/cp.err" || ! mv -f "$2.tmp.$$" "$2" 2>>"$work/cp.err"; then
		rm -f "$2.tmp.$$"
		echo "cannot write $2: $(head -n 1 "$work/cp.err")"
		return 1
	fi
}

fetch_country() {
	unpack "$GEO_PKG" geo || return 1
	mmdb="$work/geo/package/geo-whois-asn-country.mmdb"
	# shellcheck disable=SC2086
	why=$(check_mmdb "$mmdb" $FETCH_CHECK_COUNTRY) ||
	    { echo "$GEO_PKG: geo-whois-asn-country.mmdb: $why"; return 1; }
	install_file "$mmdb" "$dir/geo-whois-asn-country.mmdb" || return 1
	stale "country" "$(data_epoch "$(version geo)")"
}

fetch_asn() {
	unpack "$ASN_PKG" asn || return 1
	ver=$(version asn)
	epoch=$(data_epoch "$ver")
	checks=
	for c in $FETCH_CHECK_ASN; do
		checks="$checks -c $c"
	done
	# asn2mmdb.pl writes beside asn.mmdb, checks and renames itself.
	# shellcheck disable=SC2086
	why=$(perl "$here/asn2mmdb.pl" -m "$FETCH_MIN_ASN_ROWS" -e "$epoch" \
	    -d "AS numbers and organisations from $ASN_PKG $ver (RouteViews, NRO, DB-IP; CC BY 4.0)" \
	    $checks "$dir/asn.mmdb" "$work/asn/package/asn-ipv4.csv" \
	    "$work/asn/package/asn-ipv6.csv" 2>&1) ||
	    { echo "$ASN_PKG $ver: $why"; return 1; }
	stale "ASN" "$epoch"
}

fetch_disposable() {
	# shellcheck disable=SC2086
	set -- $FETCH_MIN_DISPOSABLE
	min_ddd=$1 min_js=$2 min_dahoom=$3
	i=0
	for p in $DISP_PKGS; do
		i=$((i + 1))
		unpack "$p" "disp$i" || return 1
	done
	d1="$work/disp1/package" d2="$work/disp2/package" d3="$work/disp3/package"
	if [ -r "$FETCH_PSL" ]; then
		set -- --psl "$FETCH_PSL"
	else
		set --
		warn "$FETCH_PSL: no Public Suffix List (install publicsuffix):" \
		    "registry suffixes such as edu.pl stay in disposable.txt"
	fi
	node "$here/disposable-merge.js" "$@" "$here/disposable-allowlist.txt" \
	    "$dir/disposable.txt" \
	    "disposable-email-domains@$(version disp1):$min_ddd:$d1/index.json,$d1/wildcard.json" \
	    "disposable-email-domains-js@$(version disp2):$min_js:$d2/dist/dict/disposable_email_blocklist.json" \
	    "@dahoom/disposable-email@$(version disp3):$min_dahoom:$d3/domains.json" 2>&1
}

# update FILE FUNCTION: unless FILE is fresh, run FUNCTION, which prints
# why it failed on stdout (warnings go to stderr as they come)
update() {
	fresh "$dir/$1" && return 0
	if why=$($2); then
		replaced=1
	else
		err "$1 not updated, the old file is kept: $why"
	fi
}

update geo-whois-asn-country.mmdb fetch_country
update asn.mmdb fetch_asn
update disposable.txt fetch_disposable
finish
