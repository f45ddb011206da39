// Cron jobs: the list (schedule, next runs, last outcome) with suspend/resume/trigger, and one
// cron job's page with its runs.
import { getJSON, send } from "./api.js";
import { may, navigate } from "./app.js";
import { jobHeader, jobRow } from "./jobs.js";
import { clear, duration, h, localTime, shortId, since, toast, toYAML } from "./util.js";
import { shownSpec, specOf } from "./job.js";

function nextRuns(cron) {
  if (cron.suspend) return h("span", { class: "muted" }, "suspended");
  const runs = cron.next_runs || (cron.next_run_at ? [cron.next_run_at] : []);
  if (!runs.length) return h("span", { class: "muted" }, "—");
  return h("span", { title: runs.map(localTime).join("\n") }, localTime(runs[0]),
    runs.length > 1 ? h("span", { class: "muted" }, ` +${runs.length - 1} more`) : null);
}

function cronButtons(cron, done) {
  if (!may("submit")) return [];
  const act = (action, label) =>
    h("button", {
      type: "button",
      class: "btn btn-small",
      "data-action": action,
      onclick: async () => {
        try {
          const result = await send("POST", `cronjobs/${cron.id}/${action}`);
          toast(action === "trigger" ? "Triggered" : `${label}ed`);
          done(action, result);
        } catch (e) {
          toast(e.message, "error");
        }
      },
    }, label);
  return [cron.suspend ? act("resume", "Resume") : act("suspend", "Suspend"), act("trigger", "Trigger")];
}

/** The last run's cell: its state (filled in by `lastOutcome`) and how long ago it started. */
function lastRunCell(cron) {
  const cell = h("td", { "data-col": "last_run", "data-label": "Last run" });
  if (!cron.last_run_at) return clear(cell, h("span", { class: "last-state" }, "—"));
  return clear(cell, h("span", { class: "last-state" }), " ",
    h("span", { class: "muted", "data-tick-since": cron.last_run_at, title: localTime(cron.last_run_at) }, duration(since(cron.last_run_at))),
    h("span", { class: "muted" }, " ago"));
}

/** Each row's last run's state: one `runs?limit=1` a row, after the table is drawn. */
function lastOutcome(rows, signal) {
  for (const [cron, tr] of rows) {
    const slot = tr.querySelector(".last-state");
    if (!slot) continue;
    getJSON(`cronjobs/${cron.id}/runs`, { limit: 1 }, signal)
      .then((page) => {
        const run = page.items[0];
        if (!run) return;
        slot.className = `last-state state-${run.state}`;
        clear(slot, h("a", { href: `/ui/jobs/${run.id}`, "data-nav": true, class: "state-link" }, run.state));
      })
      .catch(() => {}); // the age alone is still right
  }
}

export async function cronsPage({ main, signal }) {
  const tbody = h("tbody");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Cron jobs")),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "crons-table", class: "table crons" },
      h("thead", {}, h("tr", {}, ["Name", "Schedule", "Next run", "Last run", "Runs", "Namespace", "Id", ""].map((t) => h("th", { scope: "col", class: { Name: "name", Runs: "num", Id: "id-col" }[t] }, t)))),
      tbody))
  );
  async function load() {
    const page = await getJSON("cronjobs", { limit: 500 }, signal);
    const rows = page.items.map((cron) => [cron,
      h("tr", { "data-cron-id": cron.id, class: cron.suspend ? "suspended" : "" },
        h("td", { "data-col": "name", class: "name" }, h("a", { href: `/ui/crons/${cron.id}`, "data-nav": true }, cron.name)),
        h("td", { "data-col": "schedule", "data-label": "Schedule" }, h("code", {}, cron.schedule), cron.time_zone ? h("span", { class: "muted" }, ` ${cron.time_zone}`) : null),
        h("td", { "data-col": "next_runs", "data-label": "Next run" }, nextRuns(cron)),
        lastRunCell(cron),
        h("td", { "data-col": "runs", class: "num", title: "succeeded / total", "data-label": "Runs" }, `${cron.runs_succeeded}/${cron.runs_total}`),
        h("td", { "data-col": "namespace", "data-label": "Namespace" }, cron.namespace),
        h("td", { "data-col": "id", class: "id-col" }, shortId(cron.id)),
        h("td", { class: "row-actions" }, h("div", { class: "actions" }, cronButtons(cron, () => load()))))]);
    clear(tbody, rows.map(([, tr]) => tr));
    lastOutcome(rows, signal);
    if (!page.items.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty muted" }, "No cron jobs.")));
  }
  await load();
}

export async function cronPage({ main, signal }, id) {
  const head = h("div", { class: "page-head" });
  const facts = h("dl", { class: "facts" });
  const spec = h("pre", { class: "code" });
  const runs = h("tbody");
  main.append(
    h("div", { class: "crumbs" }, h("a", { href: "/ui/crons", "data-nav": true }, "Cron jobs"), " / ", shortId(id)),
    head, facts,
    h("section", { class: "card", "data-testid": "cron-runs" }, h("h2", {}, "Runs"),
      h("div", { class: "table-wrap" }, h("table", { class: "table jobs", "data-testid": "cron-runs-table" },
        h("thead", {}, jobHeader(may("submit"))),
        runs))),
    h("section", { class: "card" }, h("h2", {}, "Spec"), spec)
  );
  async function load() {
    const cron = await getJSON(`cronjobs/${id}`, null, signal);
    clear(head, h("h1", {}, cron.name), cron.suspend ? h("span", { class: "state state-cancelled" }, "suspended") : null,
      h("span", { class: "spacer" }), h("div", { class: "actions" }, cronButtons(cron, (action, result) => {
        if (action === "trigger" && result && result.id) navigate(`/ui/jobs/${result.id}`);
        else load();
      })));
    const upcoming = cron.suspend ? [] : cron.next_runs || (cron.next_run_at ? [cron.next_run_at] : []);
    clear(facts,
      h("div", {}, h("dt", {}, "Schedule"), h("dd", {}, h("code", {}, cron.schedule), cron.time_zone ? ` (${cron.time_zone})` : "")),
      h("div", {}, h("dt", {}, "Namespace"), h("dd", {}, cron.namespace)),
      h("div", {}, h("dt", {}, "Next runs"), h("dd", {}, upcoming.length ? h("ul", { class: "plain", "data-testid": "next-runs" }, upcoming.map((t) => h("li", {}, h("time", { datetime: t }, localTime(t))))) : "—")),
      h("div", {}, h("dt", {}, "Runs"), h("dd", {}, `${cron.runs_succeeded} succeeded of ${cron.runs_total}`)));
    spec.textContent = toYAML(shownSpec(specOf(cron)));
    const page = await getJSON(`cronjobs/${id}/runs`, { limit: 50 }, signal);
    clear(runs, page.items.map(jobRow));
    if (!page.items.length) runs.append(h("tr", {}, h("td", { colspan: 9, class: "empty muted" }, "No runs yet.")));
  }
  await load();
}
