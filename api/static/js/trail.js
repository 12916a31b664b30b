// "Why?" (SPEC §17): an event id in, its trail out: each config considered, the outcome and its
// reason, the notification it made or was folded into (a link), deliveries and preference
// decisions. renderTrail() and notificationTrail() are for other views too (a notification's
// detail shows its event's trail). Data is only ever inserted as text.

import { api } from "./api.js";
import { $, h, timeElement } from "./dom.js";
import { setTrailRenderer } from "./notifications.js";

const LABELS = {
  no_matching_config: "No matching config",
  inactive: "Config inactive",
  condition_not_met: "Condition not met",
  provider_filtered: "Provider filtered",
  duplicate: "Duplicate",
  silenced: "Silenced",
  inhibited: "Inhibited",
  cooldown: "Cooldown",
  hourly_cap: "Hourly cap",
  resolved: "Resolved",
  nothing_to_resolve: "Nothing to resolve",
  notified: "Notified",
  rejected: "Rejected",
};

// A link to a notification; the notification views may listen for "alertworker:notification".
function notificationLink(id) {
  return h("a", {
    href: `#notification-${id}`,
    class: "trail-link",
    "data-notification-id": id,
    text: `notification ${id}`,
    onclick: (event) => {
      event.preventDefault();
      document.dispatchEvent(new CustomEvent("alertworker:notification", { detail: { id } }));
    },
  });
}

function preference(p) {
  if (!p) return null;
  const why = p.decision === "digest" ? "digest" : `${p.decision}: ${p.reason}`;
  return h("span", { class: "trail-pref" }, ` (${why}`,
    p.until ? [" until ", timeElement(p.until)] : null, ")");
}

function outcomeItem(o) {
  const facts = [];
  if (o.notification_id) facts.push(h("li", {}, o.outcome === "cooldown" ? "folded into " : "",
    notificationLink(o.notification_id)));
  if (o.notification_ids) facts.push(h("li", {}, "resolved ", ...o.notification_ids.map(notificationLink)));
  if (o.silence_id) facts.push(h("li", { text: `silence ${o.silence_id}` }));
  if (o.count !== undefined) facts.push(h("li", { text: `${o.count} of ${o.cap} sent in the hour` }));
  if (o.until) facts.push(h("li", {}, "until ", timeElement(o.until)));
  for (const d of o.deliveries || []) {
    facts.push(h("li", { class: "trail-delivery" },
      `${d.channel}${d.recipient ? ` to ${d.recipient}` : ""}: ${d.status}`, preference(d.preference)));
  }
  const config = o.config_id ? `${o.config_name || "deleted config"} (#${o.config_id})` : "—";
  return h("li", { class: "trail-outcome", "data-outcome": o.outcome },
    h("div", { class: "trail-head" },
      h("span", { class: "trail-badge", text: LABELS[o.outcome] || o.outcome }),
      h("span", { class: "trail-config", text: config })),
    h("p", { class: "trail-reason", text: o.reason }),
    facts.length ? h("ul", { class: "trail-facts" }, facts) : null);
}

// The trail of one event (the body of GET /admin/alerts/events/{id}) as an element.
export function renderTrail(body) {
  return h("div", { class: "trail" },
    h("p", { class: "muted" }, `${body.alert_type || "?"} · “${body.title || ""}” · received `,
      timeElement(body.received_at),
      body.event_count > 1 ? ` · stored with ${body.event_count - 1} identical events` : ""),
    h("ol", { class: "trail-outcomes", "aria-label": "Outcomes" }, body.outcomes.map(outcomeItem)));
}

// For a notification's detail: an element showing the trail of the event that made it.
export async function notificationTrail(notification) {
  try {
    return renderTrail(await api("GET", `/admin/alerts/events/${encodeURIComponent(notification.event_id)}`));
  } catch (error) {
    return h("p", { class: "muted", text: error.status === 404
      ? "No trail for this event (older than TRAIL_RETENTION_HOURS)." : error.message });
  }
}

async function ask(event) {
  event.preventDefault();
  const id = $("#why-id").value.trim();
  const out = $("#why-result");
  out.replaceChildren();
  $("#why-error").textContent = "";
  if (!id) {
    $("#why-error").textContent = "Paste an event id (the event_id that POST /events answered).";
    return;
  }
  try {
    out.append(renderTrail(await api("GET", `/admin/alerts/events/${encodeURIComponent(id)}`)));
  } catch (error) {
    $("#why-error").textContent = error.status === 404
      ? "No such event for this tenant (or older than the trail's retention)." : error.message;
  }
}

export function setupWhy() {
  $("#why-form").addEventListener("submit", ask);
  setTrailRenderer(async (section, notification) => {
    section.replaceChildren(h("h2", { class: "trail-title", text: "Why? The event's trail" }),
      await notificationTrail(notification));
  });
}

export function resetWhy() {
  $("#why-id").value = "";
  $("#why-error").textContent = "";
  $("#why-result").replaceChildren();
}
