#!/bin/sh
# fetch-data.sh [-f] DIR: fetch refguard's optional open data into DIR.
#
#   DIR/geo-whois-asn-country.mmdb  country by IP, from the npm package
#       @ip-location-db/geo-whois-asn-country-mmdb (CC BY 4.0, data by the
#       NRO, nro.net; merged by sapics/ip-location-db)
#   DIR/disposable.txt  disposable email domains, one a line, from the npm
#       package disposable-email-domains (CC0)
#
# The data is optional, so this never fails a build or a start: without
# npm or network it warns on stderr and exits 0. It is quiet on success
# and idempotent: files younger than a day are kept unless -f is given;
# new files replace old ones atomically (rename), so a running refguardd
# picks them up on its next reload (SIGHUP).
set -u

force=0
if [ "${1:-}" = "-f" ]; then
	force=1
	shift
fi
if [ $# -ne 1 ]; then
	echo "usage: fetch-data.sh [-f] DIR" >&2
	exit 2
fi
dir=$1
GEO_PKG=@ip-location-db/geo-whois-asn-country-mmdb
DISP_PKG=disposable-email-domains

warn() {
	echo "fetch-data.sh: warning: $*" >&2
}

# fresh FILE: exists, not empty and younger than a day
fresh() {
	[ "$force" -eq 0 ] && [ -s "$1" ] && [ -n "$(find "$1" -mmin -1440 2>/dev/null)" ]
}

if fresh "$dir/geo-whois-asn-country.mmdb" && fresh "$dir/disposable.txt"; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	warn "npm or node not found; optional GeoIP and disposable-domain data not fetched"
	exit 0
fi
if ! mkdir -p "$dir" 2>/dev/null; then
	warn "cannot create $dir; optional data not fetched"
	exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/refguard-fetch.XXXXXX") || exit 0
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

to=
command -v timeout >/dev/null 2>&1 && to="timeout 300"

# unpack PKG NAME: npm pack PKG and unpack it into $work/NAME
unpack() {
	if ! (cd "$work" && $to npm pack --silent --fetch-retries=1 \
	    --fetch-timeout=30000 "$1" >"$work/$2.out" 2>"$work/$2.err"); then
		warn "npm pack $1 failed ($(tail -n 1 "$work/$2.err" 2>/dev/null)); skipped"
		return 1
	fi
	tgz=$(tail -n 1 "$work/$2.out")
	if ! { mkdir "$work/$2" && tar -xzf "$work/$tgz" -C "$work/$2"; } 2>/dev/null; then
		warn "cannot unpack $tgz; skipped"
		return 1
	fi
}

# install SRC DEST: replace DEST atomically
install_file() {
	if ! { cp "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }; then
		rm -f "$2.tmp.$$"
		warn "cannot write $2"
		return 1
	fi
}

if ! fresh "$dir/geo-whois-asn-country.mmdb" && unpack "$GEO_PKG" geo; then
	mmdb="$work/geo/package/geo-whois-asn-country.mmdb"
	# An MMDB ends with its metadata after this marker.
	if [ -s "$mmdb" ] && LC_ALL=C grep -q 'MaxMind.com' "$mmdb"; then
		install_file "$mmdb" "$dir/geo-whois-asn-country.mmdb"
	else
		warn "$GEO_PKG has no usable geo-whois-asn-country.mmdb; skipped"
	fi
fi

if ! fresh "$dir/disposable.txt" && unpack "$DISP_PKG" disp; then
	# index.json and wildcard.json are JSON arrays of domains; keep only
	# well-formed names so that refguardd never refuses the list.
	if node -e '
		const fs = require("fs"), p = process.argv[1], out = new Set();
		const ok = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
		for (const f of ["index.json", "wildcard.json"]) {
			if (!fs.existsSync(p + "/" + f)) continue;
			for (const d of JSON.parse(fs.readFileSync(p + "/" + f)))
				if (typeof d === "string" && ok.test(d.trim().toLowerCase()))
					out.add(d.trim().toLowerCase());
		}
		if (out.size === 0) process.exit(1);
		process.stdout.write([...out].sort().join("\n") + "\n");
	    ' "$work/disp/package" >"$work/disposable.txt" 2>/dev/null; then
		install_file "$work/disposable.txt" "$dir/disposable.txt"
	else
		warn "$DISP_PKG: no domain list found; skipped"
	fi
fi
exit 0
