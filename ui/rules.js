// rules.js: each rule: enforcing or shadow, hits since start, its review
// queue items per day and how reviewers decided them.
import { el, svg, badge, rules } from "./core.js";
import { recentItems, dayIndex, DAYS } from "./queueitems.js";

function spark(counts) {
  const W = 150, H = 30, max = Math.max(1, ...counts);
  const x = (i) => 2 + (W - 4) * i / (counts.length - 1);
  const y = (v) => H - 3 - (H - 6) * v / max;
  const pts = counts.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  return svg("svg", { class: "sparkline", width: W, height: H, viewBox: `0 0 ${W} ${H}` },
    svg("title", null, counts.join(", ") + " (oldest day first)"),
    svg("path", { class: "spark-area", d: `M${x(0)},${H - 3} L${pts.join(" L")} L${x(counts.length - 1)},${H - 3} Z` }),
    svg("path", { class: "spark", d: "M" + pts.join(" L") }));
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
  const now = Date.now();
  const per = new Map(rs.list.map((r) => [r.rule, { days: new Array(DAYS).fill(0), approve: 0, void: 0, open: 0 }]));
  for (const it of items) {
    const d = dayIndex(it.created, now);
    for (const r of it.reasons || []) {
      const p = per.get(r);
      if (!p) continue;
      if (d >= 0 && d < DAYS) p.days[d]++;
      if (it.state === "decided") p[it.decision === "void" ? "void" : "approve"]++;
      else p.open++;
    }
  }
  const rows = rs.list.map((r) => {
    const p = per.get(r.rule);
    const dec = p.approve + p.void;
    return el("tr", { "data-rule": r.rule },
      el("td", null, el("div", null, r.rule), el("div", { class: "muted" }, r.msg || "")),
      el("td", null, badge(r.mode, r.mode)), el("td", null, badge(r.action)),
      el("td", { class: "num" }, r.score), el("td", { class: "num" }, r.hits),
      el("td", null, spark(p.days)),
      el("td", null, decidedBar(p.approve, p.void, p.open)),
      el("td", { class: "num" }, dec ? Math.round(100 * p.void / dec) + "% of " + dec : "–"));
  });
  const node = el("section", { id: "rules-page" },
    el("h1", null, "Rules"),
    el("p", { class: "muted" }, "Rule set ", el("span", { class: "mono" }, rs.hash), ", " + rs.list.length +
      " rules. Hits: new verdicts each rule matched since the daemon started. Queue: the referrals it sent to the review queue (among their top three reasons) per day, the last " +
      DAYS + " days, and how reviewers decided them (green approved, red voided, grey open)."),
    el("div", { class: "scroll" }, el("table", { id: "rules" },
      el("thead", null, el("tr", null, el("th", null, "Rule"), el("th", null, "Mode"), el("th", null, "Action"),
        el("th", { class: "num" }, "Score"), el("th", { class: "num" }, "Hits"), el("th", null, "Queue / day"),
        el("th", null, "Decisions"), el("th", { class: "num" }, "Voided"))),
      el("tbody", null, rows))));
  return { node };
}
