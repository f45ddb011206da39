// The UI's shell: who is signed in, the header, and the history-API router that draws pages.
import { setToken, whoami, whenUnauthorized, ApiError } from "./api.js";
import { h, clear, tickAll } from "./util.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { submitPage } from "./submit.js";
import { cronsPage, cronPage } from "./crons.js";
import { clustersPage } from "./clusters.js";

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

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
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
];

async function route() {
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
window.addEventListener("popstate", route);
setInterval(() => tickAll(main), 1000);
route();
