// On call (SPEC §14): each schedule with who is on call now and its shifts of the next 7 days
// as a timeline, and each escalation policy's steps and targets. Read-only; data as text.

import { api } from "./api.js";
import { $, h, parseTime } from "./dom.js";

const DAY_MS = 24 * 3600 * 1000;
const SPAN_MS = 7 * DAY_MS;
let policies = [];
let schedules = [];
let emails = new Map();

export const currentPolicies = () => policies;

export async function loadOnCall() {
  const [users, scheduleList, policyList] = await Promise.all([
    api("GET", "/admin/alerts/users"),
    api("GET", "/admin/alerts/schedules"),
    api("GET", "/admin/alerts/escalation-policies"),
  ]);
  emails = new Map(users.items.map((u) => [u.id, u.email]));
  schedules = scheduleList.items;
  policies = policyList.items;
  const now = new Date();
  const cards = await Promise.all(schedules.map((s) => scheduleCard(s, now)));
  $("#schedule-list").replaceChildren(...cards);
  $("#schedules-empty").hidden = schedules.length > 0;
  $("#policy-list").replaceChildren(...policies.map(policyCard));
  $("#policies-empty").hidden = policies.length > 0;
}

export function resetOnCall() {
  policies = [];
  schedules = [];
  $("#schedule-list").replaceChildren();
  $("#policy-list").replaceChildren();
}

const when = (date) => date.toLocaleString(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});

async function scheduleCard(schedule, now) {
  const base = `/admin/alerts/schedules/${schedule.id}/oncall`;
  const end = new Date(now.getTime() + SPAN_MS);
  const [current, { shifts }] = await Promise.all([
    api("GET", `${base}?at=${encodeURIComponent(now.toISOString())}`),
    api("GET", `${base}?from=${encodeURIComponent(now.toISOString())}&to=${encodeURIComponent(end.toISOString())}`),
  ]);
  const until = parseTime(current.until);
  const nowText = current.user_id
    ? `${current.email}${current.override ? " (override)" : ""}${until ? ` until ${when(until)}` : ""}`
    : "Nobody";
  return h("li", { class: "oncall-card card", "data-schedule-id": schedule.id },
    h("h3", { class: "card-title", text: schedule.name }),
    h("p", { class: "muted", text: `${schedule.timezone} · ${schedule.layers.length} layer(s)` }),
    h("p", { class: "oncall-now" }, h("strong", { text: "On call now: " }),
      h("span", { class: "oncall-who", text: nowText })),
    timeline(shifts, now),
    h("ol", { class: "shift-list", "aria-label": `Shifts of ${schedule.name}, next 7 days` },
      shifts.map((s) => h("li", {
        text: `${when(parseTime(s.start))} – ${when(parseTime(s.end))}: ${s.email || `user ${s.user_id}`}`
          + (s.override ? " (override)" : ""),
      }))));
}

// One bar per shift, placed by time on a 7-day axis (positions set through CSSOM, which the
// page's CSP allows; no inline style attributes).
function timeline(shifts, now) {
  const axis = h("div", { class: "timeline", "aria-hidden": "true" });
  const people = [...new Set(shifts.map((s) => s.user_id))];
  for (let day = 1; day < 7; day += 1) {
    const tick = h("span", { class: "tick" });
    tick.style.left = `${(100 * day * DAY_MS) / SPAN_MS}%`;
    axis.append(tick);
  }
  for (const s of shifts) {
    const start = Math.max(0, parseTime(s.start).getTime() - now.getTime());
    const end = Math.min(SPAN_MS, parseTime(s.end).getTime() - now.getTime());
    const bar = h("span", {
      class: `shift shift-${people.indexOf(s.user_id) % 6}${s.override ? " shift-override" : ""}`,
      title: s.email || "", text: (s.email || "").split("@")[0],
    });
    bar.style.left = `${(100 * start) / SPAN_MS}%`;
    bar.style.width = `${(100 * (end - start)) / SPAN_MS}%`;
    axis.append(bar);
  }
  return axis;
}

function targetText(t) {
  switch (t.type) {
    case "user": return `user ${emails.get(t.user_id) || t.user_id}`;
    case "schedule": {
      const s = schedules.find((x) => x.id === t.schedule_id);
      return `on call in ${s ? s.name : `schedule ${t.schedule_id}`}`;
    }
    case "email": return `email ${t.address}`;
    case "slack": return `Slack${t.channel ? ` ${t.channel}` : ""}`;
    case "webhook": return `webhook ${t.url}`;
    case "pagerduty": return "PagerDuty";
    case "sms": return `SMS ${t.number}`;
    default: return t.type;
  }
}

function policyCard(policy) {
  return h("li", { class: "policy-card card", "data-policy-id": policy.id },
    h("h3", { class: "card-title", text: policy.name }),
    h("p", { class: "muted", text: policy.repeat ? `Repeats ${policy.repeat} time(s) while unacknowledged` : "No repeat" }),
    h("ol", { class: "step-list" }, policy.steps.map((step, i) => h("li", { class: "step" },
      h("strong", { text: i === 0 && step.delay_minutes === 0 ? "At once: "
        : `After ${step.delay_minutes} min: ` }),
      h("span", { text: step.targets.map(targetText).join(", ") })))));
}
