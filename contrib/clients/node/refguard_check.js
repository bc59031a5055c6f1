#!/usr/bin/env node
// refguard_check.js: ask refguard before granting a referral reward.
//
// Node.js, no dependencies (the `net` module and promises). Records the
// referee's signup (`observe`), then asks for a verdict on the referral
// (`check`), both pipelined on one connection, and acts on the answer:
//   allow -> grant the reward, review -> queue for manual review,
//   deny -> refuse the reward.
//
// Usage: node refguard_check.js [-s SOCKET] [--id ID]
//   [--referrer-account A] [--referrer-email E] [--referrer-ip IP]
//   [--referrer-device ID] [--referee-account A] [--referee-email E]
//   [--referee-ip IP] [--referee-device ID] [--amount N] [--currency C]
// SOCKET defaults to $REFGUARD_SOCKET, then /run/refguard/refguard.sock.
//
// Exit status: 0 a decision was made, 1 an error reply (code, field, msg
// printed), 2 usage, 3 refguard unreachable (after one retry).
//
// Retries: `check` is idempotent by id, so after a connection error it is
// resent once with the same id (the stored verdict comes back if the first
// attempt was committed). `observe` has no id: it is resent only when the
// connection could not be opened, so nothing of it was sent.
'use strict';

const net = require('net');

const DEFAULT_SOCKET = '/run/refguard/refguard.sock';

class RefguardError extends Error {
  constructor(reply) {
    const e = reply.error || {};
    super(`${e.code}${e.field ? ` (field ${e.field})` : ''}: ${e.msg}`);
    this.code = e.code;
    this.field = e.field;
    this.msg = e.msg;
    this.reply = reply;
  }
}

class ConnectFailed extends Error {}

// One NDJSON connection. call() may be used many times without awaiting:
// the requests are pipelined and, since replies come back in request
// order, each promise gets the reply at its position.
class RefguardClient {
  constructor(path, timeoutMs = 10000) {
    this.path = path || process.env.REFGUARD_SOCKET || DEFAULT_SOCKET;
    this.timeoutMs = timeoutMs;
    this.sock = null;
    this.pending = [];
    this.buf = '';
  }

  connect() {
    this.close();
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.path);
      const onErr = (err) => {
        s.destroy();
        reject(new ConnectFailed(`cannot connect to ${this.path}: ${err.message}`));
      };
      s.once('error', onErr);
      s.once('connect', () => {
        s.removeListener('error', onErr);
        s.setEncoding('utf8');
        s.setTimeout(this.timeoutMs);
        s.on('data', (d) => this._data(d));
        s.on('timeout', () => this._fail(new Error(`no reply within ${this.timeoutMs} ms`)));
        s.on('error', (err) => this._fail(err));
        s.on('close', () => this._fail(new Error('refguardd closed the connection')));
        this.sock = s;
        resolve();
      });
    });
  }

  _data(chunk) {
    this.buf += chunk;
    let i;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      const p = this.pending.shift();
      if (!p) continue;
      try {
        p.resolve(JSON.parse(line));
      } catch (err) {
        p.reject(new Error(`reply is not JSON: ${line.slice(0, 200)}`));
      }
    }
  }

  _fail(err) {
    const pending = this.pending;
    this.pending = [];
    if (this.sock) this.sock.destroy();
    this.sock = null;
    for (const p of pending) p.reject(err);
  }

  // Send one request; resolves with the reply as is (error replies too).
  send(req) {
    return new Promise((resolve, reject) => {
      if (!this.sock) {
        reject(new Error('not connected'));
        return;
      }
      this.pending.push({ resolve, reject });
      this.sock.write(JSON.stringify(req) + '\n');
    });
  }

  // Send one request; rejects with RefguardError on an error reply.
  async call(req) {
    const reply = await this.send(req);
    if (reply.error) throw new RefguardError(reply);
    return reply;
  }

  close() {
    if (this.sock) {
      this.sock.removeAllListeners('close');
      this.sock.end();
      this.sock.destroy();
    }
    this.sock = null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function checkReferral(client, observe, check, retries = 1) {
  let reqs = [observe, check];
  for (let attempt = 0; ; attempt++) {
    try {
      try {
        await client.connect();
      } catch (err) {
        if (attempt >= retries) throw err;
        await sleep(200);
        continue; // nothing was sent: resend everything
      }
      // Pipelined: both lines leave before the first reply comes back.
      const replies = await Promise.all(reqs.map((r) => client.send(r)));
      for (const r of replies) if (r.error) throw new RefguardError(r);
      return replies[replies.length - 1];
    } catch (err) {
      if (err instanceof RefguardError || attempt >= retries) throw err;
      // The observe may have been stored: never resend it. The check is
      // idempotent by id: resend it with the same id.
      reqs = [check];
      await sleep(200);
    } finally {
      client.close();
    }
  }
}

const DECISION = { allow: 'grant', review: 'queue', deny: 'refuse' };

function parseArgs(argv) {
  const o = {
    socket: null, id: 'demo-ref-1',
    'referrer-account': 'demo-u-17', 'referrer-email': 'jane.doe@example.com',
    'referrer-ip': '81.2.69.160', 'referrer-device': 'demo-dev-17',
    'referee-account': 'demo-u-9001', 'referee-email': 'john.roe@example.org',
    'referee-ip': '198.51.100.23', 'referee-device': 'demo-dev-9001',
    amount: '10', currency: 'EUR',
  };
  for (let i = 0; i < argv.length; i++) {
    let k = argv[i];
    if (k === '-s') k = '--socket';
    if (!k.startsWith('--') || !(k.slice(2) in o) || i + 1 >= argv.length) {
      process.stderr.write(`usage: refguard_check.js [-s SOCKET] [--id ID] [--referrer-account A] ...\n(bad argument ${argv[i]})\n`);
      process.exit(2);
    }
    o[k.slice(2)] = argv[++i];
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const party = (pre) => {
    const p = { account: o[`${pre}-account`] };
    if (o[`${pre}-email`]) p.email = o[`${pre}-email`];
    if (o[`${pre}-ip`]) p.ip = o[`${pre}-ip`];
    if (o[`${pre}-device`]) p.device = { id: o[`${pre}-device`] };
    return p;
  };
  const referrer = party('referrer');
  const referee = party('referee');
  const amount = Number(o.amount);
  const observe = { op: 'observe', kind: 'signup', ...referee };
  const check = {
    op: 'check', id: o.id, referrer, referee,
    reward: { amount, currency: o.currency },
  };

  const client = new RefguardClient(o.socket);
  let v;
  try {
    v = await checkReferral(client, observe, check);
  } catch (err) {
    if (err instanceof RefguardError) {
      console.error(`refguard error: code=${err.code} field=${err.field || '-'} msg=${err.msg}`);
      return 1;
    }
    console.error(`refguard unreachable: ${err.message}`);
    return 3;
  }
  const what = DECISION[v.action];
  console.log(`${v.id}: ${what} (action=${v.action} score=${v.score})`);
  for (const r of v.reasons) {
    const sc = r.score >= 0 ? `+${r.score}` : `${r.score}`;
    console.log(`  reason: ${r.rule} ${r.action} ${sc}${r.msg ? `: ${r.msg}` : ''}`);
  }
  if (what === 'grant') console.log(`granting the reward of ${amount} ${o.currency}`);
  else if (what === 'queue') console.log('queued for manual review');
  else console.log('refusing the reward');
  return 0;
}

module.exports = { RefguardClient, RefguardError, checkReferral };

if (require.main === module) {
  main().then((rc) => { process.exitCode = rc; });
}
