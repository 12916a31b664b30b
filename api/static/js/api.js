// The REST API client: the admin's token from sessionStorage, JSON in and out, one error type,
// and the live notification stream read with fetch() (EventSource cannot send a header).

const KEY = "alertworker.token";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const error = (body && body.error) || {};
    super(error.message || fallback || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let unauthorized = () => {};
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function headers(explicitToken, accept = "application/json") {
  return { Accept: accept, Authorization: `Bearer ${explicitToken || token.get() || ""}` };
}

// api("PATCH", "/admin/alerts/configs/3", {is_active: false}) -> parsed JSON (null for 204).
export async function api(method, path, body, explicitToken) {
  const init = { method, headers: headers(explicitToken), cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, null, "The server cannot be reached. Check your connection.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !explicitToken) unauthorized(error);
    throw error;
  }
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Parse one SSE block ("event: x\ndata: y\n") into {event, data} or {retry}.
export function parseBlock(block) {
  let event = "message";
  let retry = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  }
  if (data.length) return { event, data: data.join("\n") };
  return retry === null ? null : { retry };
}

async function readEvents(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const parsed = parseBlock(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (parsed) emit(parsed);
    }
  }
}

// Follow GET /admin/alerts/notifications/stream, reconnecting with backoff; returns {close()}.
// onEvent({event, data}) for each event; onState("connecting" | "live" | "reconnecting" | "offline").
export function openStream({ onEvent, onState }) {
  let stopped = false;
  let controller = null;
  let retryMs = 3000;
  let failures = 0;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      onState(failures ? "reconnecting" : "connecting");
      try {
        const response = await fetch(`${BASE}/admin/alerts/notifications/stream`, {
          headers: headers(null, "text/event-stream"), cache: "no-store", signal: controller.signal,
        });
        if (response.status === 401) {
          unauthorized(new ApiError(401, null));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        failures = 0;
        onState("live");
        await readEvents(response.body, (item) => {
          if (item.retry) retryMs = item.retry;
          else onEvent(item);
        });
      } catch {
        // aborted, network down or the server went away: reconnect below unless stopped
      }
      if (stopped) return;
      failures += 1;
      onState("reconnecting");
      await sleep(Math.min(retryMs * failures, 30000));
    }
  }

  run();
  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
      onState("offline");
    },
  };
}
