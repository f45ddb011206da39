// Queues, read-only: each queue's weight, limits, what its jobs hold now (pending, running, CPU
// and memory requested) and its fair share (of the ready clusters, and ÷ its weight), refreshed
// while the tab is visible. Defining queues stays with the
// configuration and the API (docs/queues.md).
import { getJSON } from "./api.js";
import { h, syncRows, whileVisible } from "./util.js";

const REFRESH_MS = 5000;
const COLUMNS = ["Queue", "Pending", "Running", "CPU", "Memory", "Share", "Share ÷ weight", "Weight", "Namespaces", "Source"];
const COLUMN_CLASS = {
  Queue: "name", Pending: "num", Running: "num", CPU: "num", Memory: "num", Share: "num", "Share ÷ weight": "num", Weight: "num",
};

/** A share as a percentage, one decimal: 0.25 → "25.0%" ("—" from a server without shares). */
export function percent(share) {
  return share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)}%`;
}

/** A share's cell: its percentage, over a bar (a meter, hidden from screen readers: the text says
 *  it; no inline style, which the page's Content-Security-Policy refuses). */
function shareCell(col, share, title) {
  return h("td", { "data-col": col, class: "num share", title },
    share === null || share === undefined
      ? null
      : h("meter", { min: "0", max: "1", value: String(Math.min(share, 1)), "aria-hidden": "true" }),
    h("span", { "data-share": "" }, percent(share)));
}

/** Millicores as cores: 1500 → "1.5". */
function cores(millis) {
  return String(Math.round(millis / 10) / 100);
}

/** Bytes in the largest binary unit that leaves at least 1: 1610612736 → "1.5Gi". */
function binary(count) {
  for (const [unit, size] of [["Ti", 2 ** 40], ["Gi", 2 ** 30], ["Mi", 2 ** 20], ["Ki", 2 ** 10]]) {
    if (count >= size) return `${Math.round((count / size) * 10) / 10}${unit}`;
  }
  return String(count);
}

/** "used / limit" when the queue has that limit, else what is used. */
function against(used, limit) {
  return limit === null || limit === undefined ? used : `${used} / ${limit}`;
}

function queueRow(q) {
  const usage = q.usage || { pending: 0, running: 0, cpu_millis: 0, memory_bytes: 0 };
  const limits = q.limits || {};
  const perCluster = Object.entries(limits.per_cluster || {}).filter(([, v]) => v !== null);
  return h("tr", { "data-queue": q.name },
    h("td", { "data-col": "name", class: "name mono" }, q.name),
    h("td", { "data-col": "pending", class: "num" }, String(usage.pending)),
    h("td", { "data-col": "running", class: "num", title: "Placed and not final (dispatched … lost), of its max_running" },
      against(String(usage.running), limits.max_running)),
    h("td", { "data-col": "cpu", class: "num", title: "CPU its running jobs request, in cores" },
      against(cores(usage.cpu_millis), limits.max_cpu)),
    h("td", { "data-col": "memory", class: "num", title: "Memory its running jobs request" },
      against(binary(usage.memory_bytes), limits.max_memory)),
    shareCell("share", q.share,
      "What its running jobs request of the ready clusters' CPU or memory, whichever is larger"),
    shareCell("weighted-share", q.weighted_share,
      "Its share ÷ its weight: while queues wait, the lowest is placed next"),
    h("td", { "data-col": "weight", class: "num" }, String(q.weight)),
    h("td", { "data-col": "namespaces" }, (q.namespaces || []).join(", ") || h("span", { class: "muted" }, "any")),
    h("td", { "data-col": "source" }, q.source,
      perCluster.length
        ? h("div", { class: "muted small" }, `per cluster: ${perCluster.map(([k, v]) => `${k} ${v}`).join(", ")}`)
        : null));
}

export async function queuesPage({ main, signal }) {
  const tbody = h("tbody");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Queues"),
      h("span", { class: "live muted on", title: `Refreshed every ${REFRESH_MS / 1000} s while this tab is visible` }, "● live")),
    h("p", { class: "muted" }, "Running counts the jobs placed and not final; CPU and memory are what they request. A limit shows after the slash. Share is what they request of the ready clusters (CPU or memory, whichever is larger); while queues wait, the one lowest in share ÷ weight goes next."),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "queues-table", class: "table" },
      h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col", class: COLUMN_CLASS[t] }, t)))),
      tbody))
  );
  async function load() {
    const list = await getJSON("queues", null, signal);
    syncRows(tbody, list.items.map(queueRow), "data-queue");
  }
  await load();
  whileVisible(load, REFRESH_MS, signal);
}
