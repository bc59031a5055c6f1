// rules.js: each rule: enforcing or shadow, its hits per day in every
// verdict (the daily counters), how reviewers decided the review queue
// items it sent, and what evaluating it costs.
import { el, svg, badge, rules } from "./core.js";
import { recentItems, dailyCounts, DAYS } from "./queueitems.js";

// Hits per day, oldest first: enforcing (solid) and shadow (stacked above).
function hitsChart(days, enf, sh) {
  const W = 168, H = 30, bw = W / DAYS, max = Math.max(1, ...enf.map((v, i) => v + sh[i]));
  const s = svg("svg", { class: "hits-chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`,
    "data-hits": enf.join(","), "data-shadow": sh.join(",") },
    svg("title", null, `${enf.reduce((a, b) => a + b, 0)} enforcing, ${sh.reduce((a, b) => a + b, 0)} shadow hits in ${DAYS} days`));
  s.append(svg("line", { class: "axis", x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
  for (let i = 0; i < DAYS; i++) {
    const he = (H - 2) * enf[i] / max, hs = (H - 2) * sh[i] / max;
    const g = svg("g", null, svg("title", null, `${days[i].day}: ${enf[i]} enforcing, ${sh[i]} shadow`));
    if (he > 0) g.append(svg("rect", { class: "bar-hit", x: i * bw + 1, y: H - 1 - he, width: bw - 2, height: he }));
    if (hs > 0) g.append(svg("rect", { class: "bar-shadow", x: i * bw + 1, y: H - 1 - he - hs, width: bw - 2, height: hs }));
    s.append(g);
  }
  return s;
}

function decidedBar(a, v, open) {
  const W = 150, H = 14, n = a + v + open;
  const s = svg("svg", { class: "decided-bar", width: W, height: H, viewBox: `0 0 ${W} ${H}` },
    svg("title", null, `${a} approved, ${v} voided, ${open} not decided`));
  if (!n) { s.append(svg("rect", { class: "bar-open", x: 0, y: 0, width: W, height: H })); return s; }
  let x = 0;
  for (const [c, k] of [[a, "approve"], [v, "void"], [open, "open"]]) {
    const w = W * c / n;
    if (w > 0) s.append(svg("rect", { class: "bar-" + k, x, y: 0, width: w, height: H }));
    x += w;
  }
  return s;
}

export async function render() {
  const rs = await rules(true);
  const items = await recentItems(DAYS);
  const days = await dailyCounts();
  const per = new Map(rs.list.map((r) => [r.rule, { approve: 0, void: 0, open: 0,
    enf: days.map((d) => d.rules[r.rule] || 0), sh: days.map((d) => d.shadow[r.rule] || 0) }]));
  for (const it of items) {
    for (const r of it.reasons || []) {
      const p = per.get(r);
      if (!p) continue;
      if (it.state === "decided") p[it.decision === "void" ? "void" : "approve"]++;
      else p.open++;
    }
  }
  const rows = rs.list.map((r) => {
    const p = per.get(r.rule);
    const dec = p.approve + p.void, total = [...p.enf, ...p.sh].reduce((a, b) => a + b, 0);
    return el("tr", { "data-rule": r.rule },
      el("td", null, el("div", null, r.rule), el("div", { class: "muted" }, r.msg || "")),
      el("td", null, badge(r.mode, r.mode)), el("td", null, badge(r.action)),
      el("td", { class: "num" }, r.score), el("td", { class: "num" }, r.hits),
      el("td", { class: "num hits-total" }, total), el("td", null, hitsChart(days, p.enf, p.sh)),
      el("td", null, decidedBar(p.approve, p.void, p.open)),
      el("td", { class: "num" }, dec ? Math.round(100 * p.void / dec) + "% of " + dec : "–"),
      el("td", { class: "num cost", "data-timed": r.timed }, r.timed ? (r.cost_ns / 1000).toFixed(1) + " µs" : "–"));
  });
  const node = el("section", { id: "rules-page" },
    el("h1", null, "Rules"),
    el("p", { class: "muted" }, "Rule set ", el("span", { class: "mono" }, rs.hash), ", " + rs.list.length +
      " rules. Since start: new verdicts each rule matched since the daemon started. Hits / day: every verdict it matched, the last " +
      DAYS + " days by the referral's day (UTC), enforcing in blue, shadow in purple. Decisions: the referrals it sent to the review queue " +
      "(among their top three reasons) in those days, and how reviewers decided them (green approved, red voided, grey open). " +
      "Cost: the mean time of its evaluations timed since the rule set went into service (one evaluation in 16 on each thread)."),
    el("div", { class: "scroll" }, el("table", { id: "rules" },
      el("thead", null, el("tr", null, el("th", null, "Rule"), el("th", null, "Mode"), el("th", null, "Action"),
        el("th", { class: "num" }, "Score"), el("th", { class: "num" }, "Since start"),
        el("th", { class: "num" }, DAYS + " days"), el("th", null, "Hits / day"),
        el("th", null, "Decisions"), el("th", { class: "num" }, "Voided"), el("th", { class: "num" }, "Cost"))),
      el("tbody", null, rows))));
  return { node };
}
