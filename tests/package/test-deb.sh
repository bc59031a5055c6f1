#!/bin/sh
# test-deb.sh: the Debian package, built, inspected, installed on this
# machine and removed again. For CI (contrib/setup.sh package): it needs
# root and installs into the live system, so make check never runs it.
#
#   1. dpkg-buildpackage -us -uc -b from a copy of the source tree
#   2. dpkg -c: the files are where Debian and refguard.rules(5) say
#      (shipped rules in /usr/share/refguard/rules, none in /etc, the
#      conffiles refguard.conf and the data drop-in); lintian --fail-on
#      error,warning
#   3. apt-get install ./refguard_*.deb: the user exists (sysusers.d), the
#      socket and the data timer are enabled; refguardctl ping answers on
#      /run/refguard/refguard.sock, through the socket unit when systemd
#      runs, else from the installed refguardd with the installed
#      configuration, run as user refguard
#   4. remove keeps the state and the configuration; purge removes them
#
# Exit 0 passed, 1 failed, 77 skipped (not root, or no dpkg-buildpackage).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
sock=/run/refguard/refguard.sock
pid=

say() { echo "test-deb: $*"; }
fail() {
	say "FAIL: $*"
	exit 1
}
ok() { say "ok   $*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "SKIP: needs root (it installs the package)"
	exit 77
fi
for t in dpkg-buildpackage dh lintian apt-get; do
	if ! command -v "$t" >/dev/null 2>&1; then
		say "SKIP: $t not found (contrib/setup.sh package installs it)"
		exit 77
	fi
done
if dpkg-query -W -f='${Status}' refguard 2>/dev/null | grep -q installed; then
	fail "refguard is installed already; this test installs and purges it"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rg-deb.XXXXXX") || exit 99
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if dpkg-query -W -f='${Status}' refguard 2>/dev/null |
	    grep -q 'ok \(installed\|config-files\|half\)'; then
		say "purging the package left behind by a failure"
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq refguard \
		    >/dev/null 2>&1
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- 1. build -------------------------------------------------------------
# From a copy: the build autoreconfs and writes debian/build in its tree.
mkdir "$work/src"
if [ -d "$top/.git" ] || [ -f "$top/.git" ]; then
	(cd "$top" && git ls-files -co --exclude-standard | grep -v '^build' |
	    tar -cf - -T -) | tar -xf - -C "$work/src"
else
	(cd "$top" && tar -cf - --exclude='./build*' --exclude=./run .) |
	    tar -xf - -C "$work/src"
fi
say "building (log: $work/build.log)"
if ! (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -40 "$work/build.log"
	fail "dpkg-buildpackage -us -uc -b"
fi
deb=$(ls "$work"/refguard_*.deb)
[ -f "$deb" ] || fail "no refguard_*.deb built"
ok "dpkg-buildpackage -us -uc -b: $(basename "$deb")"

# ---- 2. inspect -----------------------------------------------------------
dpkg -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/files"
for f in /usr/sbin/refguardd /usr/bin/refguardctl /usr/sbin/refguard-update-data \
    /lib/systemd/system/refguard.service /lib/systemd/system/refguard.socket \
    /lib/systemd/system/refguard-update-data.service \
    /lib/systemd/system/refguard-update-data.timer \
    /usr/lib/sysusers.d/refguard.conf /usr/lib/tmpfiles.d/refguard.conf \
    /usr/share/refguard/rules/00-verdict.rules \
    /usr/share/refguard/rules/hosting-asn.list \
    /usr/share/refguard/rules/free-mail.list \
    /usr/share/refguard/ui/index.html /usr/share/refguard/ui/console.js \
    /usr/share/refguard/updater/asn2mmdb.pl \
    /usr/share/refguard/updater/disposable-merge.js \
    /usr/share/refguard/updater/disposable-allowlist.txt \
    /usr/share/doc/refguard/copyright /usr/share/doc/refguard/operations.md.gz \
    /usr/share/doc/refguard/examples/clients/python/refguard_check.py \
    /usr/share/man/man8/refguardd.8.gz /usr/share/man/man8/refguardctl.8.gz \
    /usr/share/man/man8/refguard-update-data.8.gz \
    /usr/share/man/man5/refguard.conf.5.gz /usr/share/man/man5/refguard.rules.5.gz \
    /usr/share/bash-completion/completions/refguardctl \
    /etc/refguard/refguard.conf /etc/refguard/rules.d/ \
    /etc/refguard/conf.d/50-data.conf; do
	grep -qxF "$f" "$work/files" || fail "dpkg -c: $f missing"
done
grep '^/etc/refguard/rules.d/.' "$work/files" &&
    fail "dpkg -c: shipped rules in /etc/refguard/rules.d (they belong in /usr/share/refguard/rules)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles >"$work/conffiles" 2>/dev/null
printf '%s\n' /etc/refguard/conf.d/50-data.conf /etc/refguard/refguard.conf \
    >"$work/conffiles.want"
sort "$work/conffiles" | cmp -s - "$work/conffiles.want" ||
    fail "conffiles: want refguard.conf and conf.d/50-data.conf, got: $(cat "$work/conffiles")"
ok "dpkg -c: binaries, units, sysusers.d, rules and the web console in /usr/share, docs, examples, man pages"
# The user is made before its directories (it may exist here already, so
# the maintainer script is read, not only its effect).
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./postinst >"$work/postinst"
sysusers=$(grep -n 'systemd-sysusers .*refguard.conf' "$work/postinst" | cut -d: -f1)
tmpfiles=$(grep -n 'systemd-tmpfiles .*--create refguard.conf' "$work/postinst" | cut -d: -f1)
[ -n "$sysusers" ] || fail "postinst does not run systemd-sysusers refguard.conf"
[ -n "$tmpfiles" ] && [ "$sysusers" -lt "$tmpfiles" ] ||
    fail "postinst: systemd-tmpfiles before systemd-sysusers (or missing)"
ok "postinst: sysusers.d user, then tmpfiles.d directories"

if ! lintian --fail-on error,warning "$work"/refguard_*.changes >"$work/lintian" 2>&1; then
	cat "$work/lintian"
	fail "lintian --fail-on error,warning"
fi
ok "lintian --fail-on error,warning"

# ---- 3. install -----------------------------------------------------------
# No recommends: the updater's npm and node are not needed to serve.
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "$deb" >"$work/install.log" 2>&1; then
	cat "$work/install.log"
	fail "apt-get install $(basename "$deb")"
fi
ok "installed"
getent passwd refguard >/dev/null || fail "no user refguard (sysusers.d)"
[ "$(stat -c %U /var/lib/refguard 2>/dev/null)" = refguard ] ||
    fail "/var/lib/refguard missing or not owned by refguard (tmpfiles.d)"
for u in sockets.target.wants/refguard.socket \
    timers.target.wants/refguard-update-data.timer; do
	[ -L "/etc/systemd/system/$u" ] || fail "$u is not enabled"
done
[ -e /etc/systemd/system/multi-user.target.wants/refguard.service ] &&
    fail "refguard.service is enabled: the socket starts it"
ok "user refguard, state directory, socket and timer enabled"

ctl() { timeout 30 refguardctl -s "$sock" "$@"; }

if [ -d /run/systemd/system ]; then
	systemctl is-active --quiet refguard.socket || fail "refguard.socket is not active"
	systemctl is-active --quiet refguard-update-data.timer ||
	    fail "refguard-update-data.timer is not active"
	out=$(ctl ping 2>&1) || fail "refguardctl ping through the socket unit: $out"
	systemctl is-active --quiet refguard.service ||
	    fail "refguard.service did not start on the first connection"
	ok "refguardctl ping through refguard.socket: $out"
else
	# No systemd: the installed binary, the installed configuration, as
	# the unit would run it (user refguard, in the tmpfiles.d directories).
	say "systemd is not running: starting /usr/sbin/refguardd by hand"
	command -v setpriv >/dev/null || fail "setpriv (util-linux) not found"
	refguardd -t -c /etc/refguard/refguard.conf >"$work/t.log" 2>&1 || {
		cat "$work/t.log"
		fail "refguardd -t with the installed configuration"
	}
	setpriv --reuid=refguard --regid=refguard --init-groups \
	    refguardd -f -c /etc/refguard/refguard.conf >"$work/d.log" 2>&1 &
	pid=$!
	# Ready means it answers: ask until it does or has exited.
	n=0
	until out=$(ctl ping 2>&1); do
		kill -0 "$pid" 2>/dev/null || {
			cat "$work/d.log"
			fail "refguardd exited: $out"
		}
		n=$((n + 1))
		[ "$n" -lt 300 ] || fail "refguardctl ping never answered: $out"
		sleep 0.1
	done
	ok "refguardctl ping through the installed binary: $out"
fi
st=$(ctl --json stats) || fail "stats: $st"
echo "$st" | grep -q '"path": *"/usr/share/refguard/rules /etc/refguard/rules.d"' ||
    fail "stats: the rules are not the shipped and local directories: $st"
ok "the daemon serves the shipped rules merged with /etc/refguard/rules.d"
echo "$st" | grep -q '"stamp_file": *"/var/lib/refguard/data/last-success"' ||
    fail "stats: no data updater stamp from conf.d/50-data.conf: $st"
ok "the data drop-in is read (optional files absent before the first fetch)"

# Fresh data: the installed updater as its unit runs it (user refguard,
# npm's cache in /var/cache/refguard), then the daemon it asked to reload
# serves the new files. Needs node, npm and the npm registry.
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	say "SKIP fresh data: npm or node not installed (contrib/setup.sh data installs them)"
elif ! timeout 60 npm ping >/dev/null 2>&1; then
	say "SKIP fresh data: the npm registry cannot be reached"
else
	install -d -o refguard -g refguard -m 0700 /var/cache/refguard
	reloads=$(echo "$st" | sed -n 's/.*"reloads": *\([0-9]*\).*/\1/p' | head -1)
	(cd / && setpriv --reuid=refguard --regid=refguard --init-groups \
	    env HOME=/var/cache/refguard npm_config_cache=/var/cache/refguard/npm \
	    npm_config_update_notifier=false \
	    /usr/sbin/refguard-update-data -s "$sock") >"$work/update.log" 2>&1 || {
		cat "$work/update.log"
		fail "refguard-update-data as user refguard"
	}
	for f in geo-whois-asn-country.mmdb asn.mmdb disposable.txt last-success; do
		[ -s "/var/lib/refguard/data/$f" ] ||
		    fail "refguard-update-data: /var/lib/refguard/data/$f missing or empty"
	done
	# The updater's reload is a request the daemon answered: stats after
	# it show the new data (no waiting).
	st=$(ctl --json stats) || fail "stats: $st"
	now=$(echo "$st" | sed -n 's/.*"reloads": *\([0-9]*\).*/\1/p' | head -1)
	[ -n "$reloads" ] && [ "$now" -gt "$reloads" ] ||
	    fail "refguard-update-data did not reload the daemon (reloads $reloads -> $now)"
	for f in geo-whois-asn-country.mmdb asn.mmdb disposable.txt; do
		echo "$st" | grep -q "/var/lib/refguard/data/$f" ||
		    fail "stats: the daemon does not serve $f after the update: $st"
	done
	echo "$st" | grep -q '"last_success": *"' ||
	    fail "stats: no updater last success after the update: $st"
	ok "refguard-update-data: country, ASN and disposable data fetched, checked, served after its reload"
fi
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	wait "$pid" || fail "refguardd exited $? on TERM"
	pid=
fi
/usr/sbin/refguard-update-data -h >/dev/null 2>&1
[ $? -eq 2 ] || fail "refguard-update-data -h does not print its usage"

# ---- 4. remove, purge -----------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq refguard >"$work/rm.log" 2>&1 ||
    { cat "$work/rm.log"; fail "apt-get remove"; }
for f in /usr/sbin/refguardd /usr/bin/refguardctl /usr/share/refguard \
    /lib/systemd/system/refguard.socket; do
	[ -e "$f" ] && fail "remove left $f"
done
[ -d /var/lib/refguard ] || fail "remove deleted the state in /var/lib/refguard"
[ -f /etc/refguard/refguard.conf ] || fail "remove deleted /etc/refguard/refguard.conf"
ok "remove: the programs go, the state and the configuration stay"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq refguard >"$work/rm.log" 2>&1 ||
    { cat "$work/rm.log"; fail "apt-get purge"; }
for f in /var/lib/refguard /var/cache/refguard /etc/refguard \
    /etc/systemd/system/sockets.target.wants/refguard.socket \
    /etc/systemd/system/timers.target.wants/refguard-update-data.timer; do
	[ -e "$f" ] || [ -L "$f" ] && fail "purge left $f"
done
left=$(find /etc /usr /lib /var/lib /var/cache -path /usr/local -prune -o \
    -name '*refguard*' -print 2>/dev/null)
[ -z "$left" ] || fail "purge left: $left"
ok "purge: nothing left but the user refguard (sysusers.d users stay)"
say "PASS"
