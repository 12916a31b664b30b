// The fixed vocabulary of SPEC §2 and §4, mirrored from alertworker/catalog.py and schemas.py.

export const SEVERITIES = ["info", "warning", "error", "critical"];

// alert_type -> default severity
export const ALERT_TYPES = {
  circuit_breaker_opened: "error",
  circuit_breaker_closed: "info",
  provider_unhealthy: "warning",
  provider_recovered: "info",
  cost_limit_warning: "warning",
  cost_limit_exceeded: "error",
  rate_limit_warning: "warning",
  rate_limit_exceeded: "error",
  high_error_rate: "warning",
  high_latency: "warning",
  quota_exhausted: "critical",
};

export const CHANNELS = [
  { id: "in_app", label: "In-app (bell)", short: "In-app" },
  { id: "email", label: "Email", short: "Email" },
  { id: "slack", label: "Slack", short: "Slack" },
  { id: "webhook", label: "Webhook", short: "Webhook" },
  { id: "pagerduty", label: "PagerDuty", short: "PagerDuty" },
  { id: "sms", label: "SMS", short: "SMS" },
];

const THRESHOLD = {
  key: "threshold", label: "Threshold (fraction of the limit)", kind: "float",
  min: 0, minExclusive: true, max: 1, step: "0.01", placeholder: "0.9",
  hint: "0 < x ≤ 1; default 0.9.",
};

// Per-type condition fields (every type also takes provider_names).
export const CONDITIONS = {
  circuit_breaker_opened: [{
    key: "min_consecutive_failures", label: "Min. consecutive failures", kind: "int", min: 1,
    step: "1", placeholder: "1", hint: "Compared with context.consecutive_failures.",
  }],
  cost_limit_warning: [{ ...THRESHOLD, hint: "Compared with context.percentage; 0 < x ≤ 1, default 0.9." }],
  rate_limit_warning: [{ ...THRESHOLD, hint: "Compared with requests / limit; 0 < x ≤ 1, default 0.9." }],
  high_error_rate: [
    {
      key: "error_rate", label: "Error rate", kind: "float", min: 0, max: 1, step: "0.01",
      placeholder: "0.05", hint: "0..1, default 0.05.",
    },
    {
      key: "min_requests", label: "Min. requests", kind: "int", min: 0, step: "1",
      placeholder: "0", hint: "Compared with context.requests.",
    },
  ],
  high_latency: [{
    key: "latency_ms", label: "Latency (ms)", kind: "float", min: 0, minExclusive: true,
    step: "any", placeholder: "5000", hint: "Greater than 0; default 5000.",
  }],
};

export const MASK = "****";

export function typeLabel(type) {
  const text = type.replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
