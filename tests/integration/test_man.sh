#!/bin/sh
# The manual pages must lint clean: `mandoc -Tlint -W warning` over
# man/*.5 and man/*.8 may only report the cross-references it cannot
# resolve here ("referenced manual not found") and a stale mandoc.db.
# Skips (77) when mandoc is not installed.

srcdir=${top_srcdir:-${0%/*}/../..}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "SKIP: mandoc not installed"
	exit 77
fi

pass=0 fail=0
for page in "$srcdir"/man/*.5 "$srcdir"/man/*.8; do
	[ -f "$page" ] || continue
	out=$(mandoc -Tlint -W warning "$page" 2>&1 \
		| grep -v -e 'referenced manual not found' -e 'outdated mandoc.db')
	if [ -n "$out" ]; then
		echo "FAIL $(basename "$page"):"
		printf '%s\n' "$out" | sed 's/^/  | /'
		fail=$((fail + 1))
	else
		echo "ok   $(basename "$page")"
		pass=$((pass + 1))
	fi
done
if [ $((pass + fail)) -eq 0 ]; then
	echo "FAIL no manual pages found in $srcdir/man"
	fail=1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
