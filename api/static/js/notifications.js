// The bell (unread count, live over the SSE stream), the notification centre (the bell's
// drawer) and what both panels share with the notifications view (feed.js): an item per
// notification that opens to its detail (context, state, deliveries per channel with their
// attempts and a Retry on failed ones, the "Why?" trail's place) and its actions (mark read,
// acknowledge, resolve, silence similar). A panel is any [data-panel] with a .panel-status.

import { api, openStream } from "./api.js";
import { CHANNELS, typeLabel } from "./vocabulary.js";
import { configName, noteNotification } from "./configs.js";
import { $, h, icon, severityBadge, timeElement, toast } from "./dom.js";
import { isOpen, openModal } from "./modal.js";
import { silenceSimilar } from "./silences.js";

let stream = null;
let nextCursor = null;
let onLive = () => {};
let trailRenderer = null;

// feed.js hears of each live notification (to show it when it matches its filters).
export function onLiveNotification(handler) {
  onLive = handler;
}

// The "Why?" box (SPEC §17) lives in its own module: it calls setTrailRenderer(fn), and each
// opened notification's detail calls fn(section, notification) with its empty <section
// class="trail">. Without one, the section stays hidden.
export function setTrailRenderer(fn) {
  trailRenderer = fn;
}

function say(li, text) {
  const status = li.closest("[data-panel]")?.querySelector(".panel-status");
  if (status) status.textContent = text;
}

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
    onLive({ ...n, is_read: false });
  } else if (event === "notification.resolved" && payload.notification) {
    const n = payload.notification;
    for (const li of document.querySelectorAll(`.notification[data-id="${Number(n.id)}"]`)) {
      showState(li, "resolved");
    }
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

let itemSeq = 0; // the same notification may be in the view and in the drawer: unique ids

export function item(n) {
  const id = Number(n.id);
  const detailId = `detail-${(itemSeq += 1)}`;
  const detail = h("div", { class: "notification-detail", id: detailId, hidden: true });
  const summary = h("button", { type: "button", class: "notification-summary", "aria-expanded": "false", "aria-controls": detailId },
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
  li.addEventListener("keydown", (event) => { // Escape folds an open detail (outside a modal)
    if (event.key !== "Escape" || li.closest(".overlay") || detail.hidden) return;
    event.preventDefault();
    toggleDetail(li, id);
    summary.focus();
  });
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
    say(li, "Delivery queued again.");
  } catch (error) {
    button.disabled = false;
    say(li, `Could not retry: ${error.message}`);
  }
}

function facts(n) {
  const rows = [
    ["State", h("span", { class: `badge state-${n.state}`, text: n.state }),
      n.acknowledged_at ? [" · acknowledged ", timeElement(n.acknowledged_at)] : null,
      n.resolved_at ? [` · resolved (${n.resolve_reason}) `, timeElement(n.resolved_at)] : null],
    ["Config", n.config_id ? configName(n.config_id) : "none (made without a config)"],
    ["Occurred", timeElement(n.occurred_at), n.occurrence_count > 1
      ? ` · ${n.occurrence_count} times, last ` : null, n.occurrence_count > 1 ? timeElement(n.last_occurred_at) : null,
      n.suppressed_since_last ? ` · ${n.suppressed_since_last} suppressed since the last one` : null],
    ["Notified", timeElement(n.triggered_at)],
    ["Event", h("code", { class: "event-id", text: n.event_id })],
    n.escalation ? ["Escalation", `${n.escalation.state}, ${n.escalation.step} step${n.escalation.step === 1 ? "" : "s"} run`,
      n.escalation.state === "running" && n.escalation.next_at ? [", next ", timeElement(n.escalation.next_at)] : null] : null,
  ];
  return h("dl", { class: "facts" }, rows.filter(Boolean).flatMap(([label, ...value]) => [
    h("dt", { text: label }), h("dd", {}, ...value)]));
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
  similarButton.addEventListener("click", () => silenceSimilar(n, (s, text) => say(li, text)));
  const trail = h("section", { class: "trail", "data-event-id": n.event_id, "aria-label": "Why: the event's trail" });
  // h() drops null children; replaceChildren would print them as the text "null".
  li.querySelector(".notification-detail").replaceChildren(h("div", { class: "detail-body" },
    n.message ? h("p", { class: "notification-message", text: n.message }) : null,
    facts(n),
    context.length ? h("dl", { class: "context", "aria-label": "Context" }, context.flatMap(([k, v]) => [
      h("dt", { text: k }), h("dd", { text: typeof v === "string" ? v : JSON.stringify(v) })])) : null,
    h("div", { class: "table-scroll" }, h("table", { class: "deliveries" },
      h("caption", { class: "sr-only", text: "Deliveries per channel" }),
      h("thead", {}, h("tr", {}, ...["Channel", "Status", "Attempts", "Last error"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, (n.deliveries || []).map((d) => deliveryRow(li, d))))),
    trail,
    h("div", { class: "card-actions" }, readButton, ackButton, resolveButton, similarButton)));
  if (trailRenderer) trailRenderer(trail, n);
  else trail.hidden = true;
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
    say(li, DONE[action]);
    refreshCount();
  } catch (error) {
    button.disabled = false;
    say(li, `Could not ${DOING[action]}: ${error.message}`);
  }
}

async function markAllRead() {
  try {
    const { count } = await api("POST", "/admin/alerts/notifications/mark-all-read");
    $("#centre-status").textContent = `${count} marked read.`;
    for (const li of document.querySelectorAll(".notification")) {
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
