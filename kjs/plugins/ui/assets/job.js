// One job: its state and actions, spec (YAML), attempts, events (live), log (follow, capped in
// the DOM), webhook deliveries and the manifest as dispatched.
import { ApiError, getJSON, readText, request, send, token, watch, withQuery, API } from "./api.js";
import { may, navigate } from "./app.js";
import { between, clear, duration, h, localTime, shortId, stateBadge, toast, toYAML, whileVisible } from "./util.js";
import { ordinal, priorityText } from "./jobs.js";

const FINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);
const STATUS_FIELDS = new Set([
  "id", "state", "attempt", "cluster_id", "k8s_name", "created_at", "updated_at", "dispatched_at",
  "started_at", "finished_at", "exit_codes", "reason", "message", "cron_id", "queue_position",
  "priority",
]);
const PENDING_REFRESH_MS = 5000; // a pending job's place moves without an event: read it again
const LOG_LINES_SHOWN = 2000; // the DOM keeps this many; the rest is one click (or a download) away

const CRON_STATUS_FIELDS = ["next_run_at", "last_run_at", "runs_total", "runs_succeeded", "next_runs"];

/** The fields one submits (the state and history left out). */
export function specOf(job) {
  return Object.fromEntries(
    Object.entries(job).filter(([k]) => !STATUS_FIELDS.has(k) && !CRON_STATUS_FIELDS.includes(k))
  );
}

/** The spec as worth reading: fields left at null or empty are not shown. */
export function shownSpec(spec) {
  return Object.fromEntries(
    Object.entries(spec).filter(
      ([, v]) => v !== null && !(typeof v === "object" && Object.keys(v).length === 0)
    )
  );
}

export async function jobPage({ main, signal, onLeave }, id) {
  let job;
  try {
    job = await getJSON(`jobs/${id}`, null, signal);
  } catch (e) {
    // The API answers 404 for an unknown id and 403 for another namespace's job: to the
    // user both mean there is no such job for them.
    if (!(e instanceof ApiError && (e.status === 404 || e.status === 403))) throw e;
    main.append(h("section", { class: "card not-found", "data-testid": "job-not-found" },
      h("h1", {}, "Job not found"),
      h("p", {}, "No job ", h("code", {}, id), " here, or it is in a namespace your token cannot see."),
      h("p", {}, h("a", { href: "/ui/jobs", "data-nav": true }, "Back to the jobs"))));
    return;
  }
  const events = [];

  const title = h("h1", {});
  const badge = h("span");
  const facts = h("dl", { class: "facts" });
  const waiting = h("p", { class: "waiting", "data-testid": "job-waiting", role: "status", hidden: true });
  const actions = h("div", { class: "actions" });
  const detail = h(
    "section",
    { "data-testid": "job-detail", class: "detail" },
    h("div", { class: "crumbs" }, h("a", { href: "/ui/jobs", "data-nav": true }, "Jobs"), " / ", shortId(id)),
    h("div", { class: "page-head" }, title, badge, h("span", { class: "spacer" }), actions),
    waiting,
    facts
  );
  const spec = h("pre", { class: "code" });
  const attempts = h("div", { class: "table-wrap" });
  const timeline = h("ol", { class: "timeline" });
  const log = logViewer(id, () => job, signal, onLeave);
  const callbacks = h("div");
  const manifest = h("div");

  main.append(
    detail,
    h("div", { class: "grid" },
      section("job-events", "Events", timeline),
      section("job-attempts", "Attempts", attempts)),
    section("job-log", "Log", log.node),
    h("div", { class: "grid" },
      section("job-spec", "Spec", spec),
      section("job-manifest", "Dispatched manifest", manifest)),
    section("job-callbacks", "Webhook deliveries", callbacks)
  );

  function show() {
    detail.dataset.jobId = job.id;
    detail.dataset.state = job.state;
    title.textContent = job.name;
    clear(badge, stateBadge(job.state));
    const started = job.started_at || job.dispatched_at;
    const took = h("dd", {}, started ? duration(between(started, job.finished_at)) : "—");
    if (started) {
      took.dataset.tickFrom = started;
      if (job.finished_at) took.dataset.tickTo = job.finished_at;
    }
    showWaiting();
    clear(
      facts,
      fact("Namespace", job.namespace),
      fact("Queue", job.queue || "default"),
      job.queue_position ? fact("Place in queue", ordinal(job.queue_position)) : null,
      fact("Priority", h("span", { "data-testid": "job-priority" }, priorityText(job))),
      fact("Cluster", job.cluster_id || "—"),
      job.gang ? fact("Gang", h("span", { "data-testid": "job-gang" }, `${job.gang} (${job.gang_size} jobs, placed together)`)) : null,
      fact("Attempt", String(job.attempt)),
      fact("Image", h("code", {}, job.image)),
      fact("Created", localTime(job.created_at)),
      h("div", {}, h("dt", {}, "Duration"), took),
      job.reason ? fact("Reason", job.reason) : null,
      job.message ? fact("Message", job.message) : null,
      Object.keys(job.exit_codes || {}).length ? fact("Exit codes", exitCodes(job.exit_codes)) : null,
      job.cron_id ? fact("Cron job", h("a", { href: `/ui/crons/${job.cron_id}`, "data-nav": true }, job.cron_id.slice(0, 8))) : null
    );
    spec.textContent = toYAML(shownSpec(specOf(job)));
    // A redraw keeps the keyboard where it was: the same action, if it is still offered.
    const focused = actions.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    clear(actions, actionButtons());
    if (focused) actions.querySelector(`[data-action="${focused}"]`)?.focus();
    log.jobChanged();
  }

  /** A pending job: why it waits and where it stands, above everything else. */
  function showWaiting() {
    waiting.hidden = job.state !== "pending";
    if (waiting.hidden) return;
    const why = job.message || job.reason || "Not yet considered by placement";
    const where = job.queue_position ? `${ordinal(job.queue_position)} in its queue` : "";
    clear(
      waiting,
      h("strong", {}, "Waiting: "),
      h("span", { "data-testid": "job-waiting-why", title: job.reason || "" }, why),
      where ? [" — ", h("span", { "data-testid": "job-waiting-position" }, where)] : null
    );
  }

  function actionButtons() {
    if (!may("submit")) return [];
    const buttons = [];
    if (!FINAL.has(job.state)) {
      buttons.push(button("cancel", "Cancel", "btn-danger", async () => {
        if (!confirm(`Cancel job ${job.name}?`)) return;
        await act(() => request("DELETE", `jobs/${job.id}`), "Cancel requested");
        refresh();
      }));
    }
    if (job.state === "pending") {
      buttons.push(button("edit", "Edit", "", () => navigate(`/ui/submit?edit=${job.id}`)));
    }
    if (FINAL.has(job.state)) {
      buttons.push(button("rerun", "Rerun", "btn-primary", async () => {
        const again = await act(() => send("POST", `jobs/${job.id}/rerun`), "Rerun submitted");
        if (again && again.id) navigate(`/ui/jobs/${again.id}`);
        else refresh();
      }));
    }
    return buttons;
  }

  // Each event starts a refresh; answers can come back out of order. Only the answer to the
  // latest request is drawn, and never one older than what is shown (the final state wins).
  let asked = 0;
  async function refresh() {
    const mine = ++asked;
    try {
      const fresh = await getJSON(`jobs/${id}`, null, signal);
      if (mine !== asked || isOlder(fresh, job)) return;
      job = fresh;
      show();
      if (FINAL.has(job.state)) loadCallbacks();
      if (job.dispatched_at && manifestShown !== job.attempt) loadManifest(job.attempt);
    } catch (e) {
      if (!signal.aborted) toast(e.message, "error");
    }
  }

  function drawEvents() {
    clear(
      timeline,
      events.map((event, i) => {
        const before = events[i - 1];
        const gap = before ? duration(between(before.at, event.at)) : "";
        return h(
          "li",
          { "data-state": event.state, class: `state-${event.state}` },
          h("span", { class: `dot dot-${event.state}`, "aria-hidden": "true" }),
          h("div", {},
            h("div", { class: "event-head" }, stateBadge(event.state),
              h("span", { class: "muted" }, ` attempt ${event.attempt}`),
              gap ? h("span", { class: "gap muted", title: "Since the event before" }, `+${gap}`) : null),
            h("div", { class: "muted small" }, h("time", { datetime: event.at }, localTime(event.at)),
              event.cluster_id ? ` · ${event.cluster_id}` : "", event.pod ? ` · ${event.pod}` : "",
              event.exit_code !== null && event.exit_code !== undefined ? ` · exit ${event.exit_code}` : ""),
            event.reason || event.message ? h("div", { class: "small" }, [event.reason, event.message].filter(Boolean).join(": ")) : null)
        );
      })
    );
    drawAttempts();
  }

  function drawAttempts() {
    const byAttempt = new Map();
    for (const event of events) {
      const row = byAttempt.get(event.attempt) || { attempt: event.attempt, first: event.at, last: event };
      row.last = event;
      if (event.cluster_id) row.cluster = event.cluster_id;
      if (event.exit_code !== null && event.exit_code !== undefined) row.exit = event.exit_code;
      byAttempt.set(event.attempt, row);
    }
    clear(
      attempts,
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["#", "State", "Cluster", "Started", "Took", "Exit"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, [...byAttempt.values()].map((a) =>
          h("tr", { "data-attempt": a.attempt },
            h("td", { class: "num" }, String(a.attempt)),
            h("td", { class: `state-${a.last.state}` }, a.last.state),
            h("td", {}, a.cluster || "—"),
            h("td", {}, localTime(a.first)),
            h("td", {}, duration(between(a.first, a.last.at))),
            h("td", { class: "num" }, a.exit ?? "—")))))
    );
  }

  async function followEvents(from) {
    let position = from;
    for (;;) {
      try {
        await watch(`jobs/${id}/events`, { watch: true, watch_cursor: position || undefined }, (item) => {
          position = String(item.seq);
          if (item.type === "ADDED" && item.event) {
            if (!events.some((e) => e.seq === item.event.seq)) events.push(item.event);
            drawEvents();
            refresh();
          }
        }, signal);
      } catch (e) {
        if (signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      if (signal.aborted) return;
    }
  }

  async function loadCallbacks() {
    try {
      const list = await getJSON(`jobs/${id}/callbacks`, null, signal);
      const redeliver = may("submit") && job.callback_url && FINAL.has(job.state)
        ? button("redeliver", "Redeliver", "", async () => {
            await act(() => send("POST", `jobs/${id}/callbacks/redeliver`), "Redelivery queued");
            loadCallbacks();
          })
        : null;
      clear(
        callbacks,
        job.callback_url ? h("p", { class: "muted" }, "Sent to ", h("code", {}, job.callback_url)) : h("p", { class: "muted" }, "This job has no callback URL."),
        list.items.length
          ? h("div", { class: "table-wrap" }, h("table", { class: "table" },
              h("thead", {}, h("tr", {}, ["When", "Event", "Answer", "Took", ""].map((t) => h("th", { scope: "col" }, t)))),
              h("tbody", {}, list.items.map((a) => h("tr", {},
                h("td", {}, localTime(a.at)),
                h("td", { class: "mono small" }, a.event_id),
                h("td", {}, a.status_code ?? a.error ?? "—"),
                h("td", {}, a.duration_ms !== null ? `${a.duration_ms} ms` : "—"),
                h("td", { class: a.delivered ? "ok" : "bad" }, a.delivered ? "delivered" : "not delivered"))))))
          : job.callback_url ? h("p", { class: "muted" }, "No deliveries yet.") : null,
        redeliver
      );
    } catch (e) {
      if (!signal.aborted) clear(callbacks, h("p", { class: "alert alert-error" }, e.message));
    }
  }

  let manifestShown = null; // the attempt whose manifest is on the page

  async function loadManifest(attempt) {
    manifestShown = attempt;
    const picker = h("select", { id: "manifest-attempt", name: "attempt" },
      Array.from({ length: job.attempt }, (_, i) => i + 1).map((n) => h("option", { value: n, selected: n === attempt }, `Attempt ${n}`)));
    picker.addEventListener("change", () => loadManifest(Number(picker.value)));
    const head = h("div", { class: "inline" }, h("label", { for: "manifest-attempt" }, "Attempt"), picker);
    try {
      const object = await getJSON(`jobs/${id}/manifest`, { attempt }, signal);
      clear(manifest, head, h("pre", { class: "code" }, toYAML(object)));
    } catch (e) {
      if (signal.aborted) return;
      const why = e instanceof ApiError && e.status === 404 ? e.message || "Not dispatched yet." : e.message;
      clear(manifest, head, h("p", { class: "muted" }, why));
    }
  }

  show();
  const history = await getJSON(`jobs/${id}/events`, null, signal);
  events.push(...history.items);
  drawEvents();
  // The job may have moved on between its read and the history's: the events watch starts
  // after the history, so nothing else would tell this page.
  refresh();
  loadCallbacks();
  // Asked for only once dispatched: before that there is none (and a 404 would be noise).
  if (job.dispatched_at) loadManifest(job.attempt);
  else manifest.append(h("p", { class: "muted" }, "Not dispatched yet."));
  log.start();
  // While pending, its reason and place change without an event of its own.
  whileVisible(async () => job.state === "pending" && refresh(), PENDING_REFRESH_MS, signal);
  const last = events.length ? events[events.length - 1].seq : null;
  followEvents(last !== null && last !== undefined ? String(last) : null);
}

/** {pod: {container: code}} → "container 1, other 0" (the pod's name is in the events). */
/** Whether `fresh` is an older view of the job than `shown` (by attempt, then update time). */
function isOlder(fresh, shown) {
  if (fresh.attempt !== shown.attempt) return fresh.attempt < shown.attempt;
  if (FINAL.has(shown.state) && !FINAL.has(fresh.state)) return true;
  return Date.parse(fresh.updated_at) < Date.parse(shown.updated_at);
}

/** `exit_codes` is pod → container → code: one `pod/container: code` a container. */
export function exitCodes(byPod) {
  const parts = [];
  const walk = (path, value) => {
    if (value && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(path.concat(key), inner);
    } else parts.push(`${path.join("/")}: ${value}`);
  };
  walk([], byPod);
  return h("ul", { class: "plain", "data-testid": "exit-codes" }, parts.map((text) => h("li", { class: "mono small" }, text)));
}

function section(testid, heading, body) {
  return h("section", { "data-testid": testid, class: "card" }, h("h2", {}, heading), body);
}

function fact(label, value) {
  return h("div", {}, h("dt", {}, label), h("dd", {}, value));
}

function button(action, text, kind, onclick) {
  return h("button", { type: "button", class: `btn ${kind}`, "data-action": action, onclick }, text);
}

async function act(call, done) {
  try {
    const result = await call();
    toast(done);
    return result;
  } catch (e) {
    toast(e.message, "error");
    return null;
  }
}

// -- the log viewer ------------------------------------------------------------------------

const NOTE = /^\[kjs: .*\]$/;

function logViewer(id, currentJob, signal, onLeave) {
  const pre = h("pre", { "data-testid": "log", class: "log", tabindex: "0" });
  const note = h("p", { class: "note", hidden: true });
  const follow = h("input", { type: "checkbox", id: "log-follow", name: "follow", checked: true });
  const download = h("a", { href: "#", class: "btn", "data-action": "download-log", download: `${id}.log` }, "Download");
  const more = h("button", { type: "button", class: "btn btn-ghost", "data-action": "show-all", hidden: true }, "Show all");
  const node = h("div", {},
    h("div", { class: "toolbar" },
      h("label", { for: "log-follow", class: "check" }, follow, " Follow"),
      h("span", { class: "spacer" }), more, download),
    note, pre);

  let lines = [""];
  let showAll = false;
  let scheduled = false;
  let reader = null;
  let streaming = false;

  function render() {
    scheduled = false;
    const shown = showAll ? lines : lines.slice(-LOG_LINES_SHOWN);
    more.hidden = showAll || lines.length <= LOG_LINES_SHOWN;
    more.textContent = `Show all ${lines.length} lines`;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.textContent = shown.join("\n");
    if (follow.checked && atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function schedule() {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  }

  function take(text) {
    const parts = text.split("\n");
    const open = lines.pop() + parts[0];
    // Only the lines this chunk completes are looked at: a big log stays linear.
    // A `[kjs: …]` line is a note about the log, not log text.
    const done = parts.length > 1 ? [open, ...parts.slice(1, -1)] : [];
    for (const line of done) {
      if (NOTE.test(line)) setNote(line.slice(6, -1));
      else lines.push(line);
    }
    lines.push(parts.length > 1 ? parts[parts.length - 1] : open);
    schedule();
  }

  function setNote(text) {
    note.textContent = text;
    note.hidden = false;
  }

  async function load(followIt) {
    if (reader) reader.abort();
    reader = new AbortController();
    const mine = reader;
    onLeave(() => mine.abort());
    lines = [""];
    note.hidden = true;
    streaming = followIt;
    try {
      const response = await request("GET", `jobs/${id}/logs`, {
        query: followIt ? { follow: true } : null,
        signal: AbortSignal.any ? AbortSignal.any([signal, mine.signal]) : mine.signal,
        accept: "text/plain",
      });
      const header = response.headers.get("X-Kjs-Logs-Note");
      if (header) setNote(header);
      await readText(response, take);
      if (NOTE.test(lines[lines.length - 1])) {
        setNote(lines.pop().slice(6, -1));
        lines.push("");
      }
      schedule();
    } catch (e) {
      if (!mine.signal.aborted && !signal.aborted) setNote(e.message);
    } finally {
      if (reader === mine) streaming = false;
    }
  }

  follow.addEventListener("change", () => {
    const job = currentJob();
    if (follow.checked && !FINAL.has(job.state)) load(true);
    else if (!follow.checked && reader) reader.abort();
  });
  more.addEventListener("click", () => {
    showAll = true;
    render();
  });
  download.addEventListener("click", async (event) => {
    if (download.dataset.ready) return; // the second, programmatic click downloads the Blob
    event.preventDefault();
    const response = await fetch(withQuery(`${API}/jobs/${id}/logs`, null), {
      headers: token() ? { Authorization: `Bearer ${token()}` } : {},
    });
    const blob = new Blob([await response.text()], { type: "text/plain" });
    if (download.href.startsWith("blob:")) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(blob);
    download.dataset.ready = "1";
    download.click();
    delete download.dataset.ready;
  });

  return {
    node,
    start() {
      const job = currentJob();
      load(follow.checked && !FINAL.has(job.state));
    },
    jobChanged() {
      const job = currentJob();
      if (!node.isConnected || !reader) return;
      if (FINAL.has(job.state)) {
        // It finished while the page was open: read the whole log once more, as collected.
        if (!node.dataset.finalRead && !streaming) {
          node.dataset.finalRead = "1";
          load(false);
        }
      } else if (follow.checked && !streaming) {
        load(true); // it started running after an earlier stream ended
      }
    },
  };
}
