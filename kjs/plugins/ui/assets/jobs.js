// The jobs page: filters kept in the URL, a sortable table paged by cursor, live updates from
// the jobs watch, and multi-select cancel.
import { ApiError, getJSON, request, watch } from "./api.js";
import { may, navigate, session } from "./app.js";
import { percent } from "./queues.js";
import { between, clear, duration, h, localTime, morph, shortId, since, stateBadge, toast, typing, whileVisible } from "./util.js";

export const STATES = ["pending", "dispatched", "created", "running", "succeeded", "failed", "cancelled", "lost"];
const FINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);
const SORTS = [
  ["-created_at", "Newest first"],
  ["created_at", "Oldest first"],
  ["-updated_at", "Recently updated"],
  ["updated_at", "Least recently updated"],
  ["name", "Name A→Z"],
  ["-name", "Name Z→A"],
];
const FILTERS = ["state", "namespace", "cluster_id", "label", "name_prefix", "created_after", "created_before", "sort"];
// Which filters each sort can serve (the API answers 400 for the rest: each combination it
// takes is served from an index). The page offers only the sorts that fit the filters set.
const SORT_TAKES = {
  created_at: ["state", "namespace", "cluster_id", "label", "created_after", "created_before"],
  updated_at: ["namespace"],
  name: ["namespace", "name_prefix"],
};
const FILTER_NAMES = {
  state: "state", namespace: "namespace", cluster_id: "cluster", label: "labels",
  name_prefix: "name prefix", created_after: "created after", created_before: "created before",
};
/** The columns of a jobs table, in `jobRow`'s order (after the select box). */
export const JOB_COLUMNS = ["Name", "State", "Id", "Namespace", "Queue", "Priority", "Cluster", "Attempt", "Age", "Duration"];
/** The jobs page's columns: with each job's queue's fair share after its priority. */
const PAGE_COLUMNS = JOB_COLUMNS.flatMap((t) => (t === "Priority" ? [t, "Share"] : [t]));
const PAGE_SIZE = 50;
const SHARES_EVERY_MS = 10000; // the queues' shares are read again this often while visible

export async function jobsPage({ main, params, signal, onLeave }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, f === "label" ? params.getAll(f) : params.get(f) || ""]));
  const cursors = []; // the cursors of the pages before this one, for "previous"
  let cursor = params.get("cursor") || null;
  let rows = new Map(); // job id → <tr>
  let watcher = null;
  let queues = new Map(); // queue name → the queue, with its share (read with the list)

  const form = filterForm(filters, () => {
    applyForm();
    cursors.length = 0;
    cursor = null;
    load();
  });
  readForm(); // the sort the filters in the URL allow, without rewriting the URL
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select every job on this page" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { "data-testid": "jobs-table", class: "table jobs" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        may("submit") ? h("th", { class: "select" }, selectAll) : null,
        PAGE_COLUMNS.map((t) => h("th", { scope: "col", class: COLUMN_CLASS[t] }, t))
      )
    ),
    tbody
  );
  const empty = h("p", { class: "empty muted", hidden: true }, "No jobs match these filters.");
  const prev = h("button", { type: "button", class: "btn", "data-action": "prev-page" }, "← Previous");
  const next = h("button", { type: "button", class: "btn", "data-action": "next-page" }, "Next →");
  const cancelSelected = h(
    "button",
    { type: "button", class: "btn btn-danger", "data-action": "cancel-selected", disabled: true },
    "Cancel selected"
  );
  const live = h("span", { class: "live muted", title: "Updates arrive as they happen" });

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Jobs"),
      live,
      h("span", { class: "spacer" }),
      may("submit") ? h("a", { href: "/ui/submit", "data-nav": true, class: "btn btn-primary" }, "Submit a job") : null
    ),
    form.box,
    h("div", { class: "toolbar" }, may("submit") ? cancelSelected : null, h("span", { class: "spacer" }), prev, next),
    h("div", { class: "table-wrap" }, table),
    empty
  );

  function readForm() {
    form.fitSort();
    const data = new FormData(form);
    for (const f of FILTERS) {
      filters[f] = f === "label" ? splitLabels(data.get("label")) : (data.get(f) || "").trim();
    }
  }

  function applyForm() {
    readForm();
    const query = new URLSearchParams();
    for (const f of FILTERS) {
      for (const v of [].concat(filters[f])) if (v && !(f === "sort" && v === "-created_at")) query.append(f, v);
    }
    const text = query.toString();
    history.replaceState(null, "", `/ui/jobs${text ? `?${text}` : ""}`);
  }

  function listQuery() {
    const q = { ...filters, limit: PAGE_SIZE, cursor };
    for (const f of ["created_after", "created_before"]) if (q[f]) q[f] = isoOf(q[f]);
    return q;
  }

  function showNothing() {
    rows = new Map();
    clear(tbody);
    empty.hidden = true;
    prev.disabled = next.disabled = true;
    live.textContent = "";
    live.classList.remove("on");
    selectionChanged();
  }

  async function load() {
    if (watcher) watcher.abort();
    const refused = form.refusal();
    if (refused) {
      // Never ask what the API would refuse: say why here instead of an empty table.
      showFieldErrors(form, { errors: [{ field: "_form", message: refused }] });
      form.box.open();
      return showNothing();
    }
    let page;
    try {
      [page] = await Promise.all([getJSON("jobs", listQuery(), signal), readShares()]);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        showFieldErrors(form, e);
        form.box.open();
        return showNothing();
      }
      throw e;
    }
    showFieldErrors(form, null);
    rows = new Map();
    clear(tbody, page.items.map((job) => remember(row(job))));
    empty.hidden = page.items.length > 0;
    prev.disabled = cursors.length === 0;
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || "";
    selectionChanged();
    follow(page.watch_cursor);
  }

  function remember(tr) {
    rows.set(tr.dataset.jobId, tr);
    return tr;
  }

  function row(job) {
    return jobRow(job, { queues });
  }

  // One read of the queues for the whole page (not one per job); a server that cannot answer
  // them leaves the column at "—".
  async function readShares() {
    try {
      const list = await getJSON("queues", null, signal);
      queues = new Map(list.items.map((q) => [q.name, q]));
    } catch (e) {
      if (signal.aborted) throw e;
    }
  }

  async function refreshShares() {
    await readShares();
    for (const tr of rows.values()) {
      const cell = tr.querySelector("td[data-col=share]");
      if (cell) morph(cell, shareCell(cell.dataset.queue, queues));
    }
  }

  // Live: changes after the list, with the same filters (the server filters; so do we).
  function follow(from) {
    watcher = new AbortController();
    const mine = watcher;
    const both = AbortSignal.any ? AbortSignal.any([signal, mine.signal]) : mine.signal;
    onLeave(() => mine.abort());
    let position = from;
    const q = { ...listQuery(), watch: true, watch_cursor: position };
    delete q.limit;
    delete q.cursor;
    delete q.sort;
    live.textContent = "● live";
    live.classList.add("on");
    watch("jobs", q, (item) => {
      position = String(item.seq);
      if (item.job) change(item.type, item.job);
    }, both)
      .then(() => !mine.signal.aborted && follow(position))
      .catch((e) => {
        if (mine.signal.aborted || signal.aborted) return;
        if (e instanceof ApiError && e.status === 410) return load();
        live.textContent = "○ offline";
        live.classList.remove("on");
        setTimeout(() => !mine.signal.aborted && follow(position), 3000);
      });
  }

  function change(type, job) {
    const existing = rows.get(job.id);
    if (type === "DELETED") {
      if (existing) existing.remove();
      rows.delete(job.id);
      return;
    }
    if (existing) {
      if (!matches(job, filters)) {
        existing.remove();
        rows.delete(job.id);
        return;
      }
      // A watch's job has no queue_position (counted only when read): a job still pending
      // keeps the one read with the page, until the next load.
      const kept = existing.querySelector("td[data-col=state]")?.dataset.position;
      if (job.state === "pending" && job.queue_position == null && kept) job = { ...job, queue_position: Number(kept) };
      // In place: the row keeps its focus (j/k) and its ticked box.
      const box = existing.querySelector("[data-select]");
      rows.set(job.id, morph(existing, row(job)));
      if (box && box.disabled && box.checked) {
        box.checked = false; // a finished job cannot be cancelled
        selectionChanged();
      }
      return;
    }
    const newestFirst = !filters.sort || filters.sort === "-created_at";
    if (type === "ADDED" && cursors.length === 0 && newestFirst && matches(job, filters)) {
      tbody.prepend(remember(row(job)));
      empty.hidden = true;
      while (rows.size > PAGE_SIZE) {
        const last = tbody.lastElementChild;
        rows.delete(last.dataset.jobId);
        last.remove();
        next.disabled = false;
      }
    }
  }

  function selected() {
    return [...tbody.querySelectorAll("[data-select]:checked")].map((box) => box.dataset.select);
  }

  function selectionChanged() {
    const chosen = selected();
    cancelSelected.disabled = chosen.length === 0;
    cancelSelected.textContent = chosen.length ? `Cancel selected (${chosen.length})` : "Cancel selected";
    const boxes = tbody.querySelectorAll("[data-select]");
    selectAll.checked = boxes.length > 0 && chosen.length === boxes.length;
  }

  tbody.addEventListener("change", selectionChanged);
  selectAll.addEventListener("change", () => {
    for (const box of tbody.querySelectorAll("[data-select]:not(:disabled)")) box.checked = selectAll.checked;
    selectionChanged();
  });
  cancelSelected.addEventListener("click", async () => {
    const chosen = selected();
    if (!chosen.length || !confirm(`Cancel ${chosen.length} job${chosen.length > 1 ? "s" : ""}?`)) return;
    const results = await Promise.allSettled(chosen.map((id) => request("DELETE", `jobs/${id}`)));
    const failed = results.filter((r) => r.status === "rejected");
    toast(
      failed.length ? `${failed.length} of ${chosen.length} could not be cancelled: ${failed[0].reason.message}` : `Cancelled ${chosen.length}`,
      failed.length ? "error" : "info"
    );
    load();
  });
  next.addEventListener("click", () => {
    if (!next.dataset.cursor) return;
    cursors.push(cursor);
    cursor = next.dataset.cursor;
    load();
  });
  prev.addEventListener("click", () => {
    if (!cursors.length) return;
    cursor = cursors.pop();
    load();
  });
  // j/k move between rows, Enter opens one, x selects it, Esc clears the selection.
  const keys = (event) => {
    if (event.defaultPrevented || typing(event.target) || event.metaKey || event.ctrlKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    const all = [...tbody.rows].filter((row) => row.dataset.jobId);
    const focused = document.activeElement && document.activeElement.closest("tr");
    const at = all.indexOf(focused);
    if (event.key === "j" || event.key === "k") {
      const to = all[Math.min(all.length - 1, Math.max(0, at + (event.key === "j" ? 1 : -1)))];
      if (to) to.focus();
    } else if (event.key === "Enter" && at >= 0 && document.activeElement === focused) {
      navigate(`/ui/jobs/${all[at].dataset.jobId}`);
    } else if (event.key === "x" && at >= 0) {
      const box = focused.querySelector("[data-select]");
      if (box && !box.disabled) {
        box.checked = !box.checked;
        selectionChanged();
      }
    } else if (event.key === "Escape" && selected().length) {
      for (const box of tbody.querySelectorAll("[data-select]:checked")) box.checked = false;
      selectionChanged();
    }
  };
  document.addEventListener("keydown", keys);
  onLeave(() => document.removeEventListener("keydown", keys));

  await load();
  whileVisible(refreshShares, SHARES_EVERY_MS, signal);
}

/** The fair share of a job's queue, as `queues` (name → queue) has it: "25.0%", "—" unknown. */
function shareCell(name, queues) {
  const queue = queues.get(name);
  const title = queue && queue.share != null
    ? `Queue ${name} holds ${percent(queue.share)} of the ready clusters (÷ its weight: ${percent(queue.weighted_share)})`
    : null;
  return h("td", { "data-col": "share", "data-queue": name, class: "queue-col num", title },
    percent(queue ? queue.share : null));
}

/** A job's row; `selectable`: with the checkbox of the page's bulk actions (the jobs page);
 *  `queues` (name → queue): with its queue's share after its priority (the jobs page). */
export function jobRow(job, { selectable = true, queues = null } = {}) {
  const final = FINAL.has(job.state);
  const started = job.started_at || job.dispatched_at;
  const durationCell = h("td", { "data-col": "duration" });
  if (started) {
    durationCell.dataset.tickFrom = started;
    if (final && job.finished_at) durationCell.dataset.tickTo = job.finished_at;
    durationCell.textContent = duration(between(started, final ? job.finished_at : null));
  }
  return h(
    "tr",
    { "data-job-id": job.id, tabindex: "-1" },
    selectable && may("submit")
      ? h(
          "td",
          { class: "select" },
          h("input", {
            type: "checkbox",
            "data-select": job.id,
            "aria-label": `Select ${job.name}`,
            disabled: final,
          })
        )
      : null,
    h("td", { "data-col": "name", class: "name" }, h("a", { href: `/ui/jobs/${job.id}`, "data-nav": true, title: job.id }, job.name)),
    stateCell(job),
    h("td", { "data-col": "id", class: "id-col" }, shortId(job.id)),
    h("td", { "data-col": "namespace" }, job.namespace),
    h("td", { "data-col": "queue", class: "queue-col" }, job.queue || "default"),
    h("td", { "data-col": "priority", class: "queue-col num", title: priorityText(job) }, String(job.priority ?? 0)),
    queues ? shareCell(job.queue || "default", queues) : null,
    h("td", { "data-col": "cluster" }, job.cluster_id || "—"),
    h("td", { "data-col": "attempt", class: "num" }, String(job.attempt)),
    h("td", { "data-col": "age", "data-tick-since": job.created_at, title: localTime(job.created_at) }, duration(since(job.created_at))),
    durationCell
  );
}

/** Follow the jobs watch from `from` with the filters `query`: `onChange(type, job)` for each
 *  change, reconnecting when the stream ends or fails, until `signal` aborts; `onGone()` when
 *  the cursor is too old (410: list again). */
export function followJobs(query, from, onChange, signal, onGone) {
  let position = from;
  const again = () => {
    if (signal.aborted) return;
    const q = { ...query, watch: true, watch_cursor: position };
    watch("jobs", q, (item) => {
      if (item.seq !== undefined) position = String(item.seq);
      if (item.job) onChange(item.type, item.job);
    }, signal).then(again, (e) => {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status === 410) onGone();
      else setTimeout(again, 3000);
    });
  };
  again();
}

const COLUMN_CLASS = { Name: "name", Id: "id-col", Queue: "queue-col", Priority: "queue-col num", Share: "queue-col num", Attempt: "num" };

/** A job's priority and where it comes from: "1000 (class high)", "1000 (its queue's class)",
 *  "0 (no class)". */
export function priorityText(job) {
  const value = job.priority ?? 0;
  if (job.priority_class) return `${value} (class ${job.priority_class})`;
  return value ? `${value} (its queue's class)` : `${value} (no class)`;
}

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 21st, … */
export function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

/** Why a pending job waits, in words, and where it stands ("" for any other job). */
export function waitingText(job) {
  if (job.state !== "pending") return "";
  const why = [job.reason, job.message].filter(Boolean).join(": ");
  const where = job.queue_position ? `${ordinal(job.queue_position)} in queue ${job.queue || "default"}` : "";
  return [why, where].filter(Boolean).join(" — ");
}

/** The state cell: the state, and for a pending job why it waits — in full in its title, and
 *  as a short muted line (drawn by CSS from data-why, so the cell's text stays the state). */
function stateCell(job) {
  const cell = h("td", { "data-col": "state", class: `state-${job.state}` }, job.state);
  if (job.state !== "pending") return cell;
  const position = job.queue_position ? ordinal(job.queue_position) : "";
  const reason = job.reason && job.reason !== "Accepted" ? job.reason : "";
  const why = [reason, position && (reason ? position : `${position} in queue`)].filter(Boolean).join(" · ");
  const title = waitingText(job);
  if (title) cell.title = title;
  if (why) cell.dataset.why = why;
  if (job.queue_position) cell.dataset.position = String(job.queue_position);
  return cell;
}

/** The namespace filter: a token limited to namespaces picks one of its own (the list shows
 *  only those anyway); a token for every namespace types any name. */
function namespaceControl(value) {
  const own = (session.who && session.who.namespaces) || [];
  if (!own.length) return h("input", { id: "f-namespace", name: "namespace", value, placeholder: "any", autocomplete: "off" });
  return h("select", { id: "f-namespace", name: "namespace" },
    h("option", { value: "" }, "All my namespaces"),
    own.map((ns) => h("option", { value: ns, selected: value === ns }, ns)),
    value && !own.includes(value) ? h("option", { value, selected: true }, value) : null);
}

/** The header row of a jobs table (`withSelect`: a leading empty cell for the select boxes). */
export function jobHeader(withSelect) {
  return h("tr", {}, withSelect ? h("th", { class: "select" }) : null,
    JOB_COLUMNS.map((t) => h("th", { scope: "col", class: COLUMN_CLASS[t] }, t)));
}

function matches(job, f) {
  if (f.state && job.state !== f.state) return false;
  if (f.namespace && job.namespace !== f.namespace) return false;
  if (f.cluster_id && job.cluster_id !== f.cluster_id) return false;
  if (f.name_prefix && !job.name.startsWith(f.name_prefix)) return false;
  for (const pair of f.label || []) {
    const [k, ...v] = pair.split("=");
    if ((job.labels || {})[k] !== v.join("=")) return false;
  }
  if (f.created_after && Date.parse(job.created_at) < Date.parse(isoOf(f.created_after))) return false;
  if (f.created_before && Date.parse(job.created_at) >= Date.parse(isoOf(f.created_before))) return false;
  return true;
}

function splitLabels(text) {
  return String(text || "")
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// A datetime-local value ("2026-01-02T03:04") is local time; the API wants an offset.
function isoOf(value) {
  if (!value) return value;
  if (/[zZ]|[+-]\d\d:?\d\d$/.test(value)) return value;
  const parsed = new Date(value);
  return isNaN(parsed) ? value : parsed.toISOString();
}

function filterForm(filters, changed) {
  const field = (name, label, control) =>
    h("div", { class: "field" }, h("label", { for: `f-${name}` }, label), control, h("p", { class: "field-error", "data-error-for": name }));
  const input = (name, attrs = {}) =>
    h("input", { id: `f-${name}`, name, value: [].concat(filters[name]).join(" "), ...attrs });
  const state = h(
    "select",
    { id: "f-state", name: "state" },
    h("option", { value: "" }, "Any state"),
    STATES.map((s) => h("option", { value: s, selected: filters.state === s }, s))
  );
  const sort = h(
    "select",
    { id: "f-sort", name: "sort", "aria-describedby": "f-sort-hint" },
    SORTS.map(([value, text]) => h("option", { value, selected: (filters.sort || "-created_at") === value }, text))
  );
  let wantedSort = sort.value; // the user's choice, taken back when the filters allow it again
  const sortHint = h("p", { id: "f-sort-hint", class: "hint muted", hidden: true });
  const form = h(
    "form",
    { "data-testid": "job-filters", class: "filters", role: "search", id: "job-filters" },
    field("state", "State", state),
    field("namespace", "Namespace", namespaceControl(filters.namespace)),
    field("name_prefix", "Name starts with", input("name_prefix", { placeholder: "any", autocomplete: "off" })),
    field("cluster_id", "Cluster", input("cluster_id", { placeholder: "any", autocomplete: "off" })),
    field("label", "Labels (k=v)", input("label", { placeholder: "team=data", autocomplete: "off" })),
    field("created_after", "Created after", input("created_after", { placeholder: "2026-01-31T09:00Z", autocomplete: "off" })),
    field("created_before", "Created before", input("created_before", { placeholder: "2026-01-31T18:00Z", autocomplete: "off" })),
    h("div", { class: "field" }, h("label", { for: "f-sort" }, "Sort"), sort, sortHint, h("p", { class: "field-error", "data-error-for": "sort" })),
    h("button", { type: "submit", class: "btn" }, "Apply"),
    h("p", { class: "field-error form-error", "data-error-for": "_form", role: "alert" })
  );
  const active = () => {
    const data = new FormData(form);
    return Object.keys(FILTER_NAMES).filter((f) => String(data.get(f) || "").trim());
  };
  const fits = (value, set) => set.every((f) => SORT_TAKES[value.replace(/^-/, "")].includes(f));
  /** Offer only the sorts the filters allow; keep the user's choice when it is one of them. */
  form.fitSort = () => {
    const set = active();
    for (const option of sort.options) option.hidden = option.disabled = !fits(option.value, set);
    const offered = [...sort.options].filter((o) => !o.disabled);
    if (offered.some((o) => o.value === wantedSort)) sort.value = wantedSort;
    else if (offered.length && sort.selectedOptions[0]?.disabled !== false) sort.value = offered[0].value;
    sortHint.hidden = !set.includes("name_prefix");
    sortHint.textContent = "A name prefix lists by name.";
    toggle.textContent = set.length ? `Filters (${set.length})` : "Filters";
  };
  /** Why no sort can serve these filters, or "" when one can. */
  form.refusal = () => {
    const set = active();
    if (SORTS.some(([value]) => fits(value, set))) return "";
    const others = set.filter((f) => f !== "name_prefix" && f !== "namespace").map((f) => FILTER_NAMES[f]);
    return `Name starts with lists by name, which cannot also filter by ${others.join(", ")}: clear one of them.`;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    changed();
  });
  state.addEventListener("change", changed);
  if (form.elements.namespace.tagName === "SELECT") form.elements.namespace.addEventListener("change", changed);
  sort.addEventListener("change", () => {
    wantedSort = sort.value;
    changed();
  });
  let debounce;
  form.addEventListener("input", (event) => {
    if (event.target.tagName !== "INPUT") return;
    form.fitSort();
    clearTimeout(debounce);
    debounce = setTimeout(changed, 400);
  });
  // On a phone the filters fold behind a "Filters (n)" button; wider screens always show them.
  const toggle = h("button", {
    type: "button",
    class: "btn filters-toggle",
    "data-action": "toggle-filters",
    "aria-expanded": "false",
    "aria-controls": "job-filters",
  }, "Filters");
  const box = h("div", { class: "filters-box" }, toggle, form);
  const setOpen = (open) => {
    box.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.addEventListener("click", () => setOpen(!box.classList.contains("open")));
  box.open = () => setOpen(true);
  form.box = box;
  form.fitSort();
  return form;
}

export function showFieldErrors(form, error) {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
  if (!error) return;
  const general = form.querySelector('[data-error-for="_form"]');
  let placed = false;
  for (const { field, message } of error.errors || []) {
    const target = closestField(form, field) || general;
    if (target) {
      // At a parent's slot (`resources` for `resources.requests.cpu`) the rest of the name says which.
      const slot = target.dataset.errorFor;
      const rest = target !== general && field !== slot ? String(field).slice(slot.length).replace(/^\./, "") : "";
      const text = rest ? `${rest}: ${message}` : message;
      target.textContent = [target.textContent, text].filter(Boolean).join("; ");
      placed = true;
    }
  }
  if (!placed) {
    if (general) general.textContent = error.message;
    else toast(error.message, "error");
  }
}

/** The error slot of `env.FOO` or `items[0].image`: the field itself, else its nearest parent. */
function closestField(form, field) {
  let name = String(field || "");
  while (name) {
    const found = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    if (found) return found;
    const cut = Math.max(name.lastIndexOf("."), name.lastIndexOf("["));
    if (cut <= 0) break;
    name = name.slice(0, cut);
  }
  return null;
}

export { stateBadge, localTime };
