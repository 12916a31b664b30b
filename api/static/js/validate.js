// Client-side checks that mirror the API's config schema (alertworker/schemas.py, SPEC §4).
// The API stays the judge: anything these miss (e.g. a private address) comes back as a 422.

import { CONDITIONS } from "./vocabulary.js";

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const RESERVED_HEADERS = new Set([
  "host", "content-length", "content-type", "transfer-encoding", "connection", "idempotency-key",
]);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$|^[^\s@]+@localhost$/;
const MASKED = /\*\*\*\*$/;

export function urlProblem(value, { allowMasked = false } = {}) {
  if (!value) return "is required when the channel is selected.";
  if (allowMasked && MASKED.test(value)) return null;
  if (value.length > 2048) return "must be at most 2048 characters.";
  let url;
  try {
    url = new URL(value);
  } catch {
    return "must be an http(s) URL, e.g. https://hooks.example.com/alerts.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http(s) URL.";
  if (url.username || url.password) return "must not contain credentials.";
  return null;
}

function numberProblem(value, spec) {
  if (!Number.isFinite(value)) return "must be a number.";
  if (spec.kind === "int" && !Number.isInteger(value)) return "must be a whole number.";
  if (spec.min !== undefined && (spec.minExclusive ? value <= spec.min : value < spec.min)) {
    return spec.minExclusive ? `must be greater than ${spec.min}.` : `must be at least ${spec.min}.`;
  }
  if (spec.max !== undefined && (spec.maxExclusive ? value >= spec.max : value > spec.max)) {
    return spec.maxExclusive ? `must be less than ${spec.max}.` : `must be at most ${spec.max}.`;
  }
  return null;
}

// [[path, message, element?], ...] for a config body as form.js collects it.
export function checkForm(body, headerRows) {
  const out = [];
  const add = (path, message, element) => out.push([path, message, element]);
  if (!body.name) add("name", "Enter a name.");
  else if (body.name.length > 200) add("name", "must be at most 200 characters.");
  if (body.description && body.description.length > 2000) add("description", "must be at most 2000 characters.");
  if (!body.channels.length) add("channels", "Select at least one channel.");

  const cc = body.channel_config;
  if (cc.email) {
    const list = cc.email.recipients;
    if (!list.length) add("channel_config.email.recipients", "Enter at least one address.");
    if (list.length > 50) add("channel_config.email.recipients", "At most 50 addresses.");
    const bad = list.filter((a) => !EMAIL.test(a) || a.length > 320);
    if (bad.length) add("channel_config.email.recipients", `Not valid email addresses: ${bad.join(", ")}.`);
  }
  if (cc.slack) {
    const problem = urlProblem(cc.slack.webhook_url, { allowMasked: true });
    if (problem) add("channel_config.slack.webhook_url", `The webhook URL ${problem}`);
    if (cc.slack.channel && cc.slack.channel.length > 80) add("channel_config.slack.channel", "must be at most 80 characters.");
  }
  if (cc.pagerduty) {
    const key = cc.pagerduty.routing_key;
    if (key !== "****" && !/^[A-Za-z0-9]{32}$/.test(key)) add("channel_config.pagerduty.routing_key", "must be a PagerDuty integration key: 32 letters and digits.");
  }
  if (cc.sms) {
    const list = cc.sms.numbers;
    if (!list.length || list.length > 10) add("channel_config.sms.numbers", "Enter 1 to 10 numbers.");
    const bad = list.filter((n) => !/^\+[1-9]\d{6,14}$/.test(n));
    if (bad.length) add("channel_config.sms.numbers", `Not E.164 numbers (e.g. +4915112345678): ${bad.join(", ")}.`);
  }
  if (cc.webhook) {
    const problem = urlProblem(cc.webhook.url);
    if (problem) add("channel_config.webhook.url", `The URL ${problem}`);
    if (headerRows.length > 20) add("channel_config.webhook.headers", "At most 20 headers.");
    const seen = new Set();
    for (const { row, name, value, renamedStored } of headerRows) {
      const nameInput = row.querySelector(".header-name");
      const valueInput = row.querySelector(".header-value");
      const lower = name.toLowerCase();
      if (!name) add("", "Enter a header name, or remove the row.", nameInput);
      else if (!HEADER_NAME.test(name)) add("", `“${name}” is not an HTTP header name.`, nameInput);
      else if (RESERVED_HEADERS.has(lower) || lower.startsWith("x-alertworker-")) {
        add("", `“${name}” is set by alertworker and cannot be overridden.`, nameInput);
      } else if (seen.has(lower)) add("", `“${name}” appears twice.`, nameInput);
      seen.add(lower);
      if (/[\r\n\0]/.test(value)) add("", "must not contain line breaks.", valueInput);
      if (value.length > 4096) add("", "must be at most 4096 characters.", valueInput);
      if (renamedStored) add("", "Type the value again: the stored one belongs to the old name.", valueInput);
    }
    const secret = cc.webhook.secret;
    if (secret && secret !== "****" && secret.length > 512) add("channel_config.webhook.secret", "must be at most 512 characters.");
  }

  for (const key of ["cooldown_minutes", "auto_resolve_minutes"]) {
    const minutes = body[key];
    if (!Number.isInteger(minutes) || minutes < 0 || minutes > 10080) {
      add(key, "Enter whole minutes from 0 to 10080 (one week).");
    }
  }
  const perHour = body.max_alerts_per_hour;
  if (!Number.isInteger(perHour) || perHour < 1 || perHour > 10000) {
    add("max_alerts_per_hour", "Enter a whole number from 1 to 10000.");
  }
  if (body.group_by.length > 10) add("group_by", "At most 10 keys.");
  if (body.group_by.some((k) => k.length > 100)) add("group_by", "Each key is at most 100 characters.");

  for (const spec of CONDITIONS[body.alert_type] || []) {
    if (!(spec.key in body.conditions)) continue;
    const problem = numberProblem(body.conditions[spec.key], spec);
    if (problem) add(`conditions.${spec.key}`, `${spec.label} ${problem}`);
  }
  const providers = body.conditions.provider_names || [];
  if (providers.length > 100) add("conditions.provider_names", "At most 100 providers.");
  if (providers.some((p) => p.length > 200)) add("conditions.provider_names", "Each name is at most 200 characters.");
  return out;
}

// The API's error.fields ({"channel_config": {"webhook": {"url": ["..."]}}}) as [[path, message]].
export function flatten(fields, prefix = "") {
  const out = [];
  for (const [key, value] of Object.entries(fields || {})) {
    const path = key === "_schema" ? prefix : prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      for (const message of value) out.push([path, message]);
    } else if (value && typeof value === "object") {
      out.push(...flatten(value, path));
    } else {
      out.push([path, String(value)]);
    }
  }
  return out;
}
