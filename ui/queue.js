// queue.js: the review queue: filters, rows, keyboard, decisions.
import { api, el, badge, age, money, rules, reasonWords, askDecision, decide,
  parties, toast, clear } from "./core.js";

const PAGE = 50;

function filtersFrom(params) {
  const f = { state: params.get("state") || "open", sort: params.get("sort") || "newest" };
  for (const k of ["action", "rule", "campaign"]) if (params.get(k)) f[k] = params.get(k);
  for (const k of ["score_min", "score_max"])
    if (params.get(k) && /^-?\d+$/.test(params.get(k))) f[k] = Number(params.get(k));
  return f;
}

function hashOf(f) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== undefined && v !== "") p.set(k, String(v));
  return "#/queue?" + p.toString();
}

export async function render(_arg, params, live) {
  const f = filtersFrom(params);
  const rs = await rules();
  const st = { items: [], rows: [], cursor: 0, selected: new Set(), next: null, f, rs };

  const sel = (name, opts, value) => el("select", { name },
    opts.map(([v, t]) => el("option", { value: v, selected: v === (value || "") }, t)));
  const form = el("form", { class: "filters", id: "filters" },
    el("label", null, "State", sel("state", [["open", "open"], ["claimed", "claimed"], ["decided", "decided"]], f.state)),
    el("label", null, "Order", sel("sort", [["newest", "newest first"], ["score", "highest score"]], f.sort)),
    el("label", null, "Action", sel("action", [["", "any"], ["review", "review"], ["deny", "deny"]], f.action)),
    el("label", null, "Rule", sel("rule", [["", "any"]].concat(rs.list.map((r) => [r.rule, r.rule])), f.rule)),
    el("label", null, "Campaign", el("input", { name: "campaign", value: f.campaign || "", size: 12 })),
    el("label", null, "Score from", el("input", { name: "score_min", type: "number", value: f.score_min ?? "" })),
    el("label", null, "to", el("input", { name: "score_max", type: "number", value: f.score_max ?? "" })),
    el("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const nf = {};
    for (const [k, v] of new FormData(form).entries()) if (String(v).trim() !== "") nf[k] = String(v).trim();
    location.hash = hashOf(nf);
  });
  form.addEventListener("change", (e) => {
    if (e.target.tagName === "SELECT") form.requestSubmit();
  });

  const tbody = el("tbody", { id: "queue-rows" });
  const table = el("table", { id: "queue" },
    el("thead", null, el("tr", null, el("th", null, ""), el("th", null, "Referral"),
      el("th", null, "Action"), el("th", { class: "num" }, "Score"), el("th", null, "Reasons"),
      el("th", null, "Referrer"), el("th", { class: "num" }, "Reward"), el("th", { class: "num" }, "Age"),
      el("th", null, "State"))),
    tbody);
  const more = el("button", { id: "more", type: "button", hidden: true }, "More");
  const count = el("span", { class: "count", id: "queue-count" }, "");
  const bulkA = el("button", { type: "button", class: "approve", id: "bulk-approve", disabled: true }, "Approve selected (A)");
  const bulkV = el("button", { type: "button", class: "void", id: "bulk-void", disabled: true }, "Void selected (V)");
  const node = el("section", { id: "queue-page" },
    el("h1", null, "Review queue"), form,
    el("div", { class: "toolbar" }, count, bulkA, bulkV,
      el("span", { class: "hint keys" }, el("kbd", null, "j"), "/", el("kbd", null, "k"), " move ",
        el("kbd", null, "Enter"), " open ", el("kbd", null, "x"), " select ",
        el("kbd", null, "a"), " approve ", el("kbd", null, "v"), " void ")),
    el("div", { class: "scroll" }, table), el("p", null, more));

  function paint() {
    st.rows.forEach((tr, i) => {
      tr.classList.toggle("cursor", i === st.cursor);
      tr.classList.toggle("selected", st.selected.has(st.items[i].id));
      tr.querySelector("input[type=checkbox]").checked = st.selected.has(st.items[i].id);
    });
    const n = st.selected.size;
    bulkA.disabled = bulkV.disabled = n === 0;
    count.textContent = st.items.length + (st.next ? "+" : "") + " items" + (n ? ", " + n + " selected" : "");
    const cur = st.rows[st.cursor];
    if (cur) cur.scrollIntoView({ block: "nearest" });
    node.dataset.cursor = st.items[st.cursor] ? st.items[st.cursor].id : "";
  }

  function stateCell(it) {
    return it.state === "decided" ? [badge(it.decision, it.decision), " ", it.decided_by || ""]
      : it.state === "claimed" ? [badge("claimed"), " ", it.assignee || ""] : [badge("open")];
  }

  function row(it, i) {
    const reasons = (it.reasons || []).slice(0, 2);
    const ref = el("td", { class: "hash referrer" }, "…");
    const stCell = el("td", { class: "state" }, stateCell(it));
    const tr = el("tr", { class: "row" + (it.state === "decided" ? " decided" : ""), "data-id": it.id },
      el("td", null, el("input", { type: "checkbox", "aria-label": "select " + it.id })),
      el("td", null, el("a", { href: "#/referral/" + encodeURIComponent(it.id) }, it.id)),
      el("td", null, badge(it.action)),
      el("td", { class: "num" }, it.score),
      el("td", { class: "reasons" }, reasons.map((r) => el("div", { title: r }, reasonWords(st.rs, r))),
        (it.reasons || []).length > 2 ? el("div", { class: "muted" }, "+" + (it.reasons.length - 2) + " more") : null),
      ref,
      el("td", { class: "num" }, money(it.reward)),
      el("td", { class: "num", title: it.created }, age(it.created)),
      stCell);
    tr.addEventListener("click", (e) => {
      if (e.target.tagName === "A") return;
      if (e.target.tagName === "INPUT") { toggle(i); return; }
      st.cursor = i; paint();
    });
    tr.addEventListener("dblclick", () => open(i));
    tr._ref = ref;
    tr._state = stCell;
    return tr;
  }

  async function load() {
    const req = Object.assign({}, f, { limit: PAGE });
    if (st.next) req.cursor = st.next;
    const r = await api("POST", "/v1/queue/list", req);
    const start = st.items.length;
    for (const it of r.items) {
      const tr = row(it, st.items.length);
      st.items.push(it);
      st.rows.push(tr);
      tbody.append(tr);
    }
    st.next = r.next;
    more.hidden = !r.next;
    if (st.items.length === 0)
      tbody.append(el("tr", null, el("td", { colspan: 9, class: "muted" }, "Nothing in the queue matches.")));
    paint();
    const ids = r.items.map((x) => x.id);
    if (ids.length) {
      // The referrer column only: the queue works without it.
      let ps = new Map();
      try { ps = await parties(ids); } catch (e) { toast("Referrers not shown: " + e.message, true); }
      ids.forEach((id, k) => {
        const p = ps.get(id);
        const td = st.rows[start + k]._ref;
        td.textContent = p && p.referrer ? "account:" + p.referrer : "?";
      });
    }
    tbody.dataset.loaded = String(st.items.length);
  }

  function toggle(i) {
    const id = st.items[i] && st.items[i].id;
    if (!id || st.items[i].state === "decided") return;
    if (st.selected.has(id)) st.selected.delete(id); else st.selected.add(id);
    paint();
  }

  function open(i) {
    const it = st.items[i];
    if (it) location.hash = "#/referral/" + encodeURIComponent(it.id);
  }

  function mark(items) {
    for (const it of items || []) {
      const i = st.items.findIndex((x) => x.id === it.id);
      if (i < 0) continue;
      st.items[i] = it;
      st.selected.delete(it.id);
      const tr = st.rows[i];
      tr.classList.add("decided");
      tr.dataset.state = it.state;
      clear(tr._state);
      tr._state.append(...stateCell(it));
    }
    paint();
  }

  async function decideCursor(decision) {
    const it = st.items[st.cursor];
    if (!it) return;
    if (it.state === "decided") { toast(it.id + " is decided already"); return; }
    const ok = await askDecision(decision, it.id + " (" + it.action + ", score " + it.score + ")");
    if (!ok) return;
    mark(await decide([it.id], decision, ok.note));
    if (st.cursor < st.items.length - 1) st.cursor++;
    paint();
  }

  async function decideSelected(decision) {
    const ids = [...st.selected];
    if (!ids.length) return;
    const ok = await askDecision(decision, ids.length + " selected referrals: " + ids.join(", "));
    if (!ok) return;
    mark(await decide(ids, decision, ok.note));
  }

  bulkA.addEventListener("click", () => decideSelected("approve"));
  bulkV.addEventListener("click", () => decideSelected("void"));
  more.addEventListener("click", () => load().catch((e) => toast(e.message, true)));

  await load();
  return {
    node,
    focus() { document.getElementById("main").focus(); },
    onKey(e) {
      switch (e.key) {
      case "j": if (st.cursor < st.items.length - 1) st.cursor++; paint(); return true;
      case "k": if (st.cursor > 0) st.cursor--; paint(); return true;
      case "Enter": open(st.cursor); return true;
      case "x": toggle(st.cursor); return true;
      case "a": decideCursor("approve"); return true;
      case "v": decideCursor("void"); return true;
      case "A": decideSelected("approve"); return true;
      case "V": decideSelected("void"); return true;
      case "m": if (st.next) load(); return true;
      }
      return false;
    },
  };
}
