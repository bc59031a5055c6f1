// disposable-merge.js: merge disposable email domain lists into one file
// for refguard's disposable_file.
//
//   node disposable-merge.js [--psl PSLFILE] ALLOWLIST OUT SOURCE...
//
// SOURCE is LABEL:MIN:FILE[,FILE...]: JSON files, each an array of domain
// strings (as the npm packages ship them), that together must give at
// least MIN well-formed domains, else the source is taken as truncated or
// emptied upstream and nothing is written. Names are trimmed and
// lowercased; a leading "*." or "." and a trailing "." are dropped;
// malformed names are left out. ALLOWLIST (one domain a line, '#'
// comments) removes domains, and every parent of them that refguard's
// matcher would try. PSLFILE, the Public Suffix List
// (public_suffix_list.dat), removes every domain that its ICANN section
// makes a registry suffix (edu.pl, ac.uk, com.br): anyone registers
// under those, so a listed one would mark every school or company under
// it disposable. Its private section (dynamic DNS names such as
// ddns.net, where a throwaway mail host takes a minute to make) is left
// to the sources. OUT gets one domain a line, sorted, after a '#'
// header that says what it was made from; it is written beside OUT and
// renamed into place. Quiet on success; on failure one line on stderr,
// "disposable-merge.js: what went wrong", and exit 1.
'use strict';
const fs = require('fs');

const me = 'disposable-merge.js';
const ok = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function fail(msg) {
	process.stderr.write(`${me}: ${msg}\n`);
	process.exit(1);
}

function norm(d) {
	if (typeof d !== 'string')
		return null;
	d = d.trim().toLowerCase().replace(/^\*?\./, '').replace(/\.$/, '');
	return ok.test(d) ? d : null;
}

const args = process.argv.slice(2);
let pslPath = null;
if (args[0] === '--psl') {
	pslPath = args[1];
	args.splice(0, 2);
}
if (args.length < 3 || pslPath === undefined) {
	process.stderr.write(`usage: ${me} [--psl PSLFILE] ALLOWLIST OUT ` +
	    'LABEL:MIN:FILE[,FILE]...\n');
	process.exit(2);
}
const [allowPath, out, ...sources] = args;

const domains = new Set();
const made = [];
for (const src of sources) {
	const m = /^([^:]+):(\d+):(.+)$/.exec(src);
	if (!m)
		fail(`${src}: not LABEL:MIN:FILE[,FILE]`);
	const [, label, min, files] = m;
	let n = 0;
	for (const f of files.split(',')) {
		let list;
		try {
			list = JSON.parse(fs.readFileSync(f, 'utf8'));
		} catch (e) {
			fail(`${label}: ${f}: ${e.message}`);
		}
		if (!Array.isArray(list))
			fail(`${label}: ${f}: not a JSON array of domains`);
		for (const d of list) {
			const v = norm(d);
			if (v !== null) {
				domains.add(v);
				n++;
			}
		}
	}
	if (n < Number(min))
		fail(`${label}: ${n} domains, fewer than ${min}: truncated or ` +
		    'emptied upstream; nothing written');
	made.push(`${label}: ${n} entries`);
}

let allow;
try {
	allow = fs.readFileSync(allowPath, 'utf8').split('\n')
	    .map(l => l.replace(/#.*/, '').trim()).filter(l => l !== '');
} catch (e) {
	fail(`${allowPath}: ${e.message}`);
}
let removed = 0;
for (const a of allow) {
	const d = norm(a);
	if (d === null)
		fail(`${allowPath}: ${a}: not a domain`);
	// The domain and the parents the matcher tries (down to two labels).
	for (let p = d; p.indexOf('.') !== -1; p = p.slice(p.indexOf('.') + 1))
		if (domains.delete(p))
			removed++;
}

// The ICANN section's rules: names, "*." wildcards, "!" exceptions.
function readPsl(path) {
	const url = require('url');
	const psl = { names: new Set(), wild: new Set(), except: new Set() };
	let text, icann = false, n = 0;
	try {
		text = fs.readFileSync(path, 'utf8');
	} catch (e) {
		fail(`${path}: ${e.message}`);
	}
	for (let l of text.split('\n')) {
		l = l.trim();
		if (l.includes('===BEGIN ICANN DOMAINS==='))
			icann = true;
		else if (l.includes('===END ICANN DOMAINS==='))
			icann = false;
		if (!icann || l === '' || l.startsWith('//'))
			continue;
		l = l.split(/\s/)[0];
		const set = l.startsWith('!') ? psl.except :
		    l.startsWith('*.') ? psl.wild : psl.names;
		// A wildcard's parent may be one label (*.ck): no norm().
		const d = url.domainToASCII(l.replace(/^!|^\*\./, ''));
		if (d !== '') {
			set.add(d);
			n++;
		}
	}
	if (n < 1000)
		fail(`${path}: ${n} ICANN rules: not the Public Suffix List`);
	return psl;
}

let suffixes = 0;
if (pslPath !== null) {
	const psl = readPsl(pslPath);
	for (const d of [...domains]) {
		const parent = d.slice(d.indexOf('.') + 1);
		if (!psl.except.has(d) && (psl.names.has(d) ||
		    (d.includes('.') && psl.wild.has(parent)))) {
			domains.delete(d);
			suffixes++;
		}
	}
}

const header = [
	'# disposable.txt: disposable email domains for refguard\'s disposable_file,',
	'# written by contrib/fetch-data.sh on ' +
	    new Date().toISOString().replace(/\.\d+Z$/, 'Z') + ' from the npm packages',
	...made.map(s => `#   ${s}`),
	`# less ${removed} allowed by contrib/disposable-allowlist.txt` +
	    (pslPath !== null ? ` and ${suffixes} registry suffixes of the ` +
	    'Public Suffix List' : '') + `: ${domains.size} domains.`,
	'# Rewritten by each fetch: change the sources or the allowlist instead.',
];
const tmp = `${out}.tmp.${process.pid}`;
try {
	fs.writeFileSync(tmp, header.join('\n') + '\n' +
	    [...domains].sort().join('\n') + '\n');
	fs.renameSync(tmp, out);
} catch (e) {
	try { fs.unlinkSync(tmp); } catch (e2) { /* not there */ }
	fail(`${out}: ${e.message}`);
}
