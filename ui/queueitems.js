// queueitems.js: every queue item of the last days (each state, paged),
// what the rules and overview pages count.
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

// Day index (0 = DAYS-1 days ago .. DAYS-1 = today, UTC) of an RFC 3339 time.
export function dayIndex(iso, now) {
  const d = Math.floor(Date.parse(iso) / 86400000);
  const today = Math.floor((now || Date.now()) / 86400000);
  return DAYS - 1 - (today - d);
}
