// Clusters: capacity, running, free, the agent's last heartbeat (ticking), version; cordon.
import { getJSON, send } from "./api.js";
import { mayEverywhere } from "./app.js";
import { clear, duration, h, localTime, since, toast } from "./util.js";

export async function clustersPage({ main, signal, onLeave }) {
  const tbody = h("tbody");
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Clusters")),
    h("div", { class: "table-wrap" }, h("table", { "data-testid": "clusters-table", class: "table" },
      h("thead", {}, h("tr", {}, ["Cluster", "State", "Capacity", "Running", "Free", "Heartbeat", "Version", ""].map((t) => h("th", { scope: "col", class: { Cluster: "name", Capacity: "num", Running: "num", Free: "num" }[t] }, t)))),
      tbody))
  );
  async function load() {
    const list = await getJSON("clusters", null, signal);
    clear(tbody, list.items.map((c) => {
      const free = Math.max(0, c.capacity - c.running - (c.dispatched || 0));
      const action = c.cordoned ? "uncordon" : "cordon";
      return h("tr", { "data-cluster-id": c.id },
        h("td", { "data-col": "id", class: "name mono" }, c.id),
        h("td", { "data-col": "state" }, h("span", { class: `cluster-state cluster-${c.state}` }, c.state)),
        h("td", { "data-col": "capacity", class: "num" }, String(c.capacity)),
        h("td", { "data-col": "running", class: "num" }, String(c.running)),
        h("td", { "data-col": "free", class: "num" }, String(free)),
        h("td", { "data-col": "heartbeat_age", "data-tick-since": c.last_heartbeat || undefined, title: localTime(c.last_heartbeat) },
          c.last_heartbeat ? duration(since(c.last_heartbeat)) : "never"),
        h("td", { "data-col": "version" }, c.version || "—"),
        h("td", { class: "row-actions" }, mayEverywhere("admin")
          ? h("button", {
              type: "button",
              class: "btn btn-small",
              "data-action": action,
              onclick: async () => {
                if (action === "cordon" && !confirm(`Cordon ${c.id}? It will take no new jobs.`)) return;
                try {
                  await send("POST", `clusters/${c.id}/${action}`);
                  toast(`${c.id}: ${action}ed`);
                  load();
                } catch (e) {
                  toast(e.message, "error");
                }
              },
            }, action === "cordon" ? "Cordon" : "Uncordon")
          : null));
    }));
    if (!list.items.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty muted" }, "No cluster has reported yet.")));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  onLeave(() => clearInterval(timer));
}
