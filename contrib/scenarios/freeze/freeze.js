#!/usr/bin/env node
// freeze.js: build contrib/scenarios/data/pool.json, the frozen data the
// scenario generator draws devices, address ranges and disposable mail
// domains from. Run once, by hand, when the pool should be refreshed
// (README.md); the generator itself needs only Python's standard library.
//
//   npm ci && node freeze.js ../data/pool.json
//
// Sources (npm packages, exact versions in package.json):
//   fingerprint-generator (Apify, Apache-2.0): real-world browser
//       fingerprints from a Bayesian network trained on collected ones.
//   user-agents (Intoli, BSD-2-Clause): user agents, platforms and screens
//       with their observed weights.
//   @ip-location-db/asn (sapics; RouteViews and DB-IP data, CC BY 4.0):
//       address ranges with their AS number and organisation.
//   @ip-location-db/geo-whois-asn-country (sapics; NRO data, CC BY 4.0 /
//       CC0): the country of each range, the one refguard's country DB says.
//   disposable-email-domains (MIT): throwaway mail domains.
//
// Output is deterministic for given package versions: Math.random is
// replaced by a seeded generator before fingerprint-generator runs.
'use strict';

const fs = require('fs');
const path = require('path');

// ---- a seeded PRNG (mulberry32) -----------------------------------------
function mulberry32(a) {
	return function () {
		a |= 0; a = (a + 0x6D2B79F5) | 0;
		let t = Math.imul(a ^ (a >>> 15), 1 | a);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
const rnd = mulberry32(20261202);
Math.random = rnd;

const NM = path.join(__dirname, 'node_modules');

// A file of an installed package (package "exports" hide some of them).
function pkgFile(name, file) {
	return path.join(NM, name, file);
}

function pkgVersion(name) {
	return JSON.parse(fs.readFileSync(pkgFile(name, 'package.json'), 'utf8')).version;
}

// ---- devices from fingerprint-generator ----------------------------------
function realDevices() {
	const { FingerprintGenerator } = require('fingerprint-generator');
	const gen = new FingerprintGenerator();
	const plan = [
		// [devices, operating system, how many draws]
		['desktop', 'windows', 700],
		['desktop', 'macos', 300],
		['desktop', 'linux', 60],
		['mobile', 'android', 520],
		['mobile', 'ios', 420],
	];
	const fonts = new Map();
	const byKey = new Map();
	for (const [dev, os, n] of plan) {
		for (let i = 0; i < n; i++) {
			const f = gen.getFingerprint({ devices: [dev], operatingSystems: [os] }).fingerprint;
			const nav = f.navigator;
			const fl = (f.fonts || []).slice().sort().join(',');
			if (!fonts.has(fl))
				fonts.set(fl, fonts.size);
			const hw = nav.deviceMemory ? nav.hardwareConcurrency + '/' + nav.deviceMemory
			    : String(nav.hardwareConcurrency);
			const webgl = f.videoCard ? f.videoCard.vendor + '|' + f.videoCard.renderer : '';
			const rec = [nav.userAgent, nav.platform, f.screen.width + 'x' + f.screen.height,
				hw, webgl, fonts.get(fl), dev, os];
			const key = JSON.stringify(rec);
			const cur = byKey.get(key);
			if (cur) cur[8]++;
			else byKey.set(key, rec.concat([1]));
		}
	}
	const list = [...byKey.values()].sort((a, b) => (a[0] + a[2] + a[4]).localeCompare(b[0] + b[2] + b[4]));
	return { fonts: [...fonts.keys()], devices: list };
}

// ---- devices from user-agents ---------------------------------------------
function synthDevices() {
	const data = JSON.parse(fs.readFileSync(pkgFile('user-agents', 'dist/user-agents.json'), 'utf8'));
	const total = data.reduce((s, e) => s + e.weight, 0);
	const cum = [];
	let acc = 0;
	for (const e of data) { acc += e.weight; cum.push(acc); }
	const byKey = new Map();
	for (let i = 0; i < 2400; i++) {
		const x = rnd() * total;
		let lo = 0, hi = cum.length - 1;
		while (lo < hi) { const m = (lo + hi) >> 1; if (cum[m] < x) lo = m + 1; else hi = m; }
		const e = data[lo];
		const rec = [e.userAgent, e.platform, e.screenWidth + 'x' + e.screenHeight, e.deviceCategory];
		const key = JSON.stringify(rec);
		const cur = byKey.get(key);
		if (cur) cur[4]++;
		else byKey.set(key, rec.concat([1]));
	}
	return [...byKey.values()].sort((a, b) => (a[0] + a[2]).localeCompare(b[0] + b[2]));
}

// ---- address ranges ----------------------------------------------------------
// [asn, category, countries]: the home country of an access network, or
// null for hosting and VPN networks (their biggest countries are kept).
const NETWORKS = [
	// residential ISPs (fixed broadband)
	[7922, 'residential', ['US']], [20115, 'residential', ['US']], [7018, 'residential', ['US']],
	[701, 'residential', ['US']], [22773, 'residential', ['US']],
	[577, 'residential', ['CA']], [812, 'residential', ['CA']], [5769, 'residential', ['CA']],
	[8151, 'residential', ['MX']], [13999, 'residential', ['MX']], [17072, 'residential', ['MX']],
	[28573, 'residential', ['BR']], [7738, 'residential', ['BR']], [18881, 'residential', ['BR']],
	[2856, 'residential', ['GB']], [5089, 'residential', ['GB']], [5607, 'residential', ['GB']],
	[13285, 'residential', ['GB']],
	[3320, 'residential', ['DE']], [3209, 'residential', ['DE']], [8881, 'residential', ['DE']],
	[3215, 'residential', ['FR']], [12322, 'residential', ['FR']], [15557, 'residential', ['FR']],
	[3352, 'residential', ['ES']], [12479, 'residential', ['ES']],
	[3269, 'residential', ['IT']], [12874, 'residential', ['IT']],
	[1136, 'residential', ['NL']], [33915, 'residential', ['NL']],
	[5617, 'residential', ['PL']], [12741, 'residential', ['PL']],
	[9121, 'residential', ['TR']], [34984, 'residential', ['TR']],
	[24560, 'residential', ['IN']], [24309, 'residential', ['IN']], [9829, 'residential', ['IN']],
	[7713, 'residential', ['ID']], [17451, 'residential', ['ID']],
	[9299, 'residential', ['PH']], [17639, 'residential', ['PH']],
	[37340, 'residential', ['NG']],
	[1221, 'residential', ['AU']], [7545, 'residential', ['AU']],
	[4713, 'residential', ['JP']], [2516, 'residential', ['JP']], [17676, 'residential', ['JP']],
	// mobile carriers (carrier-grade NAT for IPv4)
	[21928, 'mobile', ['US']], [6167, 'mobile', ['US']], [20057, 'mobile', ['US']],
	[852, 'mobile', ['CA']], [812, 'mobile', ['CA']],
	[28403, 'mobile', ['MX']],
	[26615, 'mobile', ['BR']], [28573, 'mobile', ['BR']],
	[206067, 'mobile', ['GB']], [35228, 'mobile', ['GB']], [25135, 'mobile', ['GB']],
	[6805, 'mobile', ['DE']], [3320, 'mobile', ['DE']], [3209, 'mobile', ['DE']],
	[51207, 'mobile', ['FR']], [5410, 'mobile', ['FR']], [15557, 'mobile', ['FR']],
	[12430, 'mobile', ['ES']], [12479, 'mobile', ['ES']],
	[1267, 'mobile', ['IT']], [30722, 'mobile', ['IT']],
	[50266, 'mobile', ['NL']], [1136, 'mobile', ['NL']],
	[39603, 'mobile', ['PL']], [12912, 'mobile', ['PL']], [8374, 'mobile', ['PL']],
	[16135, 'mobile', ['TR']], [15897, 'mobile', ['TR']],
	[55836, 'mobile', ['IN']], [45609, 'mobile', ['IN']],
	[23693, 'mobile', ['ID']], [4761, 'mobile', ['ID']], [24203, 'mobile', ['ID']],
	[132199, 'mobile', ['PH']], [4775, 'mobile', ['PH']], [10139, 'mobile', ['PH']],
	[29465, 'mobile', ['NG']], [36873, 'mobile', ['NG']],
	[4804, 'mobile', ['AU']], [133612, 'mobile', ['AU']], [1221, 'mobile', ['AU']],
	[9605, 'mobile', ['JP']], [17676, 'mobile', ['JP']],
	// universities and research networks
	[3, 'university', ['US']], [25, 'university', ['US']], [32, 'university', ['US']],
	[87, 'university', ['US']], [231, 'university', ['US']], [3128, 'university', ['US']],
	[7377, 'university', ['US']], [31822, 'university', ['US']], [36375, 'university', ['US']],
	[239, 'university', ['CA']], [393249, 'university', ['CA']],
	[278, 'university', ['MX']], [1916, 'university', ['BR']],
	[786, 'university', ['GB']], [680, 'university', ['DE']], [553, 'university', ['DE']],
	[2200, 'university', ['FR']], [766, 'university', ['ES']], [137, 'university', ['IT']],
	[1103, 'university', ['NL']], [8501, 'university', ['PL']], [8517, 'university', ['TR']],
	[2697, 'university', ['IN']], [7575, 'university', ['AU']], [2907, 'university', ['JP']],
	// hosting and cloud providers (data centres)
	[16509, 'hosting', null], [14618, 'hosting', null], [396982, 'hosting', null],
	[8075, 'hosting', null], [14061, 'hosting', null], [16276, 'hosting', null],
	[24940, 'hosting', null], [63949, 'hosting', null], [20473, 'hosting', null],
	[51167, 'hosting', null], [60781, 'hosting', null], [12876, 'hosting', null],
	[45102, 'hosting', null], [31898, 'hosting', null], [47583, 'hosting', null],
	[8560, 'hosting', null], [21859, 'hosting', null], [203020, 'hosting', null],
	// networks commercial VPN services rent their exits from
	[9009, 'vpn', null], [60068, 'vpn', null], [212238, 'vpn', null],
	[136787, 'vpn', null], [147049, 'vpn', null], [39351, 'vpn', null],
	[209103, 'vpn', null], [62240, 'vpn', null], [137409, 'vpn', null],
];
const GLOBAL_COUNTRIES = ['US', 'DE', 'GB', 'NL', 'FR', 'CA', 'SG', 'JP', 'AU', 'PL',
	'ES', 'IT', 'SE', 'CH', 'RO', 'CZ', 'LT', 'IN', 'BR', 'MX', 'TR'];
const PER_V4 = 14;	// CIDR blocks kept per (network, country, family)
const PER_V6 = 6;

function readRows(file, fn) {
	const text = fs.readFileSync(file, 'utf8');
	let start = 0;
	while (start < text.length) {
		let end = text.indexOf('\n', start);
		if (end < 0) end = text.length;
		const line = text.slice(start, end);
		start = end + 1;
		if (line.length === 0) continue;
		// start,end,rest (the organisation may be quoted and hold commas)
		const a = line.indexOf(','), b = line.indexOf(',', a + 1);
		fn(line.slice(0, a), line.slice(a + 1, b), line.slice(b + 1));
	}
}

function loadGeo(file) {
	const starts = [], ends = [], cc = [];
	readRows(file, (s, e, rest) => { starts.push(BigInt(s)); ends.push(BigInt(e)); cc.push(rest); });
	return { starts, ends, cc };
}

// Pieces of [s, e] with their country, per the geo table.
function geoSplit(geo, s, e) {
	const out = [];
	let lo = 0, hi = geo.starts.length - 1, i = -1;
	while (lo <= hi) {
		const m = (lo + hi) >> 1;
		if (geo.starts[m] <= s) { i = m; lo = m + 1; } else hi = m - 1;
	}
	if (i < 0) i = 0;
	for (; i < geo.starts.length && geo.starts[i] <= e; i++) {
		const a = geo.starts[i] > s ? geo.starts[i] : s;
		const b = geo.ends[i] < e ? geo.ends[i] : e;
		if (a <= b) out.push([a, b, geo.cc[i]]);
	}
	return out;
}

function cidrs(s, e, bits) {
	const out = [];
	while (s <= e) {
		let len = bits;
		while (len > 0) {
			const size = 1n << BigInt(bits - len + 1);
			if (s % size !== 0n || s + size - 1n > e) break;
			len--;
		}
		out.push([s, len]);
		s += 1n << BigInt(bits - len);
	}
	return out;
}

function fmt4(n) {
	return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 255n)).join('.');
}

function fmt6(n) {
	const g = [];
	for (let i = 7; i >= 0; i--) g.push(((n >> BigInt(16 * i)) & 0xffffn).toString(16));
	// compress the longest run of zero groups
	let best = -1, bestLen = 0;
	for (let i = 0; i < 8;) {
		if (g[i] !== '0') { i++; continue; }
		let j = i;
		while (j < 8 && g[j] === '0') j++;
		if (j - i > bestLen) { best = i; bestLen = j - i; }
		i = j;
	}
	if (bestLen < 2) return g.join(':');
	return g.slice(0, best).join(':') + '::' + g.slice(best + bestLen).join(':');
}

function shuffle(a) {
	for (let i = a.length - 1; i > 0; i--) {
		const j = Math.floor(rnd() * (i + 1));
		[a[i], a[j]] = [a[j], a[i]];
	}
	return a;
}

function networks(asnDir, geoDir) {
	const want = new Map();
	for (const [asn, cat, ccs] of NETWORKS) {
		if (!want.has(asn)) want.set(asn, []);
		want.get(asn).push([cat, ccs]);
	}
	const orgs = {};
	const found = {};	// asn -> fam -> cc -> [[start, len]]
	for (const [fam, bits, asnFile, geoFile] of [
		['4', 32, 'asn-ipv4-num.csv', 'geo-whois-asn-country-ipv4-num.csv'],
		['6', 128, 'asn-ipv6-num.csv', 'geo-whois-asn-country-ipv6-num.csv']]) {
		const geo = loadGeo(path.join(geoDir, geoFile));
		readRows(path.join(asnDir, asnFile), (s, e, rest) => {
			const c = rest.indexOf(',');
			const asn = Number(rest.slice(0, c));
			if (!want.has(asn)) return;
			let org = rest.slice(c + 1);
			if (org.startsWith('"')) org = org.slice(1, -1).replace(/""/g, '"');
			orgs[asn] = orgs[asn] || org;
			for (const [a, b, cc] of geoSplit(geo, BigInt(s), BigInt(e))) {
				const f = ((found[asn] = found[asn] || {})[fam] = found[asn][fam] || {});
				const list = (f[cc] = f[cc] || []);
				for (const blk of cidrs(a, b, bits)) list.push(blk);
			}
		});
	}
	const ranges = {};	// cat -> cc -> asn -> {4: [...], 6: [...]}
	const asns = {};
	for (const [asn, cat, ccs] of NETWORKS) {
		const f = found[asn];
		if (!f) { process.stderr.write(`freeze: AS${asn} has no ranges; skipped\n`); continue; }
		let countries = ccs;
		if (!countries) {
			const n = {};
			for (const fam of ['4', '6'])
				for (const cc of Object.keys(f[fam] || {}))
					if (GLOBAL_COUNTRIES.includes(cc)) n[cc] = (n[cc] || 0) + f[fam][cc].length;
			countries = Object.keys(n).sort((x, y) => n[y] - n[x] || x.localeCompare(y)).slice(0, 6);
		}
		for (const cc of countries) {
			const ent = {};
			for (const [fam, bits, per, fmt, minLen, maxLen] of [
				['4', 32, PER_V4, fmt4, 12, 24], ['6', 128, PER_V6, fmt6, 19, 48]]) {
				const blocks = ((f[fam] || {})[cc] || []).filter(([, len]) => len <= maxLen);
				if (blocks.length === 0) continue;
				// Deterministic choice: sort, then a seeded shuffle; very large
				// blocks are cut down to minLen (a slice of the network).
				blocks.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
				ent[fam] = shuffle(blocks).slice(0, per).map(([s, len]) =>
				    fmt(s) + '/' + Math.max(len, minLen)).sort();
			}
			if (!ent['4'] && !ent['6']) continue;
			((ranges[cat] = ranges[cat] || {})[cc] = ranges[cat][cc] || {})[asn] = ent;
			asns[asn] = orgs[asn];
		}
	}
	return { asns, ranges };
}

function disposable() {
	const list = JSON.parse(fs.readFileSync(pkgFile('disposable-email-domains', 'index.json'), 'utf8'))
	    .filter((d) => /^[a-z0-9.-]+\.[a-z]{2,}$/.test(d));
	list.sort();
	// A spread sample, plus the names everyone knows.
	const out = new Set(['mailinator.com', 'guerrillamail.com', 'yopmail.com',
		'10minutemail.com', 'temp-mail.org', 'sharklasers.com', 'trashmail.com',
		'getnada.com', 'dispostable.com', 'maildrop.cc']);
	for (const d of shuffle(list.slice()).slice(0, 190))
		out.add(d);
	return [...out].filter((d) => list.includes(d)).sort();
}

function main() {
	const out = process.argv[2];
	if (!out) {
		process.stderr.write('usage: node freeze.js OUT.json\n');
		process.exit(2);
	}
	const real = realDevices();
	const pool = {
		format: 1,
		provenance: {
			made_by: 'contrib/scenarios/freeze/freeze.js',
			packages: Object.fromEntries(['fingerprint-generator', 'user-agents',
				'@ip-location-db/asn', '@ip-location-db/geo-whois-asn-country',
				'disposable-email-domains'].map((p) => [p, pkgVersion(p)])),
			licences: {
				'fingerprint-generator': 'Apache-2.0 (Apify)',
				'user-agents': 'BSD-2-Clause (Intoli)',
				'@ip-location-db/asn': 'CC BY 4.0: RouteViews and DB-IP (db-ip.com) data, merged by sapics/ip-location-db',
				'@ip-location-db/geo-whois-asn-country': 'CC BY 4.0: NRO (nro.net) data, merged by sapics/ip-location-db',
				'disposable-email-domains': 'MIT (ivolo/disposable-email-domains)',
			},
			note: 'address ranges: CIDR blocks of the named AS numbers whose country (geo-whois-asn-country) is the one listed; blocks larger than /12 (IPv4) or /19 (IPv6) are cut to that size',
		},
		fields: {
			devices_real: ['ua', 'platform', 'screen', 'hw', 'webgl', 'fonts (index into fonts)', 'device', 'os', 'draws'],
			devices_synth: ['ua', 'platform', 'screen', 'category', 'draws'],
			ranges: 'category -> country -> AS number -> {"4": [CIDR], "6": [CIDR]}',
		},
		fonts: real.fonts,
		devices_real: real.devices,
		devices_synth: synthDevices(),
		disposable: disposable(),
	};
	const net = networks(pkgFile('@ip-location-db/asn', ''),
	    pkgFile('@ip-location-db/geo-whois-asn-country', ''));
	pool.asns = net.asns;
	pool.ranges = net.ranges;
	fs.writeFileSync(out + '.tmp', JSON.stringify(pool) + '\n');
	fs.renameSync(out + '.tmp', out);
	process.stderr.write(`freeze: ${pool.devices_real.length} real and ${pool.devices_synth.length} ` +
	    `user-agent devices, ${Object.keys(pool.asns).length} networks, ${pool.disposable.length} ` +
	    `disposable domains -> ${out} (${fs.statSync(out).size} bytes)\n`);
}

main();
