// Cron jobs: the list (schedule, next runs, last run and its outcome) with suspend/resume/
// trigger, and one cron job's page with its runs. Both stay current without a reload:
// - the list re-reads `GET /cronjobs` every few seconds while the tab is visible, and asks for a
//   cron job's latest run (`runs?limit=1`) only when its run count or last fire time moved, or
//   while that run is unfinished. The jobs watch would also see runs start and end, but it has
//   no "runs of any cron job" filter: on a busy server it would stream every job to this page
//   for the few that are runs, and it says nothing of next runs, counts or a suspend.
// - one cron job's runs follow the jobs watch filtered by `cron_id` (the server sends only its
//   runs, the moment they change); its facts (next runs, counts, suspended) are re-read on the
//   same visible-tab timer as the list.
import { getJSON, send } from "./api.js";
import { may, navigate } from "./app.js";
import { JOB_COLUMNS, followJobs, jobHeader, jobRow } from "./jobs.js";
import { duration, h, localTime, morph, shortId, since, syncRows, toast, toYAML, whileVisible } from "./util.js";
import { shownSpec, specOf } from "./job.js";

const REFRESH_MS = 4000;
const FINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);
const RUNS_SHOWN = 50;

function upcomingOf(cron) {
  return cron.suspend ? [] : cron.next_runs || (cron.next_run_at ? [cron.next_run_at] : []);
}

function nextRuns(cron) {
  if (cron.suspend) return h("span", { class: "muted" }, "suspended");
  const runs = upcomingOf(cron);
  if (!runs.length) return h("span", { class: "muted" }, "—");
  return h("span", { title: runs.map(localTime).join("\n") }, localTime(runs[0]),
    runs.length > 1 ? h("span", { class: "muted" }, ` +${runs.length - 1} more`) : null);
}

/** Suspend or resume, and trigger. Their clicks are handled by `onCronAction` on a container,
 *  so a button redrawn in place (suspend → resume) acts on what it says when pressed. */
function cronButtons(cron) {
  if (!may("submit")) return [];
  const act = (action, label) =>
    h("button", { type: "button", class: "btn btn-small", "data-action": action, "aria-label": `${label} ${cron.name}` }, label);
  return [cron.suspend ? act("resume", "Resume") : act("suspend", "Suspend"), act("trigger", "Trigger")];
}

function onCronAction(container, idOf, done) {
  container.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !["suspend", "resume", "trigger"].includes(button.dataset.action)) return;
    const action = button.dataset.action;
    try {
      const result = await send("POST", `cronjobs/${idOf(button)}/${action}`);
      toast({ trigger: "Triggered", suspend: "Suspended", resume: "Resumed" }[action]);
      done(action, result);
    } catch (e) {
      toast(e.message, "error");
    }
  });
}

/** The last run's cell: its state (a link to it) and how long ago it started. */
function lastRunCell(cron, run) {
  const at = run ? run.created_at : cron.last_run_at;
  const cell = h("td", { "data-col": "last_run", "data-label": "Last run" });
  if (!at) return h("td", { "data-col": "last_run", "data-label": "Last run" }, h("span", { class: "last-state" }, "—"));
  cell.append(
    run
      ? h("span", { class: `last-state state-${run.state}` }, h("a", { href: `/ui/jobs/${run.id}`, "data-nav": true, class: "state-link" }, run.state))
      : h("span", { class: "last-state" }),
    " ",
    h("span", { class: "muted" },
      h("span", { "data-tick-since": at, title: localTime(at) }, duration(since(at))), " ago")
  );
  return cell;
}

function cronRow(cron, run) {
  return h("tr", { "data-cron-id": cron.id, class: cron.suspend ? "suspended" : "" },
    h("td", { "data-col": "name", class: "name" }, h("a", { href: `/ui/crons/${cron.id}`, "data-nav": true }, cron.name)),
    h("td", { "data-col": "schedule", "data-label": "Schedule" }, h("code", {}, cron.schedule), cron.time_zone ? h("span", { class: "muted" }, ` ${cron.time_zone}`) : null),
    h("td", { "data-col": "next_runs", "data-label": "Next run" }, nextRuns(cron)),
    lastRunCell(cron, run),
    h("td", { "data-col": "runs", class: "num", title: "succeeded / total", "data-label": "Runs" }, `${cron.runs_succeeded}/${cron.runs_total}`),
    h("td", { "data-col": "namespace", "data-label": "Namespace" }, cron.namespace),
    h("td", { "data-col": "id", class: "id-col" }, shortId(cron.id)),
    h("td", { class: "row-actions" }, h("div", { class: "actions" }, cronButtons(cron))));
}

export async function cronsPage({ main, signal }) {
  const tbody = h("tbody");
  const headers = ["Name", "Schedule", "Next run", "Last run", "Runs", "Namespace", "Id", "Actions"];
  const headClass = { Name: "name", Runs: "num", Id: "id-col" };
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Cron jobs"), h("span", { class: "live muted on", title: `Refreshed every ${REFRESH_MS / 1000} s while this tab is visible` }, "● live")),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "crons-table", class: "table crons" },
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", class: headClass[t] }, t === "Actions" ? h("span", { class: "sr-only" }, t) : t)))),
      tbody))
  );
  let crons = [];
  const latest = new Map(); // cron id → { mark, run }: its latest run, and what it was asked at

  function draw() {
    const rows = crons.map((cron) => cronRow(cron, latest.get(cron.id)?.run));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 8, class: "empty muted" }, "No cron jobs.")));
    syncRows(tbody, rows, "data-cron-id");
  }

  async function load() {
    crons = (await getJSON("cronjobs", { limit: 500 }, signal)).items;
    draw();
    // A run started, or the one shown is unfinished: ask for the latest run again.
    const asks = crons.flatMap((cron) => {
      const mark = `${cron.runs_total}|${cron.last_run_at || ""}`;
      const known = latest.get(cron.id);
      if (known && known.mark === mark && (!known.run || FINAL.has(known.run.state))) return [];
      if (!cron.runs_total && !cron.last_run_at) {
        latest.set(cron.id, { mark, run: null }); // never ran: nothing to ask
        return [];
      }
      return [getJSON(`cronjobs/${cron.id}/runs`, { limit: 1 }, signal)
        .then((page) => latest.set(cron.id, { mark, run: page.items[0] || null }))
        .catch(() => {})]; // the age alone is still right; the next turn asks again
    });
    if (asks.length) {
      await Promise.all(asks);
      if (!signal.aborted) draw();
    }
  }
  onCronAction(tbody, (button) => button.closest("tr").dataset.cronId, () => load());
  await load();
  whileVisible(load, REFRESH_MS, signal);
}

export async function cronPage({ main, signal }, id) {
  const head = h("div", { class: "page-head" });
  const facts = h("dl", { class: "facts" });
  const spec = h("pre", { class: "code" });
  const runs = h("tbody");
  main.append(
    h("div", { class: "crumbs" }, h("a", { href: "/ui/crons", "data-nav": true }, "Cron jobs"), " / ", shortId(id)),
    head, facts,
    h("section", { class: "card", "data-testid": "cron-runs" }, h("h2", {}, "Runs ", h("span", { class: "live muted on", title: "Runs appear and change as they happen" }, "● live")),
      h("div", { class: "table-wrap" }, h("table", { class: "table jobs", "data-testid": "cron-runs-table" },
        h("thead", {}, jobHeader(false)),
        runs))),
    h("section", { class: "card" }, h("h2", {}, "Spec"), spec)
  );

  async function loadCron() {
    const cron = await getJSON(`cronjobs/${id}`, null, signal);
    morph(head, h("div", { class: "page-head" }, h("h1", {}, cron.name), cron.suspend ? h("span", { class: "state state-cancelled" }, "suspended") : null,
      h("span", { class: "spacer" }), h("div", { class: "actions" }, cronButtons(cron))));
    const upcoming = upcomingOf(cron);
    morph(facts, h("dl", { class: "facts" },
      h("div", {}, h("dt", {}, "Schedule"), h("dd", {}, h("code", {}, cron.schedule), cron.time_zone ? ` (${cron.time_zone})` : "")),
      h("div", {}, h("dt", {}, "Namespace"), h("dd", {}, cron.namespace)),
      h("div", {}, h("dt", {}, "Next runs"), h("dd", {}, upcoming.length ? h("ul", { class: "plain", "data-testid": "next-runs" }, upcoming.map((t) => h("li", {}, h("time", { datetime: t }, localTime(t))))) : "—")),
      h("div", {}, h("dt", {}, "Runs"), h("dd", { "data-testid": "run-counts" }, `${cron.runs_succeeded} succeeded of ${cron.runs_total}`))));
    spec.textContent = toYAML(shownSpec(specOf(cron)));
  }

  const shown = new Map(); // job id → <tr>
  function drawRuns(items) {
    const rows = items.slice(0, RUNS_SHOWN).map((job) => jobRow(job, { selectable: false }));
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: JOB_COLUMNS.length, class: "empty muted" }, "No runs yet.")));
    syncRows(runs, rows, "data-job-id");
    shown.clear();
    for (const row of runs.rows) if (row.dataset.jobId) shown.set(row.dataset.jobId, row);
  }
  function changed(type, job) {
    const row = shown.get(job.id);
    if (type === "DELETED") {
      if (row) row.remove();
      shown.delete(job.id);
    } else if (row) {
      shown.set(job.id, morph(row, jobRow(job, { selectable: false })));
    } else if (type === "ADDED") {
      const items = [...runs.rows].filter((r) => r.dataset.jobId);
      if (!items.length) runs.replaceChildren();
      const fresh = jobRow(job, { selectable: false });
      runs.prepend(fresh);
      shown.set(job.id, fresh);
      while (shown.size > RUNS_SHOWN) {
        const last = runs.lastElementChild;
        shown.delete(last.dataset.jobId);
        last.remove();
      }
    }
  }
  async function loadRuns() {
    const page = await getJSON(`cronjobs/${id}/runs`, { limit: RUNS_SHOWN }, signal);
    drawRuns(page.items);
    followJobs({ cron_id: id }, page.watch_cursor, changed, signal, () => loadRuns().catch(() => {}));
  }

  onCronAction(head, () => id, (action, result) => {
    if (action === "trigger" && result && result.id) navigate(`/ui/jobs/${result.id}`);
    else loadCron().catch(() => {});
  });
  await loadCron();
  await loadRuns();
  whileVisible(loadCron, REFRESH_MS, signal);
}
