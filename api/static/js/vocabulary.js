// The vocabulary of SPEC §2 and §4 (types, severities, channels, each type's conditions), read
// once from GET /admin/alerts/catalog: the API generates it from the very schemas that validate
// configs, so the form cannot drift from what the API accepts. Bindings fill in on load.

import { api } from "./api.js";

export let SEVERITIES = [];
export let ALERT_TYPES = {}; // alert_type -> default severity
export let CHANNELS = []; // [{id, label, short}]
export let CONDITIONS = {}; // alert_type -> [field spec], provider_names aside
export let MASK = "****";

let loading = null;

// A condition's JSON Schema as the form's field spec.
function fieldSpec(c) {
  const int = c.type === "integer";
  const range = [
    c.minimum !== undefined ? `${c.exclusiveMinimum ? ">" : "≥"} ${c.minimum}` : null,
    c.maximum !== undefined ? `${c.exclusiveMaximum ? "<" : "≤"} ${c.maximum}` : null,
  ].filter(Boolean).join(", ");
  const parts = [c.description, range, c.default !== undefined ? `default ${c.default}` : null];
  const hint = parts.filter(Boolean).join("; ");
  return {
    key: c.key, label: c["x-label"] || c.key, kind: int ? "int" : "float",
    min: c.minimum, max: c.maximum, minExclusive: Boolean(c.exclusiveMinimum),
    maxExclusive: Boolean(c.exclusiveMaximum),
    step: int ? "1" : c.maximum !== undefined && c.maximum <= 1 ? "0.01" : "any",
    placeholder: String(c.default ?? c.minimum ?? ""),
    hint: hint ? hint.charAt(0).toUpperCase() + hint.slice(1) + "." : "",
  };
}

export function loadVocabulary() {
  loading ||= api("GET", "/admin/alerts/catalog").then((catalog) => {
    SEVERITIES = catalog.severities;
    MASK = catalog.mask;
    CHANNELS = catalog.channels.map((c) => ({ ...c, short: c.label.replace(/ \(.*\)$/, "") }));
    ALERT_TYPES = Object.fromEntries(catalog.alert_types.map((t) => [t.alert_type, t.default_severity]));
    CONDITIONS = Object.fromEntries(catalog.alert_types.map((t) => [
      t.alert_type, t.conditions.filter((c) => c.key !== "provider_names").map(fieldSpec),
    ]));
  }).catch((error) => { loading = null; throw error; });
  return loading;
}

export function typeLabel(type) {
  const text = type.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
