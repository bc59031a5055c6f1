// core.js: what every page of the console shares: the API client and
// its token, DOM and SVG builders, formats, the toast and the decide
// dialog. Nothing here writes HTML from strings: data only ever reaches
// the page as text nodes and attribute values.

const TOKEN_KEY = "refguard.token";
const BY_KEY = "refguard.reviewer";

export class ApiError extends Error {
  constructor(status, err) {
    super(err && err.msg ? err.msg : "HTTP " + status);
    this.status = status;
    this.code = err && err.code ? err.code : "http_" + status;
  }
}

let loginWaiters = null;

// Ask for the token (dialog #login); resolves once one is stored.
function askToken(why) {
  if (loginWaiters) return loginWaiters.promise;
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  loginWaiters = { promise, resolve };
  const dlg = document.getElementById("login");
  document.getElementById("login-error").textContent = why || "";
  document.getElementById("token").value = "";
  dlg.showModal();
  document.getElementById("token").focus();
  return promise;
}

export function initAuth() {
  const form = document.getElementById("login-form");
  // No way around the token: Escape does not close the dialog.
  document.getElementById("login").addEventListener("cancel", (e) => e.preventDefault());
  form.addEventListener("submit", () => {
    const t = document.getElementById("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    document.getElementById("logout").hidden = false;
    const w = loginWaiters;
    loginWaiters = null;
    if (w) w.resolve();
  });
  const out = document.getElementById("logout");
  out.hidden = !sessionStorage.getItem(TOKEN_KEY);
  out.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    out.hidden = true;
    location.reload();
  });
  const who = document.getElementById("reviewer");
  who.value = reviewer();
  who.addEventListener("change", () => {
    const v = who.value.trim();
    if (v) sessionStorage.setItem(BY_KEY, v);
  });
}

export function reviewer() {
  return sessionStorage.getItem(BY_KEY) || "console";
}

// One API call: the JSON reply, or an ApiError. A 401 asks for the token
// and tries again.
export async function api(method, path, body) {
  for (;;) {
    const headers = { "Accept": "application/json" };
    const tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers["Authorization"] = "Bearer " + tok;
    const init = { method, headers, credentials: "omit", cache: "no-store",
      redirect: "error", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    let j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    if (r.status === 401) {
      if (tok) sessionStorage.removeItem(TOKEN_KEY);
      await askToken(tok ? "That token was refused." : "");
      continue;
    }
    if (!r.ok || (j && j.error)) throw new ApiError(r.status, j && j.error);
    return j;
  }
}

// el("td", {class: "num"}, "text", child...): attributes and text only.
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

function setAttrs(e, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function")
      e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(e, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === undefined || k === null || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export function badge(text, cls) {
  return el("span", { class: "badge " + (cls || text) }, text);
}

// "kind:1a2b3c4d5e6f": how an identity is shown, never more.
export function ident(kind, hash) {
  return el("span", { class: "hash", title: kind + " (hash prefix)" }, kind + ":" + hash);
}

export function age(iso, now) {
  const ms = (now || Date.now()) - Date.parse(iso);
  if (!isFinite(ms)) return "?";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return s + "s";
  if (s < 5400) return Math.round(s / 60) + "m";
  if (s < 129600) return Math.round(s / 3600) + "h";
  return Math.round(s / 86400) + "d";
}

export function when(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function money(r) {
  if (!r) return "";
  return (Math.round(r.amount * 100) / 100) + (r.currency ? " " + r.currency : "");
}

export function toast(msg, error) {
  const box = document.getElementById("toast");
  const d = el("div", { class: error ? "error" : "" }, msg);
  box.append(d);
  setTimeout(() => d.remove(), error ? 8000 : 4000);
}

// The rule set in service, by name (rules op): desc, mode, action, hits.
let rulesCache = null;
export async function rules(refresh) {
  if (!rulesCache || refresh) {
    const r = await api("GET", "/v1/rules");
    rulesCache = { hash: r.ruleset, list: r.rules, by: new Map(r.rules.map((x) => [x.rule, x])) };
  }
  return rulesCache;
}

export function reasonWords(rs, name) {
  const r = rs.by.get(name);
  return r && r.msg ? r.msg : name;
}

// The decide dialog: resolves to {note} when confirmed, null when not.
export function askDecision(decision, what) {
  const dlg = document.getElementById("decide");
  const note = document.getElementById("decide-note");
  const ok = document.getElementById("decide-ok");
  document.getElementById("decide-title").textContent =
    decision === "approve" ? "Approve (legit: pay the reward)" : "Void (fraud: no reward)";
  document.getElementById("decide-what").textContent = what;
  ok.className = decision;
  ok.textContent = decision === "approve" ? "Approve" : "Void";
  note.value = "";
  return new Promise((resolve) => {
    const done = (v) => {
      note.removeEventListener("keydown", onKey);
      document.getElementById("decide-cancel").removeEventListener("click", onCancel);
      dlg.removeEventListener("close", onClose);
      if (dlg.open) dlg.close();
      resolve(v);
    };
    const onKey = (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); done({ note: note.value }); }
    };
    const onCancel = () => done(null);
    const onClose = () => done(dlg.returnValue === "ok" ? { note: note.value } : null);
    note.addEventListener("keydown", onKey);
    document.getElementById("decide-cancel").addEventListener("click", onCancel);
    dlg.addEventListener("close", onClose);
    dlg.returnValue = "";
    dlg.showModal();
    note.focus();
  });
}

// Decide one referral or many; the reply's items. Errors are shown.
export async function decide(ids, decision, note) {
  const body = { decision, by: reviewer() };
  if (ids.length === 1) body.id = ids[0]; else body.ids = ids;
  if (note) body.note = note;
  try {
    const r = await api("POST", "/v1/queue/decide", body);
    toast((decision === "approve" ? "Approved " : "Voided ") + r.count +
      (r.count === 1 ? " referral" : " referrals"));
    return r.items;
  } catch (e) {
    toast("Not decided: " + e.message, true);
    return null;
  }
}

// The two accounts of many referrals (graph op with ids), cached.
const partyCache = new Map();
export async function parties(ids) {
  const want = ids.filter((id) => !partyCache.has(id));
  for (let i = 0; i < want.length; i += 500) {
    const r = await api("POST", "/v1/graph", { ids: want.slice(i, i + 500) });
    for (const p of r.parties) partyCache.set(p.id, p);
  }
  return new Map(ids.map((id) => [id, partyCache.get(id)]));
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}
