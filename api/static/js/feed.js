// The notifications view: the list a person on call works from, filtered by state, severity,
// type, config and unread (the list API's own query parameters), newest first, paged with the
// API's cursor, and live: a new notification that matches the filters appears on top. Each
// item opens to its detail (notifications.js); Escape folds it again.

import { api } from "./api.js";
import { ALERT_TYPES, SEVERITIES, typeLabel } from "./vocabulary.js";
import { onConfigsChanged } from "./configs.js";
import { $, h } from "./dom.js";
import { item, onLiveNotification } from "./notifications.js";

let cursor = null;
let loading = 0;

export function setupFeed() {
  $("#filters").addEventListener("change", () => loadFeed(true));
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#feed-more").addEventListener("click", () => loadFeed(false));
  onConfigsChanged(fillConfigs);
  onLiveNotification(showLive);
}

// Options from the catalog, once it is loaded.
export function fillFilters() {
  if ($("#filter-severity").options.length > 1) return;
  $("#filter-severity").append(...SEVERITIES.map((s) => h("option", { value: s, text: s })));
  $("#filter-type").append(...Object.keys(ALERT_TYPES).map((t) => h("option", { value: t, text: typeLabel(t) })));
}

function fillConfigs(configs) {
  const select = $("#filter-config");
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "", text: "Any" }),
    ...configs.map((c) => h("option", { value: c.id, text: c.name })));
  select.value = configs.some((c) => String(c.id) === chosen) ? chosen : "";
}

function filters() {
  const params = new URLSearchParams({ limit: "25" });
  for (const name of ["state", "severity", "alert_type", "config_id"]) {
    const value = $("#filters").elements[name].value;
    if (value) params.set(name, value);
  }
  if ($("#filter-unread").checked) params.set("unread_only", "true");
  return params;
}

export async function loadFeed(reset = true) {
  const params = filters();
  if (!reset && cursor) params.set("cursor", cursor);
  const mine = ++loading; // a later change of the filters wins over a slower earlier answer
  $("#feed-status").textContent = "Loading…";
  try {
    const page = await api("GET", `/admin/alerts/notifications?${params}`);
    if (mine !== loading) return;
    const list = $("#feed-list");
    if (reset) list.replaceChildren();
    list.append(...page.items.map(item));
    cursor = page.next_cursor;
    $("#feed-more").hidden = !cursor;
    $("#feed-empty").hidden = list.children.length > 0;
    $("#feed-status").textContent = reset ? `${list.children.length}${cursor ? "+" : ""} shown.` : "";
  } catch (error) {
    if (mine === loading) $("#feed-status").textContent = `Could not load notifications: ${error.message}`;
  }
}

export function resetFeed() {
  cursor = null;
  $("#feed-list").replaceChildren();
  $("#filters").reset();
}

function matches(n) {
  const p = filters();
  const state = p.get("state");
  return (!state || state.split(",").includes(n.state))
    && (!p.get("severity") || p.get("severity") === n.severity)
    && (!p.get("alert_type") || p.get("alert_type") === n.alert_type)
    && (!p.get("config_id") || p.get("config_id") === String(n.config_id));
}

function showLive(n) {
  if (!matches(n) || $(`#feed-list [data-id="${Number(n.id)}"]`)) return;
  $("#feed-list").prepend(item(n));
  $("#feed-empty").hidden = true;
}
