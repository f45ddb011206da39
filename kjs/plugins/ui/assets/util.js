// Small DOM and formatting helpers shared by the pages.
import { CORE_SCHEMA, YAMLException, dump, load } from "./js-yaml.js";

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

/** Whether a key pressed in `target` is typing (a text field, a select, a text area): the
 *  pages' single-key shortcuts leave those keys alone. */
export function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.closest("textarea, select, [contenteditable]")) return true;
  const input = target.closest("input");
  return Boolean(input) && !["checkbox", "radio", "button", "submit", "reset"].includes(input.type);
}

// -- live pages ------------------------------------------------------------------------

/** Make `node` look like `fresh` while keeping `node` itself, and each child of the same kind,
 *  in the document: focus, a ticked box, scroll positions and listeners stay (a redraw that
 *  replaced the nodes would lose them). An element of another tag is replaced. */
export function morph(node, fresh) {
  if (node.nodeType !== fresh.nodeType || node.nodeName !== fresh.nodeName) {
    node.replaceWith(fresh);
    return fresh;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) {
    if (node.nodeValue !== fresh.nodeValue) node.nodeValue = fresh.nodeValue;
    return node;
  }
  for (const { name } of [...node.attributes]) if (!fresh.hasAttribute(name)) node.removeAttribute(name);
  for (const { name, value } of fresh.attributes) if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  const olds = [...node.childNodes];
  const news = [...fresh.childNodes];
  news.forEach((child, i) => (i < olds.length ? morph(olds[i], child) : node.append(child)));
  for (const extra of olds.slice(news.length)) extra.remove();
  return node;
}

/** Bring `body`'s rows to `fresh` (rows told apart by the attribute `key`): a kept row is
 *  morphed in place, a new one inserted, a gone one removed; rows move only when the order
 *  changed. A row without `key` (the "nothing here" row) counts as the key "". */
export function syncRows(body, fresh, key) {
  const keyOf = (row) => row.getAttribute(key) ?? "";
  const old = new Map([...body.rows].map((row) => [keyOf(row), row]));
  const kept = fresh.map((row) => {
    const before = old.get(keyOf(row));
    old.delete(keyOf(row));
    return before ? morph(before, row) : row;
  });
  for (const gone of old.values()) gone.remove();
  kept.forEach((row, i) => {
    if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] || null);
  });
}

/** Call `refresh` every `every` ms while the tab is visible, at once when it comes back into
 *  view, and never after `signal` aborts (the page was left). A failed refresh waits for the
 *  next turn (`onError` hears of it). */
export function whileVisible(refresh, every, signal, onError = () => {}) {
  let timer = null;
  let busy = false;
  const visible = () => document.visibilityState === "visible";
  const turn = async () => {
    timer = null;
    if (busy || signal.aborted || !visible()) return;
    busy = true;
    try {
      await refresh();
    } catch (e) {
      if (!signal.aborted) onError(e);
    } finally {
      busy = false;
      if (!signal.aborted && visible() && !timer) timer = setTimeout(turn, every);
    }
  };
  const seen = () => {
    clearTimeout(timer);
    timer = null;
    if (visible()) turn();
  };
  document.addEventListener("visibilitychange", seen);
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", seen);
  });
  timer = setTimeout(turn, every);
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

// -- YAML, by js-yaml (vendored: assets/SOURCES) ---------------------------------------

/** Data as block YAML: strings quoted wherever YAML 1.1 or 1.2 would read them as something
 * else ("yes", "1", a timestamp), long lines never folded. */
export function toYAML(value) {
  return dump(value, { lineWidth: -1, noRefs: true }).replace(/\n$/, "");
}

/** A YAML syntax error with where it is: `line` and `column` from 1, `position` from 0. */
export class YAMLSyntaxError extends Error {
  constructor(reason, mark) {
    super(`Line ${mark.line + 1}, column ${mark.column + 1}: ${reason}`);
    this.line = mark.line + 1;
    this.column = mark.column + 1;
    this.position = mark.position;
  }
}

/** YAML (or JSON, which is YAML) as data. Safe on any text: js-yaml 4's schemas build plain
 * data only (3.x's `!!js/function` and other custom types are gone), and we add none. The core
 * schema keeps a timestamp the string the API takes, not a Date. */
export function fromYAML(text) {
  try {
    return load(text, { schema: CORE_SCHEMA });
  } catch (e) {
    if (e instanceof YAMLException && e.mark) throw new YAMLSyntaxError(e.reason, e.mark);
    throw e;
  }
}
