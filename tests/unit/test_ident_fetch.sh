#!/bin/sh
# test_ident_fetch.sh: contrib/fetch-data.sh fails softly (exit 0 and a
# warning) without npm, and refuses bad usage. Needs no network.
set -u
script="${top_srcdir:-.}/contrib/fetch-data.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rg-fetch-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# a PATH with the basic tools but no npm/node
mkdir "$tmp/bin"
for t in sh find mkdir mktemp rm cat tail dirname; do
	p=$(command -v "$t") && ln -s "$p" "$tmp/bin/$t"
done
PATH="$tmp/bin" sh "$script" "$tmp/data" 2>"$tmp/err"
rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: exit $rc without npm (want 0)"
	exit 1
fi
if ! grep -q "warning: npm or node not found" "$tmp/err"; then
	echo "FAIL: no warning without npm:"
	cat "$tmp/err"
	exit 1
fi
sh "$script" >/dev/null 2>&1
if [ $? -ne 2 ]; then
	echo "FAIL: no usage error without DIR"
	exit 1
fi
# fresh files are kept without touching npm or the network
mkdir "$tmp/data"
echo x >"$tmp/data/geo-whois-asn-country.mmdb"
echo mailinator.com >"$tmp/data/disposable.txt"
if ! PATH="$tmp/bin" sh "$script" "$tmp/data" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
	echo "FAIL: fresh files not kept quietly"
	cat "$tmp/err"
	exit 1
fi
echo "PASS: fetch-data.sh fails softly and is idempotent"
exit 0
