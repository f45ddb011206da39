// Submit a job (or edit a pending one: /ui/submit?edit=ID): a form for the common fields, or a
// JSON document for all of them. Server field errors are shown at their field.
import { ApiError, getJSON, send } from "./api.js";
import { navigate } from "./app.js";
import { specOf } from "./job.js";
import { showFieldErrors } from "./jobs.js";
import { clear, h, shellJoin, shellSplit } from "./util.js";

const FIELDS = ["name", "namespace", "image", "command", "args", "cluster", "run_at", "callback_url"];

export async function submitPage({ main, params, signal }) {
  const editing = params.get("edit");
  const original = editing ? await getJSON(`jobs/${editing}`, null, signal) : null;
  const start = original ? specOf(original) : { namespace: "default", log_collect: "on_failure" };

  const field = (name, label, control, hint) =>
    h("div", { class: "field" }, h("label", { for: `s-${name}` }, label), control,
      hint ? h("p", { class: "hint muted" }, hint) : null,
      h("p", { class: "field-error", "data-error-for": name, role: "alert" }));
  const text = (name, attrs = {}) => h("input", { id: `s-${name}`, name, autocomplete: "off", spellcheck: "false", ...attrs });
  const envRows = h("div", { class: "env-rows" });
  const addEnv = (k = "", v = "") => {
    const row = h("div", { class: "env-row" },
      h("input", { name: "env_key", "aria-label": "Variable name", placeholder: "NAME", value: k, autocomplete: "off" }),
      h("input", { name: "env_value", "aria-label": "Variable value", placeholder: "value", value: v, autocomplete: "off" }),
      h("button", { type: "button", class: "btn btn-ghost", "aria-label": "Remove this variable", onclick: () => row.remove() }, "✕"));
    envRows.append(row);
  };
  const logCollect = h("select", { id: "s-log_collect", name: "log_collect" },
    ["on_failure", "always", "never"].map((v) => h("option", { value: v }, v)));
  const documentBox = h("textarea", { id: "s-document", name: "document", rows: 22, spellcheck: "false", class: "code" });
  const formPart = h("div", { class: "form-part" },
    h("div", { class: "grid2" },
      field("name", "Name", text("name", { required: true, placeholder: "nightly-report" })),
      field("namespace", "Namespace", text("namespace", { required: true })),
      field("image", "Image", text("image", { required: true, placeholder: "busybox:1.36" })),
      field("log_collect", "Collect logs", logCollect),
      field("command", "Command", text("command", { placeholder: "sh -c 'echo hello'" }), "One line, split like a shell would."),
      field("args", "Arguments", text("args", { placeholder: "--verbose" }), "One line, split like a shell would."),
      field("cluster", "Cluster", text("cluster", { placeholder: "any" })),
      field("run_at", "Run at", text("run_at", { placeholder: "2026-01-31T09:00Z (now if empty)" })),
      field("callback_url", "Callback URL", text("callback_url", { type: "url", placeholder: "webhook receiver" }))),
    h("fieldset", { class: "env" }, h("legend", {}, "Environment"), envRows,
      h("button", { type: "button", class: "btn btn-ghost", onclick: () => addEnv() }, "+ Add variable"),
      h("p", { class: "field-error", "data-error-for": "env" })));
  const docPart = h("div", { class: "doc-part", hidden: true },
    field("document", "Job as JSON", documentBox, "Every field of the API's job (JSON only)."));
  const toggle = h("button", { type: "button", class: "btn", "data-action": "editor", "aria-pressed": "false" }, "Edit as JSON");
  const general = h("p", { class: "field-error", "data-error-for": "_form", role: "alert" });
  const form = h("form", { "data-testid": "submit-form", class: "card submit", novalidate: true },
    h("div", { class: "page-head" }, h("h1", {}, original ? `Edit ${original.name}` : "Submit a job"), h("span", { class: "spacer" }), toggle),
    formPart, docPart, general,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn btn-primary" }, original ? "Save changes" : "Submit"),
      h("a", { href: original ? `/ui/jobs/${original.id}` : "/ui/jobs", "data-nav": true, class: "btn btn-ghost" }, "Cancel")));

  function fill(spec) {
    for (const name of FIELDS) {
      const value = spec[name];
      form.elements[name].value = name === "command" || name === "args" ? shellJoin(value) : value ?? "";
    }
    logCollect.value = spec.log_collect || "on_failure";
    clear(envRows);
    for (const [k, v] of Object.entries(spec.env || {})) if (typeof v === "string") addEnv(k, v);
    if (!envRows.children.length) addEnv();
  }

  let base = { ...start }; // fields the form does not show are kept from here
  function fromForm() {
    const spec = { ...base };
    for (const name of FIELDS) {
      const raw = form.elements[name].value.trim();
      if (name === "command" || name === "args") spec[name] = shellSplit(raw);
      else if (raw) spec[name] = raw;
      else if (name === "name" || name === "namespace" || name === "image") spec[name] = "";
      else spec[name] = null;
    }
    spec.log_collect = logCollect.value;
    const env = { ...Object.fromEntries(Object.entries(base.env || {}).filter(([, v]) => typeof v !== "string")) };
    for (const row of envRows.children) {
      const k = row.querySelector('[name="env_key"]').value.trim();
      if (k) env[k] = row.querySelector('[name="env_value"]').value;
    }
    spec.env = env;
    return spec;
  }

  let asDocument = false;
  toggle.addEventListener("click", () => {
    showFieldErrors(form, null);
    try {
      if (!asDocument) documentBox.value = JSON.stringify(fromForm(), null, 2);
      else {
        base = JSON.parse(documentBox.value);
        fill(base);
      }
    } catch (e) {
      form.querySelector(`[data-error-for="${asDocument ? "document" : "command"}"]`).textContent = e.message;
      return;
    }
    asDocument = !asDocument;
    formPart.hidden = asDocument;
    docPart.hidden = !asDocument;
    toggle.textContent = asDocument ? "Edit as form" : "Edit as JSON";
    toggle.setAttribute("aria-pressed", String(asDocument));
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, null);
    let body;
    try {
      body = asDocument ? JSON.parse(documentBox.value) : fromForm();
    } catch (e) {
      form.querySelector(`[data-error-for="${asDocument ? "document" : "command"}"]`).textContent = e.message;
      return;
    }
    for (const [k, v] of Object.entries(body)) if (v === null) delete body[k];
    try {
      const job = original ? await send("PATCH", `jobs/${original.id}`, body) : await send("POST", "jobs", body);
      navigate(`/ui/jobs/${job.id}`);
    } catch (e) {
      if (e instanceof ApiError && asDocument) {
        // In the JSON editor every field's error belongs to the document.
        const errors = (e.errors || []).map((x) => `${x.field}: ${x.message}`);
        form.querySelector('[data-error-for="document"]').textContent = errors.join("\n") || e.message;
      } else showFieldErrors(form, e);
      showFirstError(form);
    }
  });

  main.append(form);
  fill(start);
  form.elements.name.focus();
}

/** Bring the first error into view (below the sticky header: `scroll-margin-top` in the CSS). */
function showFirstError(form) {
  const error = [...form.querySelectorAll(".field-error")].find((node) => node.textContent);
  if (!error) return;
  (error.closest(".field") || error).scrollIntoView({ block: "start" });
}
