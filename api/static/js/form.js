// The create/edit form in a modal. Client-side checks mirror the API's schema (SPEC §4); the
// API's 422 error.fields are shown next to their fields as well. Secrets come back masked:
// a blank secret field on edit sends the mask back, which keeps the stored value.

import { api } from "./api.js";
import { ALERT_TYPES, CHANNELS, CONDITIONS, MASK, SEVERITIES, typeLabel } from "./vocabulary.js";
import { $, h, icon } from "./dom.js";
import { checkForm, flatten } from "./validate.js";
import { closeModal, openModal } from "./modal.js";
import { currentPolicies } from "./oncall.js";

const form = () => $("#config-form");
let editing = null; // the config being edited (as the API returned it), or null
let onSaved = null;

function setupOnce() {
  if (form().dataset.ready) return;
  form().dataset.ready = "1";
  $("#f-type").append(...Object.keys(ALERT_TYPES).map((t) => h("option", { value: t, text: typeLabel(t) })));
  $("#f-severity").append(h("option", { value: "" }),
    ...SEVERITIES.map((s) => h("option", { value: s, text: s[0].toUpperCase() + s.slice(1) })));
  $("#f-channels").append(...CHANNELS.map((c) => h("label", { class: `check channel-choice channel-${c.id}` },
    h("input", { type: "checkbox", name: "channels", value: c.id, id: `f-channel-${c.id}` }),
    icon(c.id), h("span", { text: c.label }))));
  $("#f-channels").addEventListener("change", showChannelFields);
  $("#f-type").addEventListener("change", () => { updateSeverityDefault(); renderConditions(collectConditionValues()); });
  $("#add-header").addEventListener("click", () => addHeaderRow().querySelector("input").focus());
  form().addEventListener("submit", submit);
}

function updateSeverityDefault() {
  const type = $("#f-type").value;
  $("#f-severity").options[0].textContent = `Type default (${ALERT_TYPES[type]})`;
}

function showChannelFields() {
  for (const id of ["email", "slack", "webhook", "pagerduty", "sms"]) {
    $(`#cc-${id}`).hidden = !$(`#f-channel-${id}`).checked;
  }
}

let headerSeq = 0;
function addHeaderRow(name = "", stored = false) {
  headerSeq += 1;
  const n = headerSeq;
  const row = h("div", { class: "header-row", "data-stored": stored ? "1" : null, "data-original-name": stored ? name : null },
    h("label", { class: "sr-only", for: `hdr-name-${n}`, text: "Header name" }),
    h("input", { id: `hdr-name-${n}`, class: "header-name", value: name, placeholder: "X-Header-Name", autocomplete: "off", spellcheck: "false" }),
    h("label", { class: "sr-only", for: `hdr-value-${n}`, text: "Header value" }),
    h("input", { id: `hdr-value-${n}`, class: "header-value", autocomplete: "off", spellcheck: "false",
      placeholder: stored ? "stored; type to replace" : "value" }),
    h("button", { type: "button", class: "icon-button", "aria-label": "Remove header", text: "✕",
      onclick: (event) => { event.currentTarget.closest(".header-row").remove(); $("#add-header").focus(); } }));
  $("#f-webhook-headers").append(row);
  return row;
}

function collectConditionValues() {
  const values = {};
  for (const input of $("#condition-fields").querySelectorAll("input")) values[input.dataset.key] = input.value;
  return values;
}

function renderConditions(values = {}) {
  const type = $("#f-type").value;
  const specs = CONDITIONS[type] || [];
  const fields = specs.map((spec) => h("div", { class: "field" },
    h("label", { for: `c-${spec.key}`, text: spec.label }),
    h("input", { id: `c-${spec.key}`, type: "number", step: spec.step, min: spec.min, max: spec.max,
      "data-key": spec.key, "data-path": `conditions.${spec.key}`, placeholder: spec.placeholder,
      value: values[spec.key] ?? "", inputmode: spec.kind === "int" ? "numeric" : "decimal",
      "aria-describedby": `c-${spec.key}-hint` }),
    h("p", { class: "hint", id: `c-${spec.key}-hint`, text: spec.hint })));
  const providers = h("div", { class: "field" },
    h("label", { for: "c-provider_names", text: "Only these providers (optional)" }),
    h("input", { id: "c-provider_names", "data-key": "provider_names", "data-path": "conditions.provider_names",
      value: values.provider_names ?? "", placeholder: "openai, anthropic", autocomplete: "off",
      "aria-describedby": "c-provider_names-hint" }),
    h("p", { class: "hint", id: "c-provider_names-hint", text: "Comma-separated; empty means any provider (context.provider_name)." }));
  $("#condition-fields").replaceChildren(...fields, providers);
}

function fill(config) {
  const c = config || {};
  const cc = c.channel_config || {};
  $("#f-name").value = c.name || "";
  $("#f-description").value = c.description || "";
  $("#f-type").value = c.alert_type || "high_latency";
  updateSeverityDefault();
  $("#f-severity").value = c.severity || "";
  const channels = c.channels || ["in_app"];
  for (const ch of CHANNELS) $(`#f-channel-${ch.id}`).checked = channels.includes(ch.id);
  $("#f-email-recipients").value = (cc.email?.recipients || []).join("\n");
  const slackStored = Boolean(cc.slack?.webhook_url);
  $("#f-slack-url").value = "";
  $("#f-slack-url").placeholder = slackStored ? cc.slack.webhook_url : "https://hooks.slack.com/services/…";
  $("#f-slack-url-hint").hidden = !slackStored;
  $("#f-slack-channel").value = cc.slack?.channel || "";
  $("#f-webhook-url").value = cc.webhook?.url || "";
  $("#f-webhook-headers").replaceChildren();
  for (const name of Object.keys(cc.webhook?.headers || {})) addHeaderRow(name, true);
  const secretStored = Boolean(cc.webhook?.secret);
  $("#f-webhook-secret").value = "";
  $("#f-webhook-secret").placeholder = secretStored ? "•••• stored; leave blank to keep" : "";
  $("#f-webhook-secret-remove").checked = false;
  $("#f-webhook-secret-remove-row").hidden = !secretStored;
  $("#f-pagerduty-key").value = "";
  $("#f-pagerduty-key-hint").hidden = !cc.pagerduty?.routing_key;
  $("#f-sms-numbers").value = (cc.sms?.numbers || []).join("\n");
  $("#f-auto-resolve").value = c.auto_resolve_minutes ?? 0;
  $("#f-notify-on-resolve").checked = c.notify_on_resolve ?? true;
  $("#f-policy").replaceChildren(h("option", { value: "", text: "No escalation" }),
    ...currentPolicies().map((p) => h("option", { value: p.id, text: p.name })));
  $("#f-policy").value = c.escalation_policy_id ?? "";
  $("#f-cooldown").value = c.cooldown_minutes ?? 15;
  $("#f-max-per-hour").value = c.max_alerts_per_hour ?? 10;
  $("#f-group-similar").checked = c.group_similar ?? true;
  $("#f-group-by").value = (c.group_by ?? ["provider_name"]).join(", ");
  const conditions = { ...(c.conditions || {}) };
  if (Array.isArray(conditions.provider_names)) conditions.provider_names = conditions.provider_names.join(", ");
  renderConditions(conditions);
  showChannelFields();
}

export function openConfigForm(config, saved, opener) {
  setupOnce();
  editing = config;
  onSaved = saved;
  clearErrors();
  fill(config);
  $("#config-modal-title").textContent = config ? `Edit “${config.name}”` : "New alert config";
  $("#save-config").textContent = config ? "Save changes" : "Create";
  if (opener) opener.focus(); // focus returns here when the modal closes
  openModal($("#config-modal"), { initialFocus: $("#f-name"), closeOnBackdrop: false });
}

// A number input's value: NaN when blank or not a number (the checks then say so).
const num = (input) => (input.value.trim() === "" || input.validity.badInput ? NaN : Number(input.value));
const split = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

// The form's values as the API's config body, plus the raw inputs the checks need.
function collect() {
  const channels = CHANNELS.map((c) => c.id).filter((id) => $(`#f-channel-${id}`).checked);
  const stored = editing?.channel_config || {};
  const channelConfig = {};
  if (channels.includes("email")) channelConfig.email = { recipients: split($("#f-email-recipients").value) };
  if (channels.includes("slack")) {
    const typed = $("#f-slack-url").value.trim();
    const slack = { webhook_url: typed || stored.slack?.webhook_url || "" };
    const channel = $("#f-slack-channel").value.trim();
    if (channel) slack.channel = channel;
    channelConfig.slack = slack;
  }
  const headerRows = [];
  if (channels.includes("webhook")) {
    const headers = {};
    for (const row of $("#f-webhook-headers").querySelectorAll(".header-row")) {
      const name = row.querySelector(".header-name").value.trim();
      const valueInput = row.querySelector(".header-value");
      const keep = row.dataset.stored && !valueInput.value && name === row.dataset.originalName;
      headerRows.push({ row, name, value: valueInput.value, renamedStored: row.dataset.stored && !valueInput.value && !keep });
      if (name) headers[name] = keep ? MASK : valueInput.value;
    }
    const secretTyped = $("#f-webhook-secret").value;
    const secretStored = Boolean(stored.webhook?.secret) && !$("#f-webhook-secret-remove").checked;
    channelConfig.webhook = {
      url: $("#f-webhook-url").value.trim(),
      headers,
      secret: secretTyped || (secretStored ? MASK : null),
    };
  }
  if (channels.includes("pagerduty")) {
    const typed = $("#f-pagerduty-key").value.trim();
    channelConfig.pagerduty = { routing_key: typed || (stored.pagerduty?.routing_key ? MASK : "") };
  }
  if (channels.includes("sms")) channelConfig.sms = { numbers: split($("#f-sms-numbers").value) };
  const conditions = {};
  for (const input of $("#condition-fields").querySelectorAll("input")) {
    const key = input.dataset.key;
    if (key === "provider_names") {
      const names = split(input.value);
      if (names.length) conditions.provider_names = names;
    } else if (input.value.trim() !== "" || input.validity.badInput) {
      conditions[key] = num(input);
    }
  }
  const body = {
    name: $("#f-name").value.trim(),
    description: $("#f-description").value.trim() || null,
    alert_type: $("#f-type").value,
    is_active: editing ? editing.is_active : true,
    channels,
    channel_config: channelConfig,
    auto_resolve_minutes: num($("#f-auto-resolve")),
    notify_on_resolve: $("#f-notify-on-resolve").checked,
    cooldown_minutes: num($("#f-cooldown")),
    max_alerts_per_hour: num($("#f-max-per-hour")),
    group_similar: $("#f-group-similar").checked,
    group_by: split($("#f-group-by").value),
    conditions,
    escalation_policy_id: $("#f-policy").value ? Number($("#f-policy").value) : null,
  };
  if ($("#f-severity").value) body.severity = $("#f-severity").value;
  return { body, headerRows };
}

function clearErrors() {
  $("#form-error").hidden = true;
  $("#form-error").textContent = "";
  for (const p of form().querySelectorAll(".field-error")) p.remove();
  for (const el of form().querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.startsWith("err-"));
    if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
    else el.removeAttribute("aria-describedby");
  }
}

function slotFor(path) {
  const parts = path.split(".");
  while (parts.length) {
    const el = form().querySelector(`[data-path="${CSS.escape(parts.join("."))}"]`);
    if (el && el.getClientRects().length) return el;
    parts.pop();
  }
  return null;
}

let errorSeq = 0;
// errors: [[path, message], ...] (path like "channel_config.webhook.url"), or an element target.
function showErrors(errors) {
  const unplaced = [];
  let first = null;
  for (const [path, message, target] of errors) {
    const el = target || slotFor(path);
    if (!el) { unplaced.push(`${path}: ${message}`); continue; }
    const isInput = el.matches("input, select, textarea");
    const host = isInput ? el.closest(".field, .check, .header-row") || el.parentElement : el;
    let p = host.querySelector(":scope > .field-error");
    if (!p) {
      errorSeq += 1;
      p = h("p", { class: "field-error", id: `err-${errorSeq}` });
      host.append(p);
    }
    p.textContent = p.textContent ? `${p.textContent} ${message}` : message;
    const input = isInput ? el : el.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const ids = new Set((input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
      ids.add(p.id);
      input.setAttribute("aria-describedby", [...ids].join(" "));
      first = first || input;
    }
  }
  if (unplaced.length) {
    $("#form-error").textContent = `The API refused the config: ${unplaced.join("; ")}`;
    $("#form-error").hidden = false;
  }
  (first || $("#form-error")).focus();
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const { body, headerRows } = collect();
  const problems = checkForm(body, headerRows);
  if (problems.length) {
    showErrors(problems);
    return;
  }
  const button = $("#save-config");
  button.disabled = true;
  try {
    const saved = editing
      ? await api("PUT", `/admin/alerts/configs/${editing.id}`, body)
      : await api("POST", "/admin/alerts/configs", body);
    closeModal($("#config-modal"));
    if (onSaved) onSaved(saved);
  } catch (error) {
    if (error.status === 422 && Object.keys(error.fields).length) {
      showErrors(flatten(error.fields));
    } else {
      $("#form-error").textContent = error.message;
      $("#form-error").hidden = false;
      $("#form-error").focus();
    }
  } finally {
    button.disabled = false;
  }
}
