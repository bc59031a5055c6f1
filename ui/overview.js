// overview.js: verdict mix, queue size and age, top referrers by flagged
// referrals, data versions and store health.
import { api, el, svg, badge, age, when, parties } from "./core.js";
import { recentItems, DAYS } from "./queueitems.js";

function mixBar(c) {
  const W = 600, H = 22, n = c.allow + c.review + c.deny;
  const s = svg("svg", { id: "verdict-mix", width: "100%", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" },
    svg("title", null, `${c.allow} allow, ${c.review} review, ${c.deny} deny`));
  let x = 0;
  for (const k of ["allow", "review", "deny"]) {
    const w = n ? W * c[k] / n : 0;
    if (w > 0) s.append(svg("rect", { class: "bar-" + k, x, y: 0, width: w, height: H }));
    x += w;
  }
  if (!n) s.append(svg("rect", { class: "bar-open", x: 0, y: 0, width: W, height: H }));
  return s;
}

function stat(v, what, id) {
  return el("div", { class: "stat", id }, el("b", null, String(v)), el("span", null, what));
}

function mib(b) { return (b / 1048576).toFixed(1) + " MiB"; }

export async function render() {
  const s = await api("GET", "/v1/stats");
  const items = await recentItems(DAYS);
  const open = items.filter((i) => i.state !== "decided");
  const oldest = open.reduce((m, i) => (!m || i.created < m ? i.created : m), null);
  const ps = await parties(items.map((i) => i.id));
  const by = new Map();
  for (const it of items) {
    const p = ps.get(it.id);
    if (!p || !p.referrer) continue;
    const e = by.get(p.referrer) || { n: 0, void: 0, approve: 0 };
    e.n++;
    if (it.decision === "void") e.void++;
    if (it.decision === "approve") e.approve++;
    by.set(p.referrer, e);
  }
  const top = [...by.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 10);
  const st = s.store || {};
  const c = s.checks || { allow: 0, review: 0, deny: 0 };
  const health = st.error ? el("span", { class: "error" }, "store error: " + st.error)
    : st.full ? el("span", { class: "error" }, "store full: writes fail") : badge("ok", "allow");
  const data = s.data || {};
  const node = el("section", { id: "overview-page" },
    el("h1", null, "Overview"),
    el("div", { class: "grid2" },
      el("div", { class: "panel" }, el("h2", null, "Verdicts since start"),
        stat(c.allow, "allow", "n-allow"), stat(c.review, "review", "n-review"), stat(c.deny, "deny", "n-deny"),
        stat(c.replayed, "replayed"), mixBar(c)),
      el("div", { class: "panel" }, el("h2", null, "Review queue"),
        stat(st.queue_open ?? "?", "open", "n-open"), stat(st.queue_claimed ?? "?", "claimed"),
        stat(st.queue_decided ?? "?", "decided"),
        stat(oldest ? age(oldest) : "–", "oldest open", "oldest"),
        el("p", null, el("a", { href: "#/queue?state=open&sort=score" }, "Riskiest open items first")))),
    el("div", { class: "grid2" },
      el("div", { class: "panel" }, el("h2", null, "Top referrers by flagged referrals (" + DAYS + " days)"),
        top.length ? el("table", { id: "top-referrers" },
          el("thead", null, el("tr", null, el("th", null, "Referrer"), el("th", { class: "num" }, "Flagged"),
            el("th", { class: "num" }, "Voided"), el("th", { class: "num" }, "Approved"))),
          el("tbody", null, top.map(([h, e]) => el("tr", null, el("td", { class: "hash" }, "account:" + h),
            el("td", { class: "num" }, e.n), el("td", { class: "num" }, e.void), el("td", { class: "num" }, e.approve)))))
          : el("p", { class: "muted" }, "No flagged referrals.")),
      el("div", { class: "panel" }, el("h2", null, "Versions and health"),
        el("dl", { class: "kv", id: "health" },
          el("dt", null, "refguardd"), el("dd", null, s.version + ", up " + age(new Date(Date.now() - s.uptime_s * 1000).toISOString())),
          el("dt", null, "Store"), el("dd", null, health, " ", st.map_used !== undefined ?
            mib(st.map_used) + " of " + mib(st.map_max) + ", " + st.events + " events, " + st.verdicts + " verdicts" : ""),
          el("dt", null, "Writer"), el("dd", null, s.writer ? s.writer.commits + " commits, " + s.writer.failed_batches + " failed" : ""),
          el("dt", null, "Rule set"), el("dd", null, el("span", { class: "mono" }, s.ruleset.hash), ", " + s.ruleset.rules +
            " rules, loaded " + when(s.ruleset.loaded_at),
            s.ruleset.last_reload_error ? el("div", { class: "error" }, "last reload failed: " + s.ruleset.last_reload_error) : ""),
          el("dt", null, "GeoIP"), el("dd", null, (data.geoip || []).length ? data.geoip.map((g) =>
            el("div", null, (g.database_type || g.path) + ", built " + when(g.built) + (g.age_s !== undefined ? " (" + Math.round(g.age_s / 86400) + "d old)" : "")))
            : el("span", { class: "muted" }, "none")),
          el("dt", null, "Disposable list"), el("dd", null, data.disposable ? data.disposable.entries + " domains, " + when(data.disposable.built)
            : el("span", { class: "muted" }, "none")),
          el("dt", null, "Lists"), el("dd", null, (data.lists || []).length ? data.lists.map((l) =>
            el("div", null, l.name + ": " + l.entries + " entries, " + when(l.built))) : el("span", { class: "muted" }, "none"))))));
  return { node };
}
