// referral.js: one referral: its verdict and every rule with the facts
// it saw, versions and rechecks, the identity graph, the accounts'
// timelines, the queue item's history; decide from here.
import { api, ApiError, el, svg, badge, ident, when, money, rules, reasonWords,
  askDecision, decide, reviewer, toast } from "./core.js";

function dur(ms) {
  if (ms === 0) return "ever";
  const u = [[86400000, "d"], [3600000, "h"], [60000, "m"], [1000, "s"]];
  for (const [n, s] of u) if (ms % n === 0) return ms / n + s;
  return ms + "ms";
}

// A fact's side (left, right, found): fn, value, window, found identity.
function factPart(name, p) {
  if (p === null || typeof p !== "object") return el("code", null, name + "=" + JSON.stringify(p));
  const bits = [];
  for (const [k, v] of Object.entries(p)) {
    if (v === null || v === undefined) continue;
    if (k === "window_ms") bits.push("window " + dur(v));
    else if (k === "at_least") { if (v) bits.push("(at least)"); }
    else bits.push(k + " " + (typeof v === "object" ? JSON.stringify(v) : v));
  }
  return el("code", null, name + ": " + bits.join(", "));
}

// A fact under a "not" shows its own result; the rule counts it the
// other way round, which the cell says.
function factsCell(facts) {
  return el("div", { class: "facts" }, (facts || []).map((f) =>
    el("div", null, f.negated && el("span", { class: "muted" }, "not "), el("code", null, f.expr), " → ",
      el("b", null, String(f.result)), f.negated && el("span", { class: "muted" }, " (counts as " + !f.result + ")"), " ",
      ["left", "right", "found"].filter((k) => k in f).map((k) => [" ", factPart(k, f[k])]))));
}

// A rule of a score group counts towards the group's sum, which adds
// to the verdict up to the group's cap. The verdict's own reasons say
// the group (the set that decided may not be the one serving now); the
// cap is the serving set's, shown only when it has that group too.
function groupNote(rs, name, groups) {
  const g = rs.by.get(name);
  const group = groups.has(name) ? groups.get(name) : g && g.group;
  if (!group) return null;
  const cap = g && g.group === group && g.group_cap != null ? g.group_cap : null;
  return el("div", { class: "muted", title: "counts in score group " + group +
    (cap != null ? ", which adds at most " + cap + " to the verdict" : "") },
    group + (cap != null ? " ≤" + cap : ""));
}

function rulesTable(rs, list, showAll, groups) {
  const rows = list.filter((r) => showAll || r.matched).map((r) =>
    el("tr", { class: r.matched ? "matched" : "unmatched", "data-rule": r.rule },
      el("td", null, el("div", null, r.rule), el("div", { class: "muted" }, reasonWords(rs, r.rule) !== r.rule ? reasonWords(rs, r.rule) : "")),
      el("td", null, r.matched ? badge("matched", r.action) : el("span", { class: "muted" }, "no")),
      el("td", null, badge(r.mode, r.mode)),
      el("td", null, r.action), el("td", { class: "num" }, r.score, groupNote(rs, r.rule, groups)),
      el("td", null, factsCell(r.facts))));
  return el("table", { class: "rules-fired" },
    el("thead", null, el("tr", null, el("th", null, "Rule"), el("th", null, "Fired"), el("th", null, "Mode"),
      el("th", null, "Action"), el("th", { class: "num" }, "Score"), el("th", null, "Facts it saw"))),
    el("tbody", null, rows.length ? rows : el("tr", null, el("td", { colspan: 6, class: "muted" }, "No rule fired."))));
}

function factWords(kind, f) {
  const w = [];
  if (!f) return "";
  if (f.domain) w.push(f.domain + (f.disposable ? " (disposable)" : ""));
  if (f.country) w.push(f.country);
  if (f.asn) w.push("AS" + f.asn);
  if (f.as_org) w.push(f.as_org);
  if (f.hosting) w.push("hosting");
  if (f.anonymous) w.push("anonymous");
  if (f.version && !f.country) w.push("IPv" + f.version + (f.private ? " private" : ""));
  return w.join(" · ");
}

// The identity graph: the two accounts left, the identities they carried
// in the middle (a shared one joins both), other accounts that carried
// them right.
function graphSvg(g) {
  const ids = g.identities.slice().sort((a, b) => b.parties.length - a.parties.length);
  const neigh = [];
  const nIndex = new Map();
  for (const i of ids) for (const n of i.neighbours) if (!nIndex.has(n)) { nIndex.set(n, neigh.length); neigh.push(n); }
  const rowH = 50, top = 30;
  const H = Math.max(ids.length, neigh.length, 3) * rowH + top * 2;
  const W = 960, xA = 110, xI = 470, xN = 820, iw = 250, ih = 38;
  const yOf = (k, n) => top + (H - 2 * top) * (k + 0.5) / Math.max(n, 1);
  const accts = { referrer: { y: H * 0.3 }, referee: { y: H * 0.7 } };
  const edges = svg("g", { class: "edges" });
  const nodes = svg("g", { class: "nodes" });
  ids.forEach((i, k) => {
    const y = yOf(k, ids.length);
    const shared = i.parties.length > 1;
    for (const p of i.parties)
      edges.append(svg("path", { class: "edge" + (shared ? " shared" : ""),
        d: `M${xA + 50},${accts[p].y} C${xA + 160},${accts[p].y} ${xI - iw / 2 - 120},${y} ${xI - iw / 2},${y}` }));
    for (const n of i.neighbours) {
      const yn = yOf(nIndex.get(n), neigh.length);
      edges.append(svg("path", { class: "edge neighbour",
        d: `M${xI + iw / 2},${y} C${xI + iw / 2 + 80},${y} ${xN - 100},${yn} ${xN - 28},${yn}` }));
    }
    const cls = "k-" + i.kind.replace(/\./g, "-");
    const words = factWords(i.kind, i.facts);
    nodes.append(svg("g", { class: "node identity", "data-kind": i.kind, "data-hash": i.hash,
      transform: `translate(${xI - iw / 2},${y - ih / 2})` },
      svg("title", null, i.kind + ":" + i.hash + (words ? " — " + words : "") +
        (shared ? " — carried by both accounts" : "") +
        (i.neighbours.length ? " — " + i.neighbours.length + (i.more ? "+" : "") + " other accounts" : "")),
      svg("rect", { class: cls, width: iw, height: ih, rx: 6 }),
      svg("text", { x: 8, y: 15 }, i.kind + ":" + i.hash),
      svg("text", { x: 8, y: 30, class: "fact" }, words || (shared ? "shared by both" : ""))));
  });
  for (const p of ["referrer", "referee"]) {
    if (!g.accounts[p]) continue;
    nodes.append(svg("g", { class: "node party", "data-kind": "account", "data-party": p,
      "data-hash": g.accounts[p], transform: `translate(${xA},${accts[p].y})` },
      svg("title", null, p + " account:" + g.accounts[p]),
      svg("circle", { class: "k-" + p, r: 50 }),
      svg("text", { x: 0, y: -4, "text-anchor": "middle" }, p),
      svg("text", { x: 0, y: 12, "text-anchor": "middle" }, g.accounts[p])));
  }
  neigh.forEach((n, k) => {
    const y = yOf(k, neigh.length);
    nodes.append(svg("g", { class: "node neighbour", "data-kind": "account", "data-hash": n,
      transform: `translate(${xN},${y})` },
      svg("title", null, "another account that carried it: account:" + n),
      svg("circle", { class: "k-account", r: 26 }),
      svg("text", { x: 32, y: 4 }, "account:" + n)));
  });
  return svg("svg", { id: "graph", viewBox: `0 0 ${W + 130} ${H}`, width: "100%", role: "img",
    "aria-label": "identity graph" }, edges, nodes);
}

function legend() {
  return el("div", { class: "legend" }, ["account", "device", "device.fuzzy", "device.stable", "device.id",
    "payment", "phone", "phone.block", "email", "email.shape", "email.name", "ip",
    "ip.prefix"].map((k) =>
    el("span", null, el("i", { class: "k-" + k.replace(/\./g, "-") }), k)),
    el("span", null, "red line: an identity both accounts carried; dashed: other accounts"));
}

// Both accounts' events on one time axis.
function timelineSvg(g) {
  const lanes = ["referrer", "referee"].filter((p) => g.timelines[p]);
  const evs = [];
  for (const p of lanes) for (const e of g.timelines[p].events) evs.push(Object.assign({ lane: p, t: Date.parse(e.ts) }, e));
  if (!evs.length) return el("p", { class: "muted" }, "No events.");
  let t0 = Math.min(...evs.map((e) => e.t)), t1 = Math.max(...evs.map((e) => e.t));
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  const W = 960, L = 110, R = 30, laneH = 46, H = lanes.length * laneH + 50;
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const s = svg("svg", { id: "timeline", viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": "timelines" });
  lanes.forEach((p, k) => {
    const y = 20 + k * laneH + laneH / 2;
    s.append(svg("line", { class: "lane", x1: L, x2: W - R, y1: y, y2: y }),
      svg("text", { x: 6, y: y + 4 }, p + (g.timelines[p].more ? " (latest)" : "")));
  });
  const ya = 20 + lanes.length * laneH;
  s.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: ya, y2: ya }),
    svg("text", { x: L, y: ya + 16 }, when(new Date(t0).toISOString())),
    svg("text", { x: W - R, y: ya + 16, "text-anchor": "end" }, when(new Date(t1).toISOString())));
  for (const e of evs) {
    const y = 20 + lanes.indexOf(e.lane) * laneH + laneH / 2;
    s.append(svg("circle", { class: "ev " + e.type + (e.seq === g.seq ? " this" : ""), cx: x(e.t), cy: y, r: e.seq === g.seq ? 7 : 5,
      "data-type": e.type },
      svg("title", null, when(e.ts) + " " + e.type + " (" + e.role + ")" + (e.id ? " " + e.id : ""))));
  }
  const types = [...new Set(evs.map((e) => e.type))];
  return el("div", null, s, el("div", { class: "legend" }, types.map((t) =>
    el("span", null, svg("svg", { width: 12, height: 12 }, svg("circle", { class: "ev " + t, cx: 6, cy: 6, r: 5 })), t))));
}

export async function render(id, _params, live) {
  const rs = await rules();
  let q = null, x;
  try {
    q = await api("GET", "/v1/queue/" + encodeURIComponent(id));
    x = q.verdict;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    x = await api("GET", "/v1/verdicts/" + encodeURIComponent(id) + "/explain");
  }
  const g = await api("POST", "/v1/graph", { id });
  const v = x ? x.verdict : null;
  const item = q ? q.item : null;

  const status = el("span", { id: "item-state" });
  const setState = (it) => {
    status.replaceChildren(it ? (it.state === "decided" ? badge(it.decision, it.decision) : badge(it.state)) : "not in the queue",
      it && it.state === "decided" ? " by " + it.decided_by + " " + when(it.decided) : "",
      it && it.state === "claimed" ? " by " + it.assignee : "");
    status.dataset.state = it ? it.state : "none";
    status.dataset.decision = it && it.decision ? it.decision : "";
  };
  setState(item);
  let current = item;
  const act = async (decision) => {
    if (!current || current.state === "decided") { toast("Nothing to decide here"); return; }
    const ok = await askDecision(decision, id + " (" + current.action + ", score " + current.score + ")");
    if (!ok) return;
    const items = await decide([id], decision, ok.note);
    if (items && items[0]) { current = items[0]; setState(current); }
  };
  const claim = async (op) => {
    try {
      const r = await api("POST", "/v1/queue/" + encodeURIComponent(id) + "/" + op, { by: reviewer() });
      current = r.item; setState(current);
    } catch (e) { toast(e.message, true); }
  };
  const canDecide = item && item.state !== "decided";
  const showAll = el("input", { type: "checkbox", id: "show-all" });
  const groups = new Map(((v && v.reasons) || []).concat((v && v.shadow) || [])
    .filter((h) => h.group).map((h) => [h.rule, h.group]));
  const rulesBox = el("div", null, rulesTable(rs, x ? x.rules || [] : [], false, groups));
  showAll.addEventListener("change", () => rulesBox.replaceChildren(rulesTable(rs, x.rules || [], showAll.checked, groups)));

  const ev = x ? x.event : null;
  const summary = el("dl", { class: "kv" },
    el("dt", null, "Verdict"), el("dd", null, v ? [badge(v.action), " score ", v.score] : "?"),
    el("dt", null, "Queue"), el("dd", null, status),
    el("dt", null, "Time"), el("dd", null, when(v && v.ts)),
    el("dt", null, "Campaign"), el("dd", null, ev && ev.campaign ? ev.campaign : el("span", { class: "muted" }, "none")),
    el("dt", null, "Reward"), el("dd", null, ev ? money(ev.reward) : ""),
    el("dt", null, "Referrer"), el("dd", null, ident("account", g.accounts.referrer || "?"),
      ev && ev.referrer ? el("span", { class: "muted" }, "  carried " + ev.referrer.identities.join(", ")) : ""),
    el("dt", null, "Referee"), el("dd", null, ident("account", g.accounts.referee || "?"),
      ev && ev.referee ? el("span", { class: "muted" }, "  carried " + ev.referee.identities.join(", ")) : ""),
    el("dt", null, "Shared now"), el("dd", null, ev && ev.shared && ev.shared.length ? ev.shared.join(", ") : "nothing in this event"),
    el("dt", null, "Linked in history"), el("dd", null, x && x.links && x.links.length ?
      x.links.map((l) => l.kind).join(", ") : "nothing"));

  const versions = el("dl", { class: "kv", id: "versions" },
    el("dt", null, "Rule set"), el("dd", { class: "mono" }, v ? v.ruleset : "?",
      rs.hash !== (v && v.ruleset) ? el("span", { class: "muted" }, "  (serving now: " + rs.hash + ")") : ""),
    el("dt", null, "Version"), el("dd", null, x ? String(x.version || 1) : "1"),
    el("dt", null, "Data"), el("dd", null, x && x.data ? dataWords(x.data) : "?"));

  const rechecks = x && x.rechecks && x.rechecks.length ? el("table", { id: "rechecks" },
    el("thead", null, el("tr", null, el("th", null, "Version"), el("th", null, "At"), el("th", null, "Verdict"),
      el("th", null, "Before"), el("th", null, "Newly matched"), el("th", null, "No longer"))),
    el("tbody", null, x.rechecks.map((r) => el("tr", null, el("td", null, r.version), el("td", null, when(r.at)),
      el("td", null, badge(r.action), " ", r.score),
      el("td", null, r.previous ? r.previous.action + " " + r.previous.score : ""),
      el("td", null, (r.newly_matched || []).join(", ")), el("td", null, (r.no_longer_matched || []).join(", "))))))
    : el("p", { class: "muted" }, "Not re-checked.");

  const history = q && q.history && q.history.length ? el("table", { id: "history" },
    el("thead", null, el("tr", null, el("th", null, "When"), el("th", null, "What"), el("th", null, "Who"),
      el("th", null, "From → to"), el("th", null, "Note"))),
    el("tbody", null, q.history.map((h) => el("tr", null, el("td", null, when(h.ts)),
      el("td", null, h.op + (h.decision ? " " + h.decision : "")), el("td", null, h.by),
      el("td", null, h.from + " → " + h.to), el("td", null, h.note || "")))))
    : el("p", { class: "muted" }, "No claims or decisions yet.");

  const node = el("section", { id: "referral-page", "data-id": id },
    el("p", null, el("a", { href: "#/queue" }, "← queue")),
    el("h1", null, "Referral ", el("span", { class: "mono" }, id)),
    el("div", { class: "toolbar" },
      el("button", { type: "button", class: "approve", id: "approve", disabled: !canDecide, onclick: () => act("approve") }, "Approve (a)"),
      el("button", { type: "button", class: "void", id: "void", disabled: !canDecide, onclick: () => act("void") }, "Void (v)"),
      el("button", { type: "button", id: "claim", disabled: !canDecide, onclick: () => claim("claim") }, "Claim"),
      el("button", { type: "button", id: "unclaim", disabled: !canDecide, onclick: () => claim("unclaim") }, "Unclaim")),
    el("div", { class: "grid2" },
      el("div", { class: "panel" }, el("h2", null, "Summary"), summary),
      el("div", { class: "panel" }, el("h2", null, "Versions"), versions, el("h2", null, "Rechecks"), rechecks)),
    el("div", { class: "panel" }, el("h2", null, "Rules that fired, with the facts they saw"),
      el("label", { class: "hint" }, showAll, " show every rule evaluated"), rulesBox),
    el("div", { class: "panel" }, el("h2", null, "Identity graph"), legend(), el("div", { class: "scroll" }, graphSvg(g))),
    el("div", { class: "panel" }, el("h2", null, "Timelines"), timelineSvg(g)),
    el("div", { class: "panel" }, el("h2", null, "History"), history));
  return {
    node,
    focus() { document.getElementById("main").focus(); },
    onKey(e) {
      if (e.key === "a") { act("approve"); return true; }
      if (e.key === "v") { act("void"); return true; }
      if (e.key === "u") {
        if (window.history.length > 1) window.history.back(); else location.hash = "#/queue";
        return true;
      }
      return false;
    },
  };
}

function dataWords(d) {
  const w = [];
  for (const g of d.geoip || []) w.push((g.database_type || g.path) + (g.build_epoch ? " built " + when(new Date(g.build_epoch * 1000).toISOString()) : ""));
  if (d.disposable) w.push("disposable list " + (d.disposable.entries || "") + " entries");
  if (!w.length) w.push("no GeoIP database, no disposable list");
  w.push("IPv4 /" + d.ip_prefix4 + ", IPv6 /" + d.ip_prefix6);
  return w.join("; ");
}
