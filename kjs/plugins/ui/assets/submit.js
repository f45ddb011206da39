// Submit a job or a cron job, or edit a pending job (/ui/submit?edit=ID): a form for what people
// set most, or the whole job as YAML (or JSON, which is YAML). Server field errors are shown at
// their field. An edit sends only the fields that changed; a field emptied is sent as the API's
// default (null for most), because PATCH merges the body over the stored spec.
import { ApiError, getJSON, send } from "./api.js";
import { navigate, session } from "./app.js";
import { specOf } from "./job.js";
import { showFieldErrors } from "./jobs.js";
import { clear, fromYAML, h, shellJoin, shellSplit, toast, toYAML } from "./util.js";

/** What the API takes for a field left out (JobSpec, CronSpec in kjs/core/models.py); a field
 * not listed here defaults to null. */
const DEFAULTS = {
  command: [], args: [], env: {}, env_from: [], labels: {}, annotations: {}, image_pull_secrets: [],
  node_selector: {}, tolerations: [], cluster_selector: {}, backoff_limit: 0,
  ttl_seconds_after_finished: 600, restart_policy: "Never", log_collect: "on_failure",
  mode: "native", suspend: false, concurrency_policy: "Allow", queue: "default",
};
/** Where null is a value of its own rather than "the default": no TTL means never deleted. */
const KEEPS_NULL = new Set(["ttl_seconds_after_finished"]);
const NUMBERS = ["parallelism", "completions", "backoff_limit", "active_deadline_seconds", "ttl_seconds_after_finished"];
const TEXTS = ["service_account", "run_at", "callback_url", "image_pull_policy", "priority_class"];
const QUEUE_S_CLASS = "Its queue's (or none)";
const REQUIRED = ["name", "namespace", "image"];
const QUANTITIES = [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]];

const defaultOf = (name) => (name in DEFAULTS ? structuredClone(DEFAULTS[name]) : null);
/** A field's value as the API reads it: absent or null is its default, but where null is a value. */
const effective = (name, value) =>
  value === undefined || (value === null && !KEEPS_NULL.has(name)) ? defaultOf(name) : value;
const isDefault = (name, value) => same(effective(name, value), defaultOf(name));

/** Nested null members dropped: the API answers `limits: null` for limits never set. */
function prune(value) {
  if (Array.isArray(value)) return value.map(prune);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, prune(v)]));
  }
  return value;
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().filter((k) => value[k] !== null).map((k) => [k, canonical(value[k])]));
  }
  return value;
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

const FIRST = ["name", "namespace", "image", "schedule", "time_zone", "command", "args"];

/** The spec without what is at its default, the fields one reads first on top: what the YAML
 * editor shows. */
function compact(spec) {
  const rank = (k) => (FIRST.includes(k) ? FIRST.indexOf(k) : FIRST.length);
  return Object.fromEntries(
    Object.entries(spec)
      .filter(([k, v]) => !isDefault(k, v))
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([k, v]) => [k, prune(v)])
  );
}

/** The body of an edit: each field whose value changed, a field taken out as its default. */
function changes(before, after) {
  const body = {};
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const value = effective(name, after[name]);
    if (!same(value, effective(name, before[name]))) body[name] = value;
  }
  return body;
}

/** The body of a new job or cron job: nulls left out (the API's defaults), but where null is a value. */
function withoutNulls(spec) {
  return Object.fromEntries(Object.entries(spec).filter(([k, v]) => v !== null || KEEPS_NULL.has(k)));
}

class FormErrors extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
  }
}

export async function submitPage({ main, params, signal }) {
  const editing = params.get("edit");
  const original = editing ? await getJSON(`jobs/${editing}`, null, signal) : null;
  const before = original ? specOf(original) : null;
  // A token kept to some namespaces starts in its first one (it may not submit to "default").
  const namespace = session.who?.namespaces?.[0] || "default";
  // Likewise a token kept to some queues starts in its first one.
  const ownQueues = session.who?.queues || [];
  const queue = ownQueues.length && !ownQueues.includes("default") ? ownQueues[0] : "default";
  const start = before || { namespace, queue, log_collect: "on_failure" };

  const controls = {};
  const errorSlot = (name) => h("p", { class: "field-error", "data-error-for": name, role: "alert" });
  const field = (name, label, control, hint) =>
    h("div", { class: "field" }, h("label", { for: control.id }, label), control,
      hint ? h("p", { class: "hint muted" }, hint) : null, errorSlot(name));
  const input = (name, attrs = {}) =>
    (controls[name] = h("input", { id: `s-${name}`, name, autocomplete: "off", spellcheck: "false", ...attrs }));
  const select = (name, options) =>
    (controls[name] = h("select", { id: `s-${name}`, name }, options.map(([value, text]) => h("option", { value }, text))));
  const number = (name, placeholder) => input(name, { inputmode: "numeric", placeholder });

  const env = pairRows("env", "Variable", "NAME", "value");
  const labels = pairRows("label", "Label", "team", "value");
  const resources = h("fieldset", { class: "group" }, h("legend", {}, "Resources"),
    h("div", { class: "quad" },
      QUANTITIES.map(([part, kind]) => {
        const name = `${kind}_${part === "requests" ? "request" : "limit"}`;
        const label = `${kind === "cpu" ? "CPU" : "Memory"} ${part === "requests" ? "request" : "limit"}`;
        return h("div", { class: "field" }, h("label", { for: `s-${name}` }, label),
          input(name, { placeholder: kind === "cpu" ? "500m" : "256Mi" }));
      })),
    h("p", { class: "hint muted" }, "Kubernetes quantities: CPU as 500m or 2, memory as 256Mi or 1Gi."),
    errorSlot("resources"));

  const more = h("details", { class: "more" }, h("summary", {}, "More options"),
    resources,
    h("div", { class: "numbers" },
      field("parallelism", "Parallelism", number("parallelism", "1"), "Pods at once."),
      field("completions", "Completions", number("completions", "1"), "Pods that must succeed."),
      field("backoff_limit", "Backoff limit", number("backoff_limit", "0"), "Retries before it fails."),
      field("active_deadline_seconds", "Active deadline (s)", number("active_deadline_seconds", "none"), "Time limit once started."),
      field("ttl_seconds_after_finished", "TTL after finished (s)", number("ttl_seconds_after_finished", "600"), "Then Kubernetes deletes it.")),
    h("div", { class: "grid2" },
      field("cluster", "Cluster", input("cluster", { placeholder: "any" }), "One id, or several in order of preference: a, b."),
      field("cluster_selector", "Cluster selector", input("cluster_selector", { placeholder: "region=eu, gpu=true" }), "Clusters with these labels: key=value, comma-separated."),
      field("image_pull_policy", "Image pull policy", select("image_pull_policy",
        [["", "Kubernetes' default"], ["Always", "Always"], ["IfNotPresent", "IfNotPresent"], ["Never", "Never"]])),
      field("priority_class", "Priority class", select("priority_class", [["", QUEUE_S_CLASS]]),
        "Within its queue, a higher priority goes first."),
      field("service_account", "Service account", input("service_account", { placeholder: "default" })),
      field("run_at", "Run at", input("run_at", { placeholder: "2026-01-31T09:00Z (now if empty)" })),
      field("callback_url", "Callback URL", input("callback_url", { type: "url", placeholder: "https://…/webhook" }), "kjs posts the final state here.")));

  const cron = editing ? null : h("div", { class: "grid2 cron-fields" },
    field("schedule", "Schedule (cron)", input("schedule", { placeholder: "*/15 * * * *" }), "Optional: makes it a cron job that runs on this schedule."),
    field("time_zone", "Time zone", input("time_zone", { placeholder: "UTC" }), "For the schedule: an IANA name such as Europe/Paris."));

  const formPart = h("div", { class: "form-part" },
    h("div", { class: "grid2" },
      field("name", "Name", input("name", { required: true, placeholder: "nightly-report" })),
      field("namespace", "Namespace", input("namespace", { required: true })),
      field("image", "Image", input("image", { required: true, placeholder: "busybox:1.36" })),
      field("log_collect", "Collect logs", select("log_collect", [["on_failure", "on failure"], ["always", "always"], ["never", "never"]])),
      field("command", "Command", input("command", { placeholder: "sh -c 'echo hello'" }), "One line, split like a shell would."),
      field("args", "Arguments", input("args", { placeholder: "--verbose" }), "One line, split like a shell would."),
      field("queue", "Queue", select("queue", [[start.queue || "default", start.queue || "default"]]),
        "Where it waits its turn, within the queue's limits.")),
    cron,
    h("div", { class: "grid2" }, env.node("Environment", "+ Add variable", "env"), labels.node("Labels", "+ Add label", "labels")),
    more);

  const documentBox = h("textarea", { id: "s-document", name: "document", rows: 24, spellcheck: "false", class: "code", autocomplete: "off" });
  const docPart = h("div", { class: "doc-part", hidden: true },
    field("document", "Job as YAML or JSON", documentBox,
      original ? "Every field of the API's job. A field taken out goes back to its default."
        : "Every field of the API's job; a schedule makes it a cron job. Fields left out take their defaults."));
  const toggle = h("button", { type: "button", class: "btn", "data-action": "editor", "aria-pressed": "false" }, "Edit as YAML");
  const submitButton = h("button", { type: "submit", class: "btn btn-primary" }, original ? "Save changes" : "Submit");
  const form = h("form", { "data-testid": "submit-form", class: "card submit", novalidate: true },
    h("div", { class: "page-head" }, h("h1", {}, original ? `Edit ${original.name}` : "Submit a job"), h("span", { class: "spacer" }), toggle),
    formPart, docPart, errorSlot("_form"),
    h("div", { class: "actions" }, submitButton,
      h("a", { href: original ? `/ui/jobs/${original.id}` : "/ui/jobs", "data-nav": true, class: "btn btn-ghost" }, "Cancel")));

  let base = { ...start }; // the fields the form does not show are kept from here

  /** The queue select offers `name` (a job's own queue stays offered, whatever the list says). */
  function queueOption(name) {
    if (![...controls.queue.options].some((o) => o.value === name)) controls.queue.append(h("option", { value: name }, name));
  }

  /** The class select offers `name` (a job's own class stays offered, whatever the list says). */
  function classOption(name) {
    if (name && ![...controls.priority_class.options].some((o) => o.value === name)) {
      controls.priority_class.append(h("option", { value: name }, name));
    }
  }

  /** The server's priority classes, highest first, each with its value. */
  async function loadClasses() {
    let classes;
    try {
      classes = (await getJSON("priority-classes", null, signal)).items;
    } catch (e) {
      return; // an older server: the job's class (if any) stays the one offered
    }
    const chosen = controls.priority_class.value;
    clear(controls.priority_class, h("option", { value: "" }, QUEUE_S_CLASS),
      classes.map((c) => h("option", { value: c.name }, `${c.name} (${c.value})`)));
    classOption(chosen);
    controls.priority_class.value = chosen;
  }

  /** The queues there are (only the token's own when it is kept to some), by name. */
  async function loadQueues() {
    let names;
    try {
      names = (await getJSON("queues", null, signal)).items.map((q) => q.name);
    } catch (e) {
      return; // an older server, or none readable: the job's queue (or default) stays the one offered
    }
    if (ownQueues.length) names = names.filter((n) => ownQueues.includes(n));
    const chosen = controls.queue.value;
    clear(controls.queue, names.map((n) => h("option", { value: n }, n)));
    queueOption(chosen);
    controls.queue.value = chosen;
  }

  function fill(spec) {
    for (const name of REQUIRED) controls[name].value = spec[name] ?? "";
    classOption(spec.priority_class);
    for (const name of [...NUMBERS, ...TEXTS]) {
      const value = spec[name];
      controls[name].value = value === null || value === undefined || isDefault(name, value) ? "" : String(value);
    }
    controls.log_collect.value = spec.log_collect || "on_failure";
    queueOption(spec.queue || "default");
    controls.queue.value = spec.queue || "default";
    controls.command.value = shellJoin(spec.command);
    controls.args.value = shellJoin(spec.args);
    controls.cluster.value = [].concat(spec.cluster ?? []).join(", ");
    controls.cluster_selector.value = Object.entries(spec.cluster_selector || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    for (const [part, kind] of QUANTITIES) {
      controls[`${kind}_${part === "requests" ? "request" : "limit"}`].value = spec.resources?.[part]?.[kind] ?? "";
    }
    // Values from a Secret or ConfigMap are objects: the form leaves them be (the YAML shows them).
    env.set(Object.entries(spec.env || {}).filter(([, v]) => v === null || typeof v !== "object"));
    labels.set(Object.entries(spec.labels || {}));
    if (cron) {
      controls.schedule.value = spec.schedule ?? "";
      controls.time_zone.value = spec.time_zone ?? "";
    }
    if ([...more.querySelectorAll("input, select")].some((c) => c.value)) more.open = true;
    nameTheButton();
  }

  /** An emptied field: the API's default, but a null TTL stays null (an empty box cannot say "never"). */
  const blank = (name) => (base[name] === null && KEEPS_NULL.has(name) ? null : defaultOf(name));

  function fromForm() {
    const spec = { ...base };
    const errors = [];
    for (const name of REQUIRED) spec[name] = controls[name].value.trim();
    for (const name of TEXTS) spec[name] = controls[name].value.trim() || blank(name);
    for (const name of NUMBERS) {
      const raw = controls[name].value.trim();
      if (!raw) spec[name] = blank(name);
      else if (/^\d+$/.test(raw)) spec[name] = Number(raw);
      else errors.push({ field: name, message: "a whole number, or empty" });
    }
    spec.log_collect = controls.log_collect.value;
    spec.queue = controls.queue.value || "default";
    for (const name of ["command", "args"]) {
      try {
        spec[name] = shellSplit(controls[name].value.trim());
      } catch (e) {
        errors.push({ field: name, message: e.message });
      }
    }
    const clusters = controls.cluster.value.split(",").map((s) => s.trim()).filter(Boolean);
    spec.cluster = clusters.length > 1 ? clusters : clusters[0] ?? null;
    spec.cluster_selector = {};
    for (const pair of controls.cluster_selector.value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const at = pair.indexOf("=");
      if (at <= 0) errors.push({ field: "cluster_selector", message: `${JSON.stringify(pair)} is not key=value` });
      else spec.cluster_selector[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
    const quantities = { requests: {}, limits: {} };
    for (const [part, kind] of QUANTITIES) {
      const raw = controls[`${kind}_${part === "requests" ? "request" : "limit"}`].value.trim();
      if (raw) quantities[part][kind] = raw;
    }
    const parts = Object.entries(quantities).filter(([, q]) => Object.keys(q).length);
    spec.resources = parts.length ? Object.fromEntries(parts) : null;
    const kept = Object.entries(base.env || {}).filter(([, v]) => v !== null && typeof v === "object");
    spec.env = { ...Object.fromEntries(kept), ...env.read() };
    spec.labels = labels.read();
    if (cron) {
      for (const name of ["schedule", "time_zone"]) {
        const raw = controls[name].value.trim();
        if (raw) spec[name] = raw;
        else delete spec[name];
      }
      if (spec.time_zone && !spec.schedule) errors.push({ field: "time_zone", message: "a time zone is for a schedule: set one, or empty this" });
    }
    if (errors.length) throw new FormErrors(errors);
    return spec;
  }

  function fromDocument() {
    const spec = fromYAML(documentBox.value);
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
      throw new Error("The job must be a mapping of field names to values (name: …, image: …).");
    }
    return spec;
  }

  function nameTheButton() {
    if (original) return;
    submitButton.textContent = !asDocument && cron && controls.schedule.value.trim() ? "Create cron job" : "Submit";
  }

  /** A problem found here, before sending: at its field, or for YAML at the editor (the cursor on it). */
  function showProblem(e) {
    if (e instanceof FormErrors) return showFieldErrors(form, e);
    const slot = form.querySelector(`[data-error-for="${asDocument ? "document" : "_form"}"]`);
    slot.textContent = e.message;
    if (asDocument && e.position !== undefined) {
      documentBox.focus();
      documentBox.setSelectionRange(e.position, e.position);
    }
  }

  let asDocument = false;
  function switchTo(document) {
    asDocument = document;
    formPart.hidden = document;
    docPart.hidden = !document;
    toggle.textContent = document ? "Edit as form" : "Edit as YAML";
    toggle.setAttribute("aria-pressed", String(document));
    documentBox.removeAttribute("aria-invalid");
    nameTheButton();
  }
  toggle.addEventListener("click", () => {
    showFieldErrors(form, null);
    try {
      if (!asDocument) documentBox.value = `${toYAML(compact(fromForm()))}\n`;
      else {
        base = fromDocument();
        fill(base);
      }
    } catch (e) {
      showProblem(e);
      openOnError();
      return;
    }
    switchTo(!asDocument);
  });

  // The YAML is checked as one types (after a pause), so a slip shows before one submits.
  let checking;
  documentBox.addEventListener("input", () => {
    clearTimeout(checking);
    checking = setTimeout(() => {
      const slot = form.querySelector('[data-error-for="document"]');
      try {
        fromDocument();
        slot.textContent = "";
        documentBox.removeAttribute("aria-invalid");
      } catch (e) {
        slot.textContent = e.message;
        documentBox.setAttribute("aria-invalid", "true");
      }
    }, 400);
  });
  cron?.addEventListener("input", nameTheButton);

  function openOnError() {
    if ([...more.querySelectorAll(".field-error")].some((node) => node.textContent)) more.open = true;
    showFirstError(form);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(checking);
    showFieldErrors(form, null);
    let spec;
    try {
      spec = asDocument ? fromDocument() : fromForm();
    } catch (e) {
      showProblem(e);
      return openOnError();
    }
    submitButton.disabled = true;
    try {
      if (original) {
        const body = changes(before, spec);
        if (Object.keys(body).length) await send("PATCH", `jobs/${original.id}`, body);
        else toast("Nothing changed");
        return navigate(`/ui/jobs/${original.id}`);
      }
      const isCron = "schedule" in spec;
      const created = await send("POST", isCron ? "cronjobs" : "jobs", withoutNulls(spec));
      navigate(isCron ? `/ui/crons/${created.id}` : `/ui/jobs/${created.id}`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (asDocument) {
        // In the editor every field's error belongs to the document.
        const errors = e.errors.map((x) => `${x.field}: ${x.message}`);
        form.querySelector('[data-error-for="document"]').textContent = errors.join("\n") || e.message;
      } else showFieldErrors(form, e);
      openOnError();
    } finally {
      submitButton.disabled = false;
    }
  });

  main.append(form);
  fill(start);
  loadQueues();
  loadClasses();
  controls.name.focus();
}

/** Rows of key = value inputs (environment variables, labels); one empty row to start with. */
function pairRows(kind, noun, keyHint, valueHint) {
  const rows = h("div", { class: `pair-rows ${kind}-rows` });
  const add = (k = "", v = "") => {
    const row = h("div", { class: `pair-row ${kind}-row` },
      h("input", { name: `${kind}_key`, "aria-label": `${noun} name`, placeholder: keyHint, value: k, autocomplete: "off", spellcheck: "false" }),
      h("input", { name: `${kind}_value`, "aria-label": `${noun} value`, placeholder: valueHint, value: v, autocomplete: "off", spellcheck: "false" }),
      h("button", { type: "button", class: "btn btn-ghost", "aria-label": `Remove this ${noun.toLowerCase()}`, onclick: () => row.remove() }, "✕"));
    rows.append(row);
  };
  return {
    node: (legend, addText, errorFor) =>
      h("fieldset", { class: `group ${kind === "env" ? "env" : kind}` }, h("legend", {}, legend), rows,
        h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => add() }, addText),
        h("p", { class: "field-error", "data-error-for": errorFor, role: "alert" })),
    set(entries) {
      clear(rows);
      for (const [k, v] of entries) add(k, v === null ? "" : String(v));
      if (!rows.children.length) add();
    },
    read() {
      const pairs = {};
      for (const row of rows.children) {
        const k = row.querySelector(`[name="${kind}_key"]`).value.trim();
        if (k) pairs[k] = row.querySelector(`[name="${kind}_value"]`).value;
      }
      return pairs;
    },
  };
}

/** Bring the first error into view (below the sticky header: `scroll-margin-top` in the CSS). */
function showFirstError(form) {
  const error = [...form.querySelectorAll(".field-error")].find((node) => node.textContent);
  if (!error) return;
  (error.closest(".field, fieldset") || error).scrollIntoView({ block: "start" });
}
