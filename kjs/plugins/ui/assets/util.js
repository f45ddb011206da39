// Small DOM and formatting helpers shared by the pages.

/** Create an element: h("a", {href, class, dataset: {...}, onclick}, ...children). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const UNITS = [
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
];

/** 3725 s → "1h 2m"; two units at most. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
  let rest = Math.max(0, Math.floor(seconds));
  if (rest === 0) return "0s";
  const parts = [];
  for (const [unit, size] of UNITS) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length) break;
  }
  return parts.join(" ");
}

export function since(iso, now = Date.now()) {
  return iso ? (now - Date.parse(iso)) / 1000 : null;
}

export function between(from, to, now = Date.now()) {
  if (!from) return null;
  return ((to ? Date.parse(to) : now) - Date.parse(from)) / 1000;
}

export function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

/** Elements with data-tick-since / data-tick-from(+to) re-render once a second. */
export function tickAll(root = document) {
  const now = Date.now();
  for (const node of root.querySelectorAll("[data-tick-since]")) {
    node.textContent = duration(since(node.dataset.tickSince, now));
  }
  for (const node of root.querySelectorAll("[data-tick-from]")) {
    node.textContent = duration(between(node.dataset.tickFrom, node.dataset.tickTo, now));
  }
}

/** A monospaced short id, the full one in the tooltip, and a copy button. */
export function shortId(id, href) {
  const text = id.length > 12 ? id.slice(0, 8) : id;
  const label = href ? h("a", { href, "data-nav": true, title: id, class: "mono" }, text)
    : h("span", { title: id, class: "mono" }, text);
  const copy = h("button", {
    type: "button",
    class: "copy",
    title: "Copy the full id",
    "aria-label": `Copy id ${id}`,
    onclick: async (event) => {
      event.stopPropagation();
      try {
        await navigator.clipboard.writeText(id);
        toast("Copied");
      } catch {
        toast(id);
      }
    },
  });
  return h("span", { class: "id" }, label, copy);
}

let toastTimer;
export function toast(message, kind = "info") {
  const node = document.querySelector(".toast");
  if (!node) return;
  node.textContent = message;
  node.className = `toast show toast-${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.className = "toast"), 3500);
}

export function stateBadge(state) {
  return h("span", { class: `state state-${state}` }, state);
}

// -- command lines ----------------------------------------------------------------------

/** Split a command line as a POSIX shell would (quotes and backslashes; no expansions). */
export function shellSplit(text) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word = word ?? "";
    } else if (c === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} quote`);
  if (word !== null) words.push(word);
  return words;
}

export function shellJoin(words) {
  return (words || []).map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(" ");
}

// -- JSON → YAML (the subset JSON needs; strings quoted when YAML would read them otherwise) --

const PLAIN = /^[A-Za-z_/.][\w./-]*( [\w./-]+)*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  const text = String(value);
  if (PLAIN.test(text) && !RESERVED.test(text)) return text;
  return JSON.stringify(text);
}

function key(name) {
  return PLAIN.test(name) && !RESERVED.test(name) ? name : JSON.stringify(name);
}

function isEmpty(value) {
  return (
    (Array.isArray(value) && value.length === 0) ||
    (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0)
  );
}

export function toYAML(value, indent = "") {
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value
      .map((item) => {
        if (item && typeof item === "object" && !isEmpty(item)) {
          const inner = toYAML(item, `${indent}  `);
          return `${indent}- ${inner.slice(indent.length + 2)}`;
        }
        return `${indent}- ${item && typeof item === "object" ? toYAML(item) : scalar(item)}`;
      })
      .join("\n");
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length) return "{}";
    return entries
      .map(([name, item]) => {
        if (item && typeof item === "object" && !isEmpty(item)) {
          return `${indent}${key(name)}:\n${toYAML(item, Array.isArray(item) ? indent : `${indent}  `)}`;
        }
        const text = item && typeof item === "object" ? toYAML(item) : scalar(item);
        return `${indent}${key(name)}: ${text}`;
      })
      .join("\n");
  }
  return scalar(value);
}
