// Talking to the kjs API: the bearer token (sessionStorage, never a cookie), JSON calls,
// problem answers as errors, and NDJSON watch streams read from a streaming fetch
// (EventSource cannot send an Authorization header).

const TOKEN_KEY = "kjs.token";
export const API = "/api/v1";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A non-2xx answer: `status`, the problem's `detail`, and its `errors: [{field, message}]`. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = (problem && problem.errors) || [];
  }
}

let onUnauthorized = () => {};
/** What a 401 anywhere does (the app sends the user to sign in). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** fetch() with the token; a 401 signs out; other errors become ApiError. */
export async function request(method, path, { body, query, signal, accept } = {}) {
  const url = withQuery(path.startsWith("/") ? path : `${API}/${path}`, query);
  const init = { method, signal, headers: headers(accept ? { Accept: accept } : {}) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError(401, await problemOf(response));
  }
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

export async function getJSON(path, query, signal) {
  return (await request("GET", path, { query, signal })).json();
}

export async function send(method, path, body) {
  const response = await request(method, path, { body });
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") params.append(key, String(one));
    }
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

/** Read a streaming body chunk by chunk as text: `onText(text)` for each decoded piece. */
export async function readText(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest) onText(rest);
}

/** Follow an NDJSON watch: `onItem(obj)` per line until the stream ends or `signal` aborts.
 *  Throws ApiError (e.g. 410: the cursor is too old, list again). */
export async function watch(path, query, onItem, signal) {
  const response = await request("GET", path, { query, signal, accept: "application/x-ndjson" });
  let pending = "";
  await readText(response, (text) => {
    pending += text;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) onItem(JSON.parse(line));
    }
  });
}

/** The caller: `{name, scopes, namespaces, open}`. Until the server has `/whoami` (a 404),
 *  treat it as open mode with every scope. */
export async function whoami() {
  try {
    return await getJSON("whoami");
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return { name: "anonymous", scopes: ["read", "submit", "admin"], namespaces: [], open: true };
    }
    throw e;
  }
}
