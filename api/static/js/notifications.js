// The bell (unread count, live over the SSE stream) and the notification centre: a list with
// severity, time and occurrence count; each opens to its per-channel deliveries; mark read,
// acknowledge, mark all read.

import { api, openStream } from "./api.js";
import { CHANNELS, typeLabel } from "./vocabulary.js";
import { noteNotification } from "./configs.js";
import { $, h, icon, severityBadge, timeElement, toast } from "./dom.js";
import { isOpen, openModal } from "./modal.js";
import { silenceSimilar } from "./silences.js";

let stream = null;
let nextCursor = null;

export function setUnread(count) {
  const n = Math.max(0, Number(count) || 0);
  const badge = $("#unread");
  const changed = badge.textContent !== String(n);
  badge.textContent = n > 99 ? "99+" : String(n);
  badge.hidden = n === 0;
  $("#bell").dataset.count = String(n);
  $("#bell").setAttribute("aria-label", n ? `Notifications, ${n} unread` : "Notifications, none unread");
  if (changed && n) {
    badge.classList.remove("bump");
    void badge.offsetWidth; // restart the animation
    badge.classList.add("bump");
  }
}

async function refreshCount() {
  try {
    setUnread((await api("GET", "/admin/alerts/notifications/unread/count")).count);
  } catch {
    // the stream's next count will correct it
  }
}

function setLive(state) {
  const live = $("#live");
  live.dataset.state = state;
  live.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline" }[state];
  live.title = state === "live" ? "New notifications arrive without reloading" : "The live stream is not connected";
}

function onEvent({ event, data }) {
  let payload;
  try {
    payload = JSON.parse(data);
  } catch {
    return;
  }
  if (event === "unread_count") {
    setUnread(payload.count);
  } else if (event === "notification" && payload.notification) {
    const n = { state: "firing", ...payload.notification };
    noteNotification(n);
    toast(n.title, `${n.severity} · ${typeLabel(n.alert_type)}`, n.severity);
    if (isOpen($("#centre")) && !$(`#notification-list [data-id="${Number(n.id)}"]`)) {
      $("#notification-list").prepend(item({ ...n, is_read: false }));
      $("#centre-empty").hidden = true;
    }
  } else if (event === "notification.resolved" && payload.notification) {
    const n = payload.notification;
    const li = $(`#notification-list [data-id="${Number(n.id)}"]`);
    if (li) showState(li, "resolved");
  }
}

export function startNotifications() {
  stopNotifications();
  $("#live").hidden = false;
  stream = openStream({ onEvent, onState: setLive });
}

export function stopNotifications() {
  if (stream) stream.close();
  stream = null;
  $("#live").hidden = true;
}

export function setupCentre() {
  $("#bell").addEventListener("click", openCentre);
  $("#unread-only").addEventListener("change", () => loadPage(true));
  $("#load-more").addEventListener("click", () => loadPage(false));
  $("#mark-all").addEventListener("click", markAllRead);
}

function openCentre() {
  openModal($("#centre"), { initialFocus: $("#centre [data-close]") });
  loadPage(true);
}

async function loadPage(reset) {
  const list = $("#notification-list");
  const params = new URLSearchParams({ limit: "20" });
  if ($("#unread-only").checked) params.set("unread_only", "true");
  if (!reset && nextCursor) params.set("cursor", nextCursor);
  $("#centre-status").textContent = "Loading…";
  try {
    const page = await api("GET", `/admin/alerts/notifications?${params}`);
    if (reset) list.replaceChildren();
    list.append(...page.items.map(item));
    nextCursor = page.next_cursor;
    $("#load-more").hidden = !nextCursor;
    $("#centre-empty").hidden = list.children.length > 0;
    $("#centre-status").textContent = "";
  } catch (error) {
    $("#centre-status").textContent = `Could not load notifications: ${error.message}`;
  }
}

function item(n) {
  const id = Number(n.id);
  const detail = h("div", { class: "notification-detail", id: `detail-${id}`, hidden: true });
  const summary = h("button", { type: "button", class: "notification-summary", "aria-expanded": "false", "aria-controls": `detail-${id}` },
    severityBadge(n.severity),
    h("span", { class: "notification-main" },
      h("span", { class: "notification-title", text: n.title }),
      h("span", { class: "notification-meta" },
        h("span", { text: typeLabel(n.alert_type) }), " · ", timeElement(n.triggered_at),
        n.occurrence_count > 1 ? h("span", { class: "occurrences", text: ` · ×${Number(n.occurrence_count)}` }) : null,
        n.is_test ? h("span", { class: "badge tag", text: "test" }) : null)),
    h("span", { class: "notification-state badge" }),
    h("span", { class: "read-state" }));
  const li = h("li", { class: "notification", "data-id": id }, summary, detail);
  setState(li, n);
  summary.addEventListener("click", () => toggleDetail(li, id));
  return li;
}

function setState(li, n) {
  li.dataset.read = String(Boolean(n.is_read));
  li.dataset.acknowledged = String(Boolean(n.acknowledged_at));
  showState(li, n.state || "firing");
  li.querySelector(".read-state").textContent = n.is_read ? "" : "new";
}

// firing | acknowledged | resolved (SPEC §13), as a badge on the summary line
function showState(li, state) {
  li.dataset.state = state;
  const badge = li.querySelector(".notification-state");
  badge.textContent = state;
  badge.className = `notification-state badge state-${state}`;
}

async function toggleDetail(li, id) {
  const summary = li.querySelector(".notification-summary");
  const detail = li.querySelector(".notification-detail");
  const expanded = summary.getAttribute("aria-expanded") === "true";
  summary.setAttribute("aria-expanded", String(!expanded));
  detail.hidden = expanded;
  if (expanded) return;
  detail.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    renderDetail(li, await api("GET", `/admin/alerts/notifications/${id}`));
  } catch (error) {
    detail.replaceChildren(h("p", { class: "field-error", text: error.message }));
  }
}

function deliveryRow(li, d) {
  const channel = CHANNELS.find((c) => c.id === d.channel) || { short: d.channel };
  const status = h("td", {}, h("span", { class: `badge status status-${d.status}`, text: d.status }));
  if (d.status === "failed") {
    const retry = h("button", { type: "button", class: "button small", "data-action": "retry", text: "Retry",
      "aria-label": `Retry the ${channel.short} delivery` });
    retry.addEventListener("click", () => retryDelivery(li, d.id, retry));
    status.append(" ", retry);
  }
  const errorCell = h("td", { class: "last-error", text: d.last_error || (d.last_status_code ? `HTTP ${d.last_status_code}` : "—") });
  if (d.channel !== "in_app" && d.attempts > 0) attemptLog(errorCell, d.id);
  const kind = d.kind && d.kind !== "trigger" ? ` (${d.kind})` : "";
  return h("tr", { "data-channel": d.channel, "data-status": d.status, "data-kind": d.kind || "trigger", "data-delivery-id": d.id },
    h("th", { scope: "row" }, icon(d.channel), ` ${channel.short}${d.recipient ? ` ${d.recipient}` : ""}${kind}`), status,
    h("td", { text: String(d.attempts) }), errorCell);
}

// Every send attempt of a delivery (GET /admin/alerts/deliveries/{id}), folded under its error.
async function attemptLog(cell, deliveryId) {
  try {
    const { attempt_log: log } = await api("GET", `/admin/alerts/deliveries/${Number(deliveryId)}`);
    if (!log.length) return;
    cell.append(h("details", { class: "attempt-log" },
      h("summary", { text: `${log.length} attempt${log.length === 1 ? "" : "s"}` }),
      h("ol", {}, log.map((a) => h("li", { class: `attempt outcome-${a.outcome}` },
        `#${a.attempt} `, timeElement(a.started_at),
        ` · ${a.duration_ms} ms · ${a.status_code ? `HTTP ${a.status_code}` : "—"} · ${a.outcome}`,
        a.error ? h("span", { class: "attempt-error", text: ` · ${a.error}` }) : null)))));
  } catch (error) {
    cell.append(h("span", { class: "field-error", text: ` (attempts: ${error.message})` }));
  }
}

async function retryDelivery(li, deliveryId, button) {
  button.disabled = true;
  try {
    await api("POST", `/admin/alerts/deliveries/${Number(deliveryId)}/retry`);
    renderDetail(li, await api("GET", `/admin/alerts/notifications/${Number(li.dataset.id)}`));
    $("#centre-status").textContent = "Delivery queued again.";
  } catch (error) {
    button.disabled = false;
    $("#centre-status").textContent = `Could not retry: ${error.message}`;
  }
}

function renderDetail(li, n) {
  setState(li, n);
  const id = Number(n.id);
  const context = Object.entries(n.context || {});
  const readButton = h("button", { type: "button", class: "button small", "data-action": "read", text: "Mark read", disabled: n.is_read });
  const ackButton = h("button", { type: "button", class: "button small primary", "data-action": "acknowledge", text: "Acknowledge", disabled: n.state !== "firing" });
  const resolveButton = h("button", { type: "button", class: "button small", "data-action": "resolve", text: "Resolve", disabled: n.state === "resolved" });
  const similarButton = h("button", { type: "button", class: "button small", "data-action": "silence-similar", text: "Silence similar" });
  readButton.addEventListener("click", () => act(li, id, "read"));
  ackButton.addEventListener("click", () => act(li, id, "acknowledge"));
  resolveButton.addEventListener("click", () => act(li, id, "resolve"));
  similarButton.addEventListener("click", () => silenceSimilar(n, (s, text) => { $("#centre-status").textContent = text; }));
  li.querySelector(".notification-detail").replaceChildren(
    n.message ? h("p", { class: "notification-message", text: n.message }) : null,
    h("p", { class: "muted small" },
      `Occurred ${n.occurrence_count} time${n.occurrence_count === 1 ? "" : "s"}`,
      n.suppressed_since_last ? `, ${n.suppressed_since_last} suppressed since the last one` : "",
      n.acknowledged_at ? " · acknowledged " : "", n.acknowledged_at ? timeElement(n.acknowledged_at) : null,
      n.resolved_at ? ` · resolved (${n.resolve_reason}) ` : "", n.resolved_at ? timeElement(n.resolved_at) : null),
    context.length ? h("dl", { class: "context" }, context.flatMap(([k, v]) => [
      h("dt", { text: k }), h("dd", { text: typeof v === "string" ? v : JSON.stringify(v) })])) : null,
    h("table", { class: "deliveries" },
      h("caption", { class: "sr-only", text: "Deliveries per channel" }),
      h("thead", {}, h("tr", {}, ...["Channel", "Status", "Attempts", "Last error"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, (n.deliveries || []).map((d) => deliveryRow(li, d)))),
    h("div", { class: "card-actions" }, readButton, ackButton, resolveButton, similarButton));
}

const DONE = { read: "Marked read.", acknowledge: "Acknowledged.", resolve: "Resolved." };
const DOING = { read: "mark it read", acknowledge: "acknowledge it", resolve: "resolve it" };

async function act(li, id, action) {
  const button = li.querySelector(`[data-action="${action}"]`);
  button.disabled = true;
  try {
    await api("POST", `/admin/alerts/notifications/${id}/${action}`);
    renderDetail(li, await api("GET", `/admin/alerts/notifications/${id}`));
    li.querySelector(".notification-summary").focus();
    $("#centre-status").textContent = DONE[action];
    refreshCount();
  } catch (error) {
    button.disabled = false;
    $("#centre-status").textContent = `Could not ${DOING[action]}: ${error.message}`;
  }
}

async function markAllRead() {
  try {
    const { count } = await api("POST", "/admin/alerts/notifications/mark-all-read");
    $("#centre-status").textContent = `${count} marked read.`;
    for (const li of $("#notification-list").querySelectorAll(".notification")) {
      li.dataset.read = "true";
      li.querySelector(".read-state").textContent = "";
      const read = li.querySelector("[data-action=read]");
      if (read) read.disabled = true;
    }
    refreshCount();
  } catch (error) {
    $("#centre-status").textContent = `Could not mark all read: ${error.message}`;
  }
}
