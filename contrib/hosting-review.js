#!/usr/bin/env node
// hosting-review.js [-v] [CSVDIR]: review rules/hosting-asn.list and
// rules/hosting-org.list against AS data, to refresh them by hand.
//
// CSVDIR holds asn-ipv4.csv and asn-ipv6.csv of the npm package
// @ip-location-db/asn; without it the newest package is fetched with
// npm pack into a temporary directory. Prints:
//   - listed numbers that are gone from the data, or whose organisation
//     is no longer the one written above them in hosting-asn.list;
//   - for each pattern of hosting-org.list, how many networks and IPv4
//     addresses it matches (-v: and their names);
//   - the 40 largest networks matched by a pattern but not listed by
//     number: candidates for hosting-asn.list.
// Changes nothing: decide, edit the lists, say why in the commit.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const top = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const verbose = args[0] === '-v' && args.shift() !== undefined;
let dir = args[0], tmp = null;
if (dir === undefined) {
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refguard-review.'));
	const tgz = execFileSync('npm', ['pack', '--silent',
	    '@ip-location-db/asn'], { cwd: tmp }).toString().trim().split('\n').pop();
	execFileSync('tar', ['-xzf', tgz], { cwd: tmp });
	dir = path.join(tmp, 'package');
	const v = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).version;
	console.log(`data: @ip-location-db/asn ${v}`);
}

// One CSV line: start,end,asn,organisation (maybe quoted).
function parse(line) {
	const m = /^([^,]+),([^,]+),(\d+),(?:"((?:[^"]|"")*)"|([^,]*))$/.exec(line);
	return m && { start: m[1], end: m[2], asn: Number(m[3]),
	    org: m[4] !== undefined ? m[4].replace(/""/g, '"') : m[5] };
}
function v4(a) {
	return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

const org = new Map(), size = new Map();
for (const f of ['asn-ipv4.csv', 'asn-ipv6.csv']) {
	for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
		const r = parse(line);
		if (!r)
			continue;
		if (!org.has(r.asn))
			org.set(r.asn, r.org);
		if (f === 'asn-ipv4.csv')
			size.set(r.asn, (size.get(r.asn) || 0) + v4(r.end) - v4(r.start) + 1);
	}
}
if (tmp !== null)
	fs.rmSync(tmp, { recursive: true, force: true });

// hosting-asn.list: "# N: organisation" above each number N.
const listed = new Map();
let said = null;
for (const line of fs.readFileSync(path.join(top, 'rules/hosting-asn.list'),
    'utf8').split('\n')) {
	const c = /^# (\d+): (.*)$/.exec(line);
	if (c)
		said = [Number(c[1]), c[2]];
	else if (/^\d+$/.test(line.trim())) {
		const n = Number(line.trim());
		listed.set(n, said && said[0] === n ? said[1] : null);
	}
}
console.log(`\nhosting-asn.list: ${listed.size} numbers`);
let quiet = true;
for (const [n, was] of listed) {
	if (!org.has(n)) {
		console.log(`  GONE     ${n} (was: ${was})`);
		quiet = false;
	} else if (was !== org.get(n)) {
		console.log(`  CHANGED  ${n}: now "${org.get(n)}", the list says "${was}"`);
		quiet = false;
	}
}
if (quiet)
	console.log('  every number is in the data under the organisation written above it');

const pats = fs.readFileSync(path.join(top, 'rules/hosting-org.list'), 'utf8')
    .split('\n').map(l => l.trim()).filter(l => l !== '' && l[0] !== '#');
const re = p => new RegExp('^' + p.split('*').map(s =>
    s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i');
console.log(`\nhosting-org.list: ${pats.length} patterns`);
const matched = new Set();
for (const p of pats) {
	const r = re(p), hits = [...org].filter(([, o]) => r.test(o));
	hits.forEach(([n]) => matched.add(n));
	const ips = hits.reduce((s, [n]) => s + (size.get(n) || 0), 0);
	console.log(`  ${p.padEnd(20)} ${String(hits.length).padStart(5)} networks, ${ips} IPv4 addresses`);
	if (verbose)
		hits.forEach(([n, o]) => console.log(`      ${n}: ${o}`));
}

console.log('\nlargest networks matched by a pattern, not listed by number:');
[...matched].filter(n => !listed.has(n))
    .sort((a, b) => (size.get(b) || 0) - (size.get(a) || 0)).slice(0, 40)
    .forEach(n => console.log(`  ${String(n).padStart(7)} ${String(size.get(n) || 0).padStart(9)}  ${org.get(n)}`));
