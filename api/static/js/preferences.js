// My preferences (SPEC §8): the channels this user gets (in-app is always on), the lowest
// severity, quiet hours with their time zone, the email digest and the phone for SMS.
// GET fills the form, Save PUTs it whole; the API's 422 fields are shown by their inputs.

import { api } from "./api.js";
import { SEVERITIES } from "./vocabulary.js";
import { $, h } from "./dom.js";

const LABELS = { email: "Email", slack: "Slack", webhook: "Webhook", sms: "SMS (to my phone)" };
let channels = []; // the *_enabled keys the API answers, in_app aside

export function setupPreferences() {
  $("#prefs-form").addEventListener("submit", save);
  $("#p-quiet").addEventListener("change", () => { $("#p-quiet-fields").hidden = !$("#p-quiet").checked; });
  if (typeof Intl.supportedValuesOf === "function") {
    $("#timezones").append(...Intl.supportedValuesOf("timeZone").map((z) => h("option", { value: z })));
  }
}

export async function loadPreferences(email) {
  if (email) $("#prefs-who").textContent = email;
  if (!$("#p-min-severity").options.length) {
    $("#p-min-severity").append(...SEVERITIES.map((s) => h("option", { value: s, text: s })));
  }
  fill(await api("GET", "/admin/alerts/preferences"));
}

function fill(prefs) {
  channels = Object.keys(prefs).filter((k) => k.endsWith("_enabled") && k !== "in_app_enabled")
    .map((k) => k.replace(/_enabled$/, ""));
  $("#p-channels").replaceChildren(...channels.map((c) => h("label", { class: "check" },
    h("input", { type: "checkbox", id: `p-${c}`, "data-path": `${c}_enabled`, checked: prefs[`${c}_enabled`] }),
    LABELS[c] || c)));
  $("#p-min-severity").value = prefs.min_severity;
  $("#p-digest").value = prefs.digest;
  const quiet = prefs.quiet_hours;
  $("#p-quiet").checked = Boolean(quiet);
  $("#p-quiet-fields").hidden = !quiet;
  $("#p-quiet-start").value = quiet?.start || "22:00";
  $("#p-quiet-end").value = quiet?.end || "07:00";
  $("#p-quiet-tz").value = quiet?.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("#p-phone").value = prefs.phone || "";
}

function body() {
  const data = Object.fromEntries(channels.map((c) => [`${c}_enabled`, $(`#p-${c}`).checked]));
  data.min_severity = $("#p-min-severity").value;
  data.digest = $("#p-digest").value;
  data.quiet_hours = $("#p-quiet").checked
    ? { start: $("#p-quiet-start").value, end: $("#p-quiet-end").value, timezone: $("#p-quiet-tz").value.trim() }
    : null;
  data.phone = $("#p-phone").value.trim() || null;
  return data;
}

// {"quiet_hours": {"timezone": ["..."]}} -> [["quiet_hours.timezone", "..."]]
function flat(fields, prefix = "") {
  return Object.entries(fields || {}).flatMap(([key, value]) => (Array.isArray(value)
    ? [[prefix + key, value.join(" ")]] : flat(value, `${prefix}${key}.`)));
}

function clearErrors() {
  for (const el of $("#prefs-form").querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of $("#prefs-form").querySelectorAll(".field-error")) el.remove();
  $("#prefs-error").hidden = true;
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  $("#prefs-status").textContent = "Saving…";
  $("#prefs-save").disabled = true;
  try {
    fill(await api("PUT", "/admin/alerts/preferences", body()));
    $("#prefs-status").textContent = "Preferences saved.";
  } catch (error) {
    $("#prefs-status").textContent = "";
    const problems = flat(error.fields);
    let first = null;
    for (const [path, text] of problems) {
      const input = $(`#prefs-form [data-path="${CSS.escape(path)}"]`);
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      input.after(h("p", { class: "field-error", text }));
      first ||= input;
    }
    $("#prefs-error").textContent = `Not saved: ${error.message}${problems.length
      ? ` (${problems.map(([p, t]) => `${p}: ${t}`).join("; ")})` : ""}`;
    $("#prefs-error").hidden = false;
    (first || $("#prefs-error")).focus();
  } finally {
    $("#prefs-save").disabled = false;
  }
}
