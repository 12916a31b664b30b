// The list of alert configs: severity, channels, the condition, each destination with its
// health (SPEC §18), when it last fired, an active toggle that PATCHes at once, send a test
// alert, edit and delete (with a confirmation), and the empty state.

import { api } from "./api.js";
import { CHANNELS, CONDITIONS, typeLabel } from "./vocabulary.js";
import { $, announce, h, icon, severityBadge, timeElement } from "./dom.js";
import { openConfigForm } from "./form.js";
import { closeModal, openModal } from "./modal.js";

let configs = [];
let onChange = () => {};

export async function loadConfigs() {
  const data = await api("GET", "/admin/alerts/configs");
  configs = data.items;
  render();
}

// feed.js keeps its config filter in step with the list.
export function onConfigsChanged(handler) {
  onChange = handler;
}

export function currentConfigs() {
  return configs;
}

export function configName(id) {
  const config = configs.find((c) => c.id === Number(id));
  return config ? config.name : `config ${Number(id)} (deleted)`;
}

export function resetConfigs() {
  configs = [];
  $("#config-list").replaceChildren();
}

function render() {
  const list = $("#config-list");
  list.replaceChildren(...configs.map(card));
  list.hidden = configs.length === 0;
  $("#empty").hidden = configs.length > 0;
  onChange(configs);
}

function upsert(config) {
  const index = configs.findIndex((c) => c.id === config.id);
  if (index >= 0) configs[index] = { ...config, last_fired_at: config.last_fired_at ?? configs[index].last_fired_at };
  else configs.push(config);
  render();
}

export function createConfig() {
  openConfigForm(null, (saved) => {
    upsert(saved);
    announce(`Created “${saved.name}”.`);
    cardElement(saved.id)?.querySelector(".card-title")?.focus();
  });
}

function cardElement(id) {
  return document.querySelector(`[data-config-id="${Number(id)}"]`);
}

function channelList(config) {
  return h("ul", { class: "channel-icons", "aria-label": "Channels" },
    config.channels.map((id) => {
      const channel = CHANNELS.find((c) => c.id === id) || { short: id };
      return h("li", { class: `channel channel-${id}`, title: channel.label },
        icon(id), h("span", { class: "channel-name", text: channel.short }), healthNote(config.health?.[id]));
    }));
}

// A destination's health (SPEC §18): shown only while deliveries to it keep failing.
function healthNote(health) {
  const failures = Number(health?.consecutive_failures || 0);
  if (!failures) return null;
  return h("span", { class: "channel-health", "data-failures": failures, title: health.last_error || "",
    text: `${failures} failed in a row` });
}

// "Latency (ms): 8000 · providers openai, azure", with the catalog's labels.
function conditionText(config) {
  const specs = CONDITIONS[config.alert_type] || [];
  const { provider_names: providers, ...thresholds } = config.conditions || {};
  const parts = Object.entries(thresholds).map(([key, value]) => {
    const spec = specs.find((s) => s.key === key);
    return `${spec ? spec.label : key}: ${value}`;
  });
  if (providers?.length) parts.push(`providers ${providers.join(", ")}`);
  return parts.length ? parts.join(" · ") : "Every event of this type";
}

// Where each channel sends: addresses, numbers, the webhook's host, the Slack channel.
function destinationText(config, channel) {
  const cc = config.channel_config?.[channel] || {};
  if (channel === "in_app") return "the bell on this page";
  if (channel === "email") return (cc.recipients || []).join(", ") || "no recipients";
  if (channel === "sms") return (cc.numbers || []).join(", ") || "no numbers";
  if (channel === "slack") return cc.channel ? `Slack ${cc.channel}` : "a Slack incoming webhook";
  if (channel === "pagerduty") return "a PagerDuty service (routing key stored)";
  if (channel === "webhook") {
    try {
      const url = new URL(cc.url);
      return url.host + url.pathname;
    } catch {
      return "a webhook";
    }
  }
  return channel;
}

function healthText(health) {
  if (!health) return null;
  const failures = Number(health.consecutive_failures || 0);
  if (failures) return h("span", { class: "health health-failing", text: `failing: ${failures} in a row` });
  if (health.last_success_at) return h("span", { class: "health health-ok" }, "ok, last delivered ", timeElement(health.last_success_at));
  return h("span", { class: "health muted", text: "nothing sent yet" });
}

function facts(config) {
  return h("dl", { class: "card-facts" },
    h("dt", { text: "Condition" }), h("dd", { class: "card-condition", text: conditionText(config) }),
    h("dt", { text: "Sends to" }), h("dd", {}, h("ul", { class: "destinations", "aria-label": "Destinations" },
      config.channels.map((id) => {
        const channel = CHANNELS.find((c) => c.id === id) || { short: id };
        const health = healthText(config.health?.[id]);
        return h("li", { class: `destination destination-${id}`, "data-channel": id },
          h("strong", { text: `${channel.short}: ` }), destinationText(config, id), health ? " — " : null, health);
      }))),
    h("dt", { text: "Last fired" }),
    h("dd", { class: "card-last-fired" }, config.last_fired_at ? timeElement(config.last_fired_at) : "never"));
}

function throttleText(config) {
  const parts = [
    config.cooldown_minutes ? `${config.cooldown_minutes} min cooldown` : "no cooldown",
    `≤ ${config.max_alerts_per_hour}/h`,
  ];
  if (config.group_similar) parts.push("grouped");
  return parts.join(" · ");
}

function card(config) {
  const toggleId = `active-${config.id}`;
  const toggle = h("input", {
    id: toggleId, type: "checkbox", role: "switch", class: "switch-input",
    checked: config.is_active, "aria-describedby": `title-${config.id}`,
  });
  const stateText = h("span", { class: "switch-text", text: config.is_active ? "Active" : "Paused" });
  toggle.addEventListener("change", () => setActive(config.id, toggle, stateText));

  const result = h("p", { class: "test-result", role: "status", "aria-live": "polite" });
  const testButton = h("button", { type: "button", class: "button small", "data-action": "test" },
    icon("send"), " Send test");
  testButton.addEventListener("click", () => sendTest(config.id, testButton, result));
  const editButton = h("button", { type: "button", class: "button small", "data-action": "edit" },
    icon("edit"), " Edit");
  editButton.addEventListener("click", () => editConfig(config.id));
  const deleteButton = h("button", { type: "button", class: "button small danger-ghost", "data-action": "delete" },
    icon("trash"), " Delete");
  deleteButton.addEventListener("click", () => confirmDelete(config.id));
  for (const button of [testButton, editButton, deleteButton]) {
    button.setAttribute("aria-describedby", `title-${config.id}`);
  }

  return h("li", {
    class: `config-card sev-edge-${config.severity}${config.is_active ? "" : " inactive"}`,
    "data-config-id": config.id, "data-active": String(config.is_active),
  },
  h("div", { class: "card-head" },
    severityBadge(config.severity),
    h("label", { class: "switch", for: toggleId }, toggle, h("span", { class: "switch-track", "aria-hidden": "true" }), stateText)),
  h("h2", { class: "card-title", id: `title-${config.id}`, tabindex: "-1", text: config.name }),
  h("p", { class: "card-type", text: typeLabel(config.alert_type) }),
  config.description ? h("p", { class: "card-description", text: config.description }) : null,
  channelList(config),
  facts(config),
  h("p", { class: "card-throttle muted", text: throttleText(config) }),
  h("div", { class: "card-actions" }, testButton, editButton, deleteButton),
  result);
}

async function setActive(id, toggle, stateText) {
  const wanted = toggle.checked;
  const cardEl = cardElement(id);
  toggle.disabled = true;
  cardEl.setAttribute("aria-busy", "true");
  try {
    const updated = await api("PATCH", `/admin/alerts/configs/${id}`, { is_active: wanted });
    configs = configs.map((c) => (c.id === id ? updated : c));
    cardEl.classList.toggle("inactive", !updated.is_active);
    cardEl.dataset.active = String(updated.is_active);
    stateText.textContent = updated.is_active ? "Active" : "Paused";
    announce(`“${updated.name}” is ${updated.is_active ? "active" : "paused"}.`);
  } catch (error) {
    toggle.checked = !wanted;
    announce(`Could not change “${configs.find((c) => c.id === id)?.name}”: ${error.message}`, "error");
  } finally {
    toggle.disabled = false;
    cardEl.removeAttribute("aria-busy");
    toggle.focus();
  }
}

// config id -> the card's result line waits for the test notification to arrive on the stream.
const pendingTests = new Set();

async function sendTest(id, button, result) {
  button.disabled = true;
  result.dataset.state = "pending";
  result.textContent = "Sending a test alert…";
  try {
    const accepted = await api("POST", `/admin/alerts/test?config_id=${id}`);
    pendingTests.add(id);
    result.textContent = `Test alert queued (event ${accepted.event_id.slice(0, 8)}…); waiting for it…`;
  } catch (error) {
    result.dataset.state = "error";
    result.textContent = `Test failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// Called for each live notification: a test we sent has arrived.
export function noteNotification(notification) {
  const id = Number(notification.config_id);
  const config = configs.find((c) => c.id === id);
  const lastFired = cardElement(id)?.querySelector(".card-last-fired");
  if (config && notification.triggered_at) {
    config.last_fired_at = notification.triggered_at;
    lastFired?.replaceChildren(timeElement(notification.triggered_at));
  }
  if (!notification.is_test || !pendingTests.has(id)) return;
  pendingTests.delete(id);
  const result = cardElement(id)?.querySelector(".test-result");
  if (!result) return;
  result.dataset.state = "ok";
  result.textContent = `Test alert arrived as notification #${Number(notification.id)}; `
    + "see its deliveries in the notification centre.";
}

async function editConfig(id) {
  try {
    const fresh = await api("GET", `/admin/alerts/configs/${id}`);
    upsert(fresh);
    openConfigForm(fresh, (saved) => {
      upsert(saved);
      announce(`Saved “${saved.name}”.`);
    }, cardElement(id)?.querySelector("[data-action=edit]"));
  } catch (error) {
    announce(`Could not open the config: ${error.message}`, "error");
  }
}

function confirmDelete(id) {
  const config = configs.find((c) => c.id === id);
  const modal = $("#confirm-modal");
  $("#confirm-title").textContent = "Delete alert config?";
  $("#confirm-text").textContent =
    `“${config.name}” will stop matching events. Its past notifications are kept.`;
  const ok = $("#confirm-ok");
  ok.onclick = async () => {
    ok.disabled = true;
    try {
      await api("DELETE", `/admin/alerts/configs/${id}`);
      closeModal(modal);
      configs = configs.filter((c) => c.id !== id);
      render();
      announce(`Deleted “${config.name}”.`);
      (document.querySelector(".config-card .card-title") || $("#new-config")).focus();
    } catch (error) {
      $("#confirm-text").textContent = `Could not delete: ${error.message}`;
    } finally {
      ok.disabled = false;
    }
  };
  openModal(modal, { initialFocus: modal.querySelector("[data-close]") });
}
