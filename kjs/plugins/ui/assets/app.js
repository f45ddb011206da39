// The UI's shell: who is signed in, the header, and the history-API router that draws pages.
import { setToken, whoami, whenUnauthorized, ApiError } from "./api.js";
import { h, clear, tickAll, typing } from "./util.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { submitPage } from "./submit.js";
import { cronsPage, cronPage } from "./crons.js";
import { clustersPage } from "./clusters.js";
import { queuesPage } from "./queues.js";

const main = document.getElementById("main");
/** The caller as /whoami says, and what they may do. */
export const session = { who: null };

/** Whether the caller may act on every namespace (cluster-wide writes: cordon). */
export function mayEverywhere(scope) {
  return may(scope) && !((session.who && session.who.namespaces) || []).length;
}

export function may(scope) {
  const scopes = (session.who && session.who.scopes) || [];
  const rank = { read: 0, submit: 1, admin: 2 };
  return scopes.some((s) => (rank[s] ?? -1) >= rank[scope]);
}

let leaving = null; // the current page's cleanup (stops its watches and timers)

/** Go to `path` without a page load; the promise settles once the page is drawn. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  return route();
}

const PAGES = [
  [/^\/ui\/?$/, () => navigate("/ui/jobs", { replace: true })],
  [/^\/ui\/signin$/, signinPage],
  [/^\/ui\/jobs$/, jobsPage],
  [/^\/ui\/jobs\/([^/]+)$/, jobPage],
  [/^\/ui\/submit$/, submitPage],
  [/^\/ui\/crons$/, cronsPage],
  [/^\/ui\/crons\/([^/]+)$/, cronPage],
  [/^\/ui\/clusters$/, clustersPage],
  [/^\/ui\/queues$/, queuesPage],
];

let routed = 0; // pages drawn: the first comes with the page load, the others are navigations

async function route() {
  const moved = routed++ > 0;
  if (leaving) leaving();
  leaving = null;
  const path = location.pathname;
  if (path !== "/ui/signin" && !session.who) {
    try {
      await learnWho();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) showError(e);
      return;
    }
  }
  markNav(path);
  // Signed out, the nav leads nowhere but back to sign-in.
  document.querySelector(".nav").hidden = !session.who;
  for (const [pattern, page] of PAGES) {
    const match = path.match(pattern);
    if (match) {
      const controller = new AbortController();
      const cleanups = [() => controller.abort()];
      const context = {
        main: clear(main),
        params: new URLSearchParams(location.search),
        signal: controller.signal,
        onLeave: (fn) => cleanups.push(fn),
      };
      leaving = () => cleanups.forEach((fn) => fn());
      if (moved) focusHeading(controller.signal);
      try {
        await page(context, ...match.slice(1).map(decodeURIComponent));
      } catch (e) {
        if (!controller.signal.aborted && !(e instanceof ApiError && e.status === 401)) showError(e);
      }
      return;
    }
  }
  clear(main, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, path), "."));
}

/** After a navigation, focus the new page's heading (once it is drawn), so a screen reader
 *  announces it and Tab starts from it; unless the page has focused a control of its own. */
function focusHeading(signal) {
  const focus = () => {
    const heading = main.querySelector("h1");
    if (!heading) return false;
    if (!main.contains(document.activeElement) || document.activeElement === main) {
      heading.tabIndex = -1;
      window.scrollTo(0, 0);
      heading.focus({ preventScroll: true });
    }
    return true;
  };
  if (focus()) return;
  const watcher = new MutationObserver(() => focus() && watcher.disconnect());
  watcher.observe(main, { childList: true, subtree: true });
  signal.addEventListener("abort", () => watcher.disconnect());
}

function showError(e) {
  clear(main, h("div", { class: "alert alert-error", role: "alert" }, e.message || String(e)));
}

async function learnWho() {
  session.who = await whoami();
  const signedIn = !session.who.open;
  document.querySelector(".principal").textContent = session.who.open
    ? "open mode"
    : session.who.name;
  document.querySelector('[data-action="signout"]').hidden = !signedIn;
  for (const node of document.querySelectorAll("[data-needs]")) node.hidden = !may(node.dataset.needs);
}

function markNav(path) {
  for (const link of document.querySelectorAll(".nav a")) {
    const here = path.startsWith(`/ui/${link.dataset.section}`);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function signOut() {
  setToken("");
  session.who = null;
  document.querySelector(".principal").textContent = "";
  document.querySelector('[data-action="signout"]').hidden = true;
  navigate("/ui/signin");
}

async function signinPage({ main, params }) {
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
  });
  const error = h("p", { class: "field-error", "data-error-for": "token", role: "alert" });
  const form = h(
    "form",
    { "data-testid": "signin", class: "card signin" },
    h("h1", {}, "Sign in to kjs"),
    h("p", { class: "muted" }, "Paste an API token. It stays in this browser tab only."),
    h("label", { for: "token" }, "Token"),
    input,
    error,
    h("button", { type: "submit", class: "btn btn-primary" }, "Sign in")
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setToken(input.value.trim());
    session.who = null;
    try {
      await learnWho();
    } catch (e) {
      setToken("");
      session.who = null;
      error.textContent = e instanceof ApiError && e.status === 401 ? "That token is not valid." : e.message;
      return;
    }
    const next = params.get("next");
    navigate(next && next.startsWith("/ui/") ? next : "/ui/jobs", { replace: true });
  });
  main.append(form);
  input.focus();
}

whenUnauthorized(() => {
  session.who = null;
  if (location.pathname === "/ui/signin") return;
  const next = location.pathname + location.search;
  setToken("");
  navigate(`/ui/signin?next=${encodeURIComponent(next)}`, { replace: true });
});

// In-app links: history navigation instead of a page load.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
document.querySelector('[data-action="signout"]').addEventListener("click", signOut);

// -- keyboard shortcuts (listed in the help dialog, `?`) ---------------------------------------

const help = document.getElementById("shortcuts");
const GO = { j: "/ui/jobs", c: "/ui/crons", k: "/ui/clusters", q: "/ui/queues", s: "/ui/submit" };
let awaitingGo = null; // after "g": the timer that forgets it

function openHelp() {
  if (!help.open) help.showModal(); // Esc closes it, and focus goes back where it was
}

async function focusJobFilter() {
  if (location.pathname !== "/ui/jobs") await navigate("/ui/jobs");
  const input = document.getElementById("f-name_prefix");
  if (!input) return;
  const box = input.closest(".filters-box");
  if (box && !box.classList.contains("open")) box.querySelector('[data-action="toggle-filters"]')?.click();
  input.focus();
  input.select();
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey) return;
  if (help.open || typing(event.target) || !session.who) return;
  if (awaitingGo) {
    clearTimeout(awaitingGo);
    awaitingGo = null;
    const to = GO[event.key];
    if (to && (to !== "/ui/submit" || may("submit"))) {
      event.preventDefault();
      event.stopImmediatePropagation(); // "g j" is a place to go, not the jobs table's "j"
      navigate(to);
    }
    return;
  }
  if (event.key === "g") {
    awaitingGo = setTimeout(() => (awaitingGo = null), 1500);
  } else if (event.key === "?") {
    event.preventDefault();
    openHelp();
  } else if (event.key === "/") {
    event.preventDefault();
    focusJobFilter();
  }
});
document.querySelector('[data-action="shortcuts"]').addEventListener("click", openHelp);
help.querySelector('[data-action="close-shortcuts"]').addEventListener("click", () => help.close());
window.addEventListener("popstate", route);
setInterval(() => tickAll(main), 1000);
route();
