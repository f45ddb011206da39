// Clusters: capacity, running, free, the agent's last heartbeat (ticking), version; cordon.
// The list refreshes itself while the tab is visible (the API has no watch of clusters), each
// row updated in place so focus and the scroll position stay.
import { getJSON, send } from "./api.js";
import { mayEverywhere } from "./app.js";
import { duration, h, localTime, since, syncRows, toast, whileVisible } from "./util.js";

const REFRESH_MS = 4000;
const COLUMNS = ["Cluster", "State", "Capacity", "Running", "Free", "Heartbeat", "Version", "Actions"];
const COLUMN_CLASS = { Cluster: "name", Capacity: "num", Running: "num", Free: "num" };

function clusterRow(c) {
  const free = Math.max(0, c.capacity - c.running - (c.dispatched || 0));
  const action = c.cordoned ? "uncordon" : "cordon";
  return h("tr", { "data-cluster-id": c.id, "data-cordoned": String(Boolean(c.cordoned)) },
    h("td", { "data-col": "id", class: "name mono" }, c.id),
    h("td", { "data-col": "state" }, h("span", { class: `cluster-state cluster-${c.state}` }, c.state)),
    h("td", { "data-col": "capacity", class: "num" }, String(c.capacity)),
    h("td", { "data-col": "running", class: "num" }, String(c.running)),
    h("td", { "data-col": "free", class: "num" }, String(free)),
    h("td", { "data-col": "heartbeat_age", "data-tick-since": c.last_heartbeat || undefined, title: localTime(c.last_heartbeat) },
      c.last_heartbeat ? duration(since(c.last_heartbeat)) : "never"),
    h("td", { "data-col": "version" }, c.version || "—"),
    h("td", { class: "row-actions" }, mayEverywhere("admin")
      ? h("button", { type: "button", class: "btn btn-small", "data-action": action, "aria-label": `${action === "cordon" ? "Cordon" : "Uncordon"} ${c.id}` },
          action === "cordon" ? "Cordon" : "Uncordon")
      : null));
}

export async function clustersPage({ main, signal }) {
  const tbody = h("tbody");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Clusters"), h("span", { class: "live muted on", title: `Refreshed every ${REFRESH_MS / 1000} s while this tab is visible` }, "● live")),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "clusters-table", class: "table" },
      h("thead", {}, h("tr", {}, COLUMNS.map((t) => h("th", { scope: "col", class: COLUMN_CLASS[t] }, t === "Actions" ? h("span", { class: "sr-only" }, t) : t)))),
      tbody))
  );
  async function load() {
    const list = await getJSON("clusters", null, signal);
    const rows = list.items.map(clusterRow);
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 8, class: "empty muted" }, "No cluster has reported yet.")));
    syncRows(tbody, rows, "data-cluster-id");
  }
  // One listener for every row's button: a row redrawn in place keeps its button, whose
  // action (cordon or uncordon) is read when it is pressed.
  tbody.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const id = button.closest("tr").dataset.clusterId;
    const action = button.dataset.action;
    if (action === "cordon" && !confirm(`Cordon ${id}? It will take no new jobs.`)) return;
    try {
      await send("POST", `clusters/${id}/${action}`);
      toast(`${id}: ${action}ed`);
      await load();
    } catch (e) {
      toast(e.message, "error");
    }
  });
  await load();
  whileVisible(load, REFRESH_MS, signal);
}
