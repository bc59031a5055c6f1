// queueitems.js: what the rules and overview pages count: every queue
// item of the last days (each state, paged), and the daily counters of
// all verdicts (stats.daily).
import { api } from "./core.js";

export const DAYS = 14;
const MAX = 5000;

export async function recentItems(days) {
  const out = [];
  for (const state of ["open", "claimed", "decided"]) {
    let cursor = null;
    do {
      const req = { state, limit: 1000, since: (days || DAYS) + "d" };
      if (cursor) req.cursor = cursor;
      const r = await api("POST", "/v1/queue/list", req);
      out.push(...r.items);
      cursor = r.next;
    } while (cursor && out.length < MAX);
  }
  return out;
}

const DAY_MS = 86400000;

// The daily counters of the last DAYS days (UTC), oldest first, every day
// present: {day: "YYYY-MM-DD", actions: {allow, review, deny}, rules:
// {rule: hits}, shadow: {rule: hits}, rechecks: {"allow>deny": n}}.
export async function dailyCounts(now) {
  const today = Math.floor((now || Date.now()) / DAY_MS);
  const first = today - DAYS + 1;
  const r = await api("POST", "/v1/stats/daily", { since: first * DAY_MS });
  const out = [];
  for (let i = 0; i < DAYS; i++)
    out.push({ day: new Date((first + i) * DAY_MS).toISOString().slice(0, 10),
      actions: {}, rules: {}, shadow: {}, rechecks: {} });
  for (const d of r.days) {
    const i = Math.floor(Date.parse(d.day + "T00:00:00Z") / DAY_MS) - first;
    if (i >= 0 && i < DAYS) Object.assign(out[i], d);
  }
  return out;
}
