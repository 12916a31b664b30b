// Silences (SPEC §16): the list with each one's state, a form to create one with matchers and a
// duration ("2 h") or an end time, expire; "Silence similar" from a notification pre-fills the
// form with its type and provider. Inhibition rules are listed read-only.

import { api } from "./api.js";
import { $, h } from "./dom.js";
import { closeModal, openModal } from "./modal.js";
import { flatten } from "./validate.js";

const OPS = ["=", "!=", "=~", "!~"];
const UNITS = { m: 60, min: 60, mins: 60, minute: 60, minutes: 60, h: 3600, hour: 3600, hours: 3600, d: 86400, day: 86400, days: 86400 };
let onCreated = null;

// "90 min", "2 h", "1.5h", "3 days" -> seconds; null when it is not a duration.
export function parseDuration(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text || "");
  const unit = m && UNITS[m[2].toLowerCase()];
  return unit ? Number(m[1]) * unit : null;
}

// A context value as the server compares it: a string as is, anything else as JSON.
const asText = (value) => (typeof value === "string" ? value : JSON.stringify(value));

export async function loadSilences() {
  const [silences, rules] = await Promise.all([
    api("GET", "/admin/alerts/silences"), api("GET", "/admin/alerts/inhibit-rules"),
  ]);
  $("#silence-list").replaceChildren(...silences.items.map(row));
  $("#silence-table").hidden = silences.items.length === 0;
  $("#silences-empty").hidden = silences.items.length > 0;
  $("#rule-list").replaceChildren(...rules.items.map(ruleItem));
  $("#rules-empty").hidden = rules.items.length > 0;
}

export function resetSilences() {
  $("#silence-list").replaceChildren();
  $("#rule-list").replaceChildren();
}

const matcherText = (m) => `${m.name} ${m.op} "${m.value}"`;

function absolute(iso) {
  const date = new Date(iso);
  return h("time", { datetime: date.toISOString(), text: date.toLocaleString() });
}

function row(s) {
  const tr = h("tr", { "data-silence-id": Number(s.id), "data-state": s.state },
    h("td", {}, h("span", { class: `badge state state-${s.state}`, text: s.state })),
    h("td", {}, h("ul", { class: "matchers" }, s.matchers.map((m) => h("li", {}, h("code", { text: matcherText(m) }))))),
    h("td", {}, absolute(s.ends_at)),
    h("td", { class: "silence-comment", text: s.comment }),
    h("td", {}));
  if (s.state !== "expired") {
    const button = h("button", { type: "button", class: "button small", "data-action": "expire", text: "Expire" });
    button.addEventListener("click", () => expire(s, button));
    tr.lastChild.append(button);
  }
  return tr;
}

function ruleItem(r) {
  const list = (items) => items.map(matcherText).join(", ");
  return h("li", { class: "rule card", "data-rule-id": Number(r.id) },
    h("p", {}, h("strong", { text: "When open: " }), h("code", { text: list(r.source) })),
    h("p", {}, h("strong", { text: "mute: " }), h("code", { text: list(r.target) })),
    h("p", { class: "muted small", text: r.equal.length ? `with the same ${r.equal.join(", ")}` : "whatever their values" }));
}

async function expire(s, button) {
  button.disabled = true;
  try {
    await api("POST", `/admin/alerts/silences/${Number(s.id)}/expire`);
    await loadSilences();
    $("#silence-status").textContent = `Silence ${Number(s.id)} expired.`;
  } catch (error) {
    button.disabled = false;
    $("#silence-status").textContent = `Could not expire it: ${error.message}`;
  }
}

function matcherRow({ name = "", op = "=", value = "" } = {}) {
  const remove = h("button", { type: "button", class: "icon-button", "aria-label": "Remove matcher", text: "✕" });
  const select = h("select", { class: "matcher-op", "aria-label": "Operator" },
    OPS.map((o) => h("option", { value: o, text: o, selected: o === op })));
  const el = h("div", { class: "matcher-row" },
    h("input", { class: "matcher-name", "aria-label": "Name", list: "matcher-names", value: name, autocomplete: "off", spellcheck: "false" }),
    select,
    h("input", { class: "matcher-value", "aria-label": "Value", value, autocomplete: "off", spellcheck: "false" }),
    remove);
  remove.addEventListener("click", () => el.remove());
  return el;
}

let ready = false;
function setupOnce() {
  if (ready) return;
  ready = true;
  $("#add-matcher").addEventListener("click", () => {
    $("#s-matchers").append(matcherRow());
    $("#s-matchers").lastElementChild.querySelector("input").focus();
  });
  $("#silence-form").addEventListener("submit", submit);
}

// Open the form; matchers pre-filled (from "Silence similar") or one empty row.
export function openSilenceForm(matchers = [], created = null) {
  setupOnce();
  onCreated = created;
  $("#silence-form-error").hidden = true;
  $("#s-matchers").replaceChildren(...(matchers.length ? matchers : [{}]).map(matcherRow));
  $("#s-duration").value = "2 h";
  $("#s-ends").value = "";
  $("#s-comment").value = "";
  openModal($("#silence-modal"), { initialFocus: $("#s-comment"), closeOnBackdrop: false });
}

export function silenceSimilar(n, created) {
  const matchers = [{ name: "alert_type", op: "=", value: n.alert_type }];
  const provider = (n.context || {}).provider_name;
  if (provider !== undefined) matchers.push({ name: "context.provider_name", op: "=", value: asText(provider) });
  openSilenceForm(matchers, created);
}

function collect() {
  const matchers = [...$("#s-matchers").querySelectorAll(".matcher-row")].map((r) => ({
    name: r.querySelector(".matcher-name").value.trim(),
    op: r.querySelector(".matcher-op").value,
    value: r.querySelector(".matcher-value").value,
  }));
  const problems = [];
  if (!matchers.length) problems.push("Add at least one matcher.");
  if (matchers.some((m) => !m.name)) problems.push("Every matcher needs a name.");
  let endsAt = null;
  const duration = $("#s-duration").value.trim();
  if ($("#s-ends").value) endsAt = new Date($("#s-ends").value);
  else if (duration && parseDuration(duration) !== null) endsAt = new Date(Date.now() + parseDuration(duration) * 1000);
  else problems.push(duration ? `“${duration}” is not a duration; write e.g. 30 min, 2 h or 1 d.` : "Give a duration or an end time.");
  const comment = $("#s-comment").value.trim();
  if (!comment) problems.push("Say why in the comment.");
  return { body: { matchers, ends_at: endsAt && endsAt.toISOString(), comment }, problems };
}

function showProblems(lines) {
  const box = $("#silence-form-error");
  box.replaceChildren(...lines.map((line) => h("span", { class: "problem", text: line })));
  box.hidden = false;
  box.focus();
}

async function submit(event) {
  event.preventDefault();
  const { body, problems } = collect();
  if (problems.length) return showProblems(problems);
  $("#save-silence").disabled = true;
  try {
    const silence = await api("POST", "/admin/alerts/silences", body);
    closeModal($("#silence-modal"));
    await loadSilences();
    const text = `Silence ${Number(silence.id)} created (${silence.state}).`;
    $("#silence-status").textContent = text;
    if (onCreated) onCreated(silence, text);
  } catch (error) {
    const lines = error.status === 422 ? flatten(error.fields).map(([path, m]) => `${path}: ${m}`) : [];
    showProblems(lines.length ? lines : [error.message]);
  } finally {
    $("#save-silence").disabled = false;
  }
}
