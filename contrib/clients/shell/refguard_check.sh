#!/bin/sh
# refguard_check.sh: ask refguard before granting a referral reward.
#
# POSIX sh and socat (no jq). Records the referee's signup (observe), then
# asks for a verdict on the referral (check), and acts on the answer:
#   allow -> grant the reward, review -> queue for manual review,
#   deny -> refuse the reward.
#
# Usage: refguard_check.sh [-s SOCKET] [--id ID]
#   [--referrer-account A] [--referrer-email E] [--referrer-ip IP]
#   [--referrer-device ID] [--referee-account A] [--referee-email E]
#   [--referee-ip IP] [--referee-device ID] [--amount N] [--currency C]
# SOCKET defaults to $REFGUARD_SOCKET, then /run/refguard/refguard.sock.
#
# Exit status: 0 a decision was made, 1 an error reply (code, field and msg
# printed), 2 usage, 3 refguard unreachable (after one retry).
#
# Retries: check is idempotent by id, so after a connection error it is
# resent once with the same id (the stored verdict comes back if the first
# attempt was committed). observe has no id: it is resent only when socat
# could not connect, so nothing of it was sent.
#
# The replies are picked apart with sed, which is enough for the flat
# fields used here; use a real JSON parser for anything more.

set -u

sock=${REFGUARD_SOCKET:-/run/refguard/refguard.sock}
id=demo-ref-1
referrer_account=demo-u-17 referrer_email=jane.doe@example.com
referrer_ip=81.2.69.160 referrer_device=demo-dev-17
referee_account=demo-u-9001 referee_email=john.roe@example.org
referee_ip=198.51.100.23 referee_device=demo-dev-9001
amount=10 currency=EUR

usage() {
	echo "usage: $0 [-s SOCKET] [--id ID] [--referrer-account A] [--referrer-email E] [--referrer-ip IP] [--referrer-device ID] [--referee-...] [--amount N] [--currency C]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	-s|--socket) sock=$2 ;;
	--id) id=$2 ;;
	--referrer-account) referrer_account=$2 ;;
	--referrer-email) referrer_email=$2 ;;
	--referrer-ip) referrer_ip=$2 ;;
	--referrer-device) referrer_device=$2 ;;
	--referee-account) referee_account=$2 ;;
	--referee-email) referee_email=$2 ;;
	--referee-ip) referee_ip=$2 ;;
	--referee-device) referee_device=$2 ;;
	--amount) amount=$2 ;;
	--currency) currency=$2 ;;
	*) usage ;;
	esac
	shift 2
done

command -v socat >/dev/null 2>&1 || { echo "$0: socat not found" >&2; exit 3; }
case $amount in
''|*[!0-9.]*|*.*.*) echo "$0: --amount must be a number" >&2; exit 2 ;;
esac

# A JSON string: backslashes and quotes escaped; control characters are
# refused (refguard refuses them in identifiers anyway).
jstr() {
	case $1 in
	*[[:cntrl:]]*) echo "$0: control character in argument" >&2; exit 2 ;;
	esac
	printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"
}

# The fields of a party, without braces: account, then email, ip, device
# when given.
party() {	# account email ip device
	printf '"account":%s' "$(jstr "$1")"
	[ -n "$2" ] && printf ',"email":%s' "$(jstr "$2")"
	[ -n "$3" ] && printf ',"ip":%s' "$(jstr "$3")"
	[ -n "$4" ] && printf ',"device":{"id":%s}' "$(jstr "$4")"
	return 0
}

referrer=$(party "$referrer_account" "$referrer_email" "$referrer_ip" "$referrer_device") || exit 2
referee=$(party "$referee_account" "$referee_email" "$referee_ip" "$referee_device") || exit 2
observe="{\"op\":\"observe\",\"kind\":\"signup\",$referee}"
check="{\"op\":\"check\",\"id\":$(jstr "$id"),\"referrer\":{$referrer},\"referee\":{$referee},\"reward\":{\"amount\":$amount,\"currency\":$(jstr "$currency")}}"

tmp=$(mktemp -d) || exit 3
trap 'rm -rf "$tmp"' EXIT
trap 'exit 3' HUP INT TERM

# send LINES...: one connection; the replies go to $tmp/out, socat's
# complaints to $tmp/err. -t 10: wait up to 10 s for the replies after
# our input ends (the default 0.5 s is too short for a busy daemon).
send() {
	printf '%s\n' "$@" | socat -t 10 - "UNIX-CONNECT:$sock" >"$tmp/out" 2>"$tmp/err"
}

# field NAME < line: the string value of the first "NAME":"..." in it.
field() {
	sed -n 's/.*"'"$1"'":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | head -n 1
}

attempt=0
todo=both
while :; do
	attempt=$((attempt + 1))
	if [ $todo = both ]; then
		send "$observe" "$check"; rc=$?; want=2
	else
		send "$check"; rc=$?; want=1
	fi
	got=$(wc -l <"$tmp/out")
	[ "$rc" -eq 0 ] && [ "$got" -ge $want ] && break
	# An error reply before the end (too_many_connections, line_too_long)
	# closes the connection: report it rather than retry blindly.
	grep -q '"error"' "$tmp/out" && break
	if [ $attempt -ge 2 ]; then
		echo "refguard unreachable: $sock: $(tail -n 1 "$tmp/err")" >&2
		exit 3
	fi
	# Could not connect: nothing was sent, send both again. Otherwise the
	# observe may have been stored: resend only the check (same id).
	grep -q 'connect(' "$tmp/err" || todo=check
	sleep 1
done

# An error reply anywhere (the observe's first): report it.
err=$(grep -m 1 '"error"' "$tmp/out")
if [ -n "$err" ]; then
	code=$(printf '%s\n' "$err" | field code)
	fld=$(printf '%s\n' "$err" | field field)
	msg=$(printf '%s\n' "$err" | field msg)
	echo "refguard error: code=$code field=${fld:--} msg=$msg" >&2
	exit 1
fi

v=$(tail -n 1 "$tmp/out")
action=$(printf '%s\n' "$v" | field action)
score=$(printf '%s\n' "$v" | sed -n 's/.*"score":\(-\{0,1\}[0-9]*\).*/\1/p' | head -n 1)
vid=$(printf '%s\n' "$v" | field id)
case $action in
allow) what=grant ;;
review) what=queue ;;
deny) what=refuse ;;
*) echo "unexpected reply: $v" >&2; exit 1 ;;
esac
echo "$vid: $what (action=$action score=$score)"
# The reasons: each {"rule":..,"action":..,"score":..[,"msg":..]} object of
# the "reasons" array, one per line.
printf '%s\n' "$v" | sed -e 's/.*"reasons":\[//' -e 's/\],"shadow".*//' \
	| sed 's/},{/}\n{/g' | while IFS= read -r r; do
	[ -n "$r" ] || continue
	rule=$(printf '%s\n' "$r" | field rule)
	ract=$(printf '%s\n' "$r" | field action)
	rsc=$(printf '%s\n' "$r" | sed -n 's/.*"score":\(-\{0,1\}[0-9]*\).*/\1/p')
	rmsg=$(printf '%s\n' "$r" | field msg)
	case $rsc in -*) ;; *) rsc=+$rsc ;; esac
	echo "  reason: $rule $ract $rsc${rmsg:+: $rmsg}"
done
case $what in
grant) echo "granting the reward of $amount $currency" ;;
queue) echo "queued for manual review" ;;
refuse) echo "refusing the reward" ;;
esac
exit 0
