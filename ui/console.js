// console.js: the console's entry: hash routes, the keyboard, sign-in.
import { initAuth, clear, el, toast } from "./core.js";
import * as queue from "./queue.js";
import * as referral from "./referral.js";
import * as rulesPage from "./rules.js";
import * as overview from "./overview.js";

const pages = { queue, referral, rules: rulesPage, overview };
let current = null;
let generation = 0;

// "#/queue?state=open" -> {page: "queue", arg: "", params}
function parse() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?", 2);
  const parts = path.split("/");
  let arg = parts.slice(1).join("/");
  try {
    arg = decodeURIComponent(arg);
  } catch (e) {
    // A malformed link (#/referral/%E0): the page says the id is unknown.
  }
  return { page: parts[0] || "queue", arg, params: new URLSearchParams(query || "") };
}

async function route() {
  const r = parse();
  const page = pages[r.page] || queue;
  const main = document.getElementById("main");
  const gen = ++generation;
  document.querySelectorAll("header nav a").forEach((a) =>
    a.classList.toggle("active", a.dataset.page === (r.page === "referral" ? "queue" : r.page)));
  current = null;
  document.querySelectorAll("#toast div:not(.error)").forEach((d) => d.remove());
  main.dataset.page = r.page;
  main.dataset.ready = "no";
  clear(main);
  main.append(el("p", { class: "loading" }, "Loading…"));
  try {
    const view = await page.render(r.arg, r.params, () => gen === generation);
    if (gen !== generation) return;
    clear(main);
    main.append(view.node);
    current = view;
    main.dataset.ready = "yes";
    if (view.focus) view.focus();
  } catch (e) {
    if (gen !== generation) return;
    clear(main);
    main.append(el("p", { class: "error" }, "Could not load this page: " + e.message));
    main.dataset.ready = "error";
  }
}

function onKey(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
    if (e.key === "Escape") t.blur();
    return;
  }
  if (e.key === "g") { location.hash = "#/queue"; return; }
  if (e.key === "?") { toast("j/k move, Enter opens, x selects, a approves, v voids, A/V decide the selected, u goes up, g the queue"); return; }
  if (current && current.onKey && current.onKey(e)) e.preventDefault();
}

window.addEventListener("hashchange", route);
document.addEventListener("keydown", onKey);
initAuth();
route();
