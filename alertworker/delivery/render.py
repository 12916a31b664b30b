"""Human-readable renderings of a notification: email (Jinja2 templates) and Slack payloads.

Templates live in ``alertworker/delivery/templates/<kind>/`` (``subject.txt``, ``body.txt``,
``body.html``); ``.html`` is autoescaped, so an alert's title, message and context can never
inject markup. Severity colours and emoji live in :data:`SEVERITY_STYLE` only, the "what this
means / what to do" line per alert type in :data:`GUIDANCE`. Every free-text field is truncated
to the receiving channel's limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alertworker.core.settings import Settings
from alertworker.delivery.channels.base import Message

# severity -> (colour, Slack emoji, plain symbol for email)
SEVERITY_STYLE: dict[str, dict[str, str]] = {
    "info": {"color": "#2F80ED", "emoji": ":information_source:", "symbol": "ℹ"},
    "warning": {"color": "#F2A900", "emoji": ":warning:", "symbol": "⚠"},
    "error": {"color": "#E01E5A", "emoji": ":red_circle:", "symbol": "⛔"},
    "critical": {"color": "#8B0000", "emoji": ":rotating_light:", "symbol": "🚨"},
}

GUIDANCE: dict[str, str] = {
    "circuit_breaker_opened": "The circuit is open: requests to this provider are routed to "
    "fallback providers. Investigate the provider's health and recent errors.",
    "circuit_breaker_closed": "The circuit closed again: traffic flows to this provider as "
    "usual. No action needed; review the incident if it recurs.",
    "provider_unhealthy": "Health checks for this provider are failing; requests may fail or "
    "be rerouted. Check the provider's status page and credentials.",
    "provider_recovered": "The provider passes its health checks again. No action needed.",
    "cost_limit_warning": "Spend is approaching its limit. Review usage, or raise the limit "
    "before requests start being refused.",
    "cost_limit_exceeded": "Spend exceeded its limit: further requests may be refused. Raise "
    "the limit or reduce usage now.",
    "rate_limit_warning": "Traffic is close to the rate limit. Expect throttling soon; spread "
    "load or raise the limit.",
    "rate_limit_exceeded": "The rate limit was exceeded: requests are being rejected. Reduce "
    "the request rate or raise the limit.",
    "high_error_rate": "An unusual share of requests to this provider fail. Check the "
    "provider's status, recent deployments and error logs.",
    "high_latency": "Responses from this provider are slow. Check the provider's status and "
    "consider routing to a faster provider.",
    "quota_exhausted": "The provider's quota is used up: requests to it will fail until it "
    "resets. Increase the quota or route traffic elsewhere.",
    "delivery_failing": "alertworker cannot deliver to this destination: alerts sent there are "
    "not arriving. Fix the receiver, then replay the failed deliveries from the page or API.",
}

RESOLVED_STYLE = {"color": "#2EB67D", "emoji": ":white_check_mark:", "symbol": "✅"}  # SPEC §13

# channel limits (characters)
EMAIL_SUBJECT_MAX = 250
EMAIL_MESSAGE_MAX = 20_000
CONTEXT_VALUE_MAX = 500
SLACK_TEXT_MAX = 3_000
SLACK_TITLE_MAX = 250
SLACK_FIELD_MAX = 300
SLACK_FIELDS_MAX = 20

TEMPLATES = Environment(  # every message kind: templates/<kind>/…, .html autoescaped
    loader=PackageLoader("alertworker.delivery", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def dashboard_url(settings: Settings, notification_id: int) -> str:
    return f"{settings.public_base_url.rstrip('/')}/alerts#notification-{notification_id}"


def format_value(value: Any, limit: int = CONTEXT_VALUE_MAX) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (dict, list, bool)) or value is None:
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return truncate(text, limit)


def context_rows(context: dict[str, Any], limit: int = CONTEXT_VALUE_MAX) -> list[tuple[str, str]]:
    return [(truncate(str(k), 100), format_value(v, limit)) for k, v in context.items()]


def as_utc(when: datetime) -> datetime:
    """Aware UTC; naive datetimes (as some databases return them) are taken to be UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def format_time(when: datetime) -> str:
    return as_utc(when).strftime("%Y-%m-%d %H:%M:%S UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _template_context(message: Message, settings: Settings) -> dict[str, Any]:
    return {
        "m": message,
        "title": _one_line(message.title),
        "severity_label": message.severity.upper(),
        "style": SEVERITY_STYLE.get(message.severity, SEVERITY_STYLE["info"]),
        "guidance": GUIDANCE.get(message.alert_type, ""),
        "body": truncate(message.message, EMAIL_MESSAGE_MAX),
        "rows": context_rows(message.context),
        "occurred": format_time(message.occurred_at),
        "triggered": format_time(message.triggered_at),
        "url": dashboard_url(settings, message.notification_id),
        "resolved": format_time(message.resolved_at) if message.resolved_at else "",
    }


def render_email(message: Message, settings: Settings, kind: str | None = None) -> RenderedEmail:
    """Subject ``[SEVERITY] title`` (``[RESOLVED] title`` for a resolve; one line), plain-text
    body and autoescaped HTML body."""
    kind = kind or ("resolved" if message.resolved else "alert")
    ctx = _template_context(message, settings)
    subject = _one_line(TEMPLATES.get_template(f"{kind}/subject.txt").render(ctx))
    return RenderedEmail(
        subject=truncate(subject, EMAIL_SUBJECT_MAX),
        text=TEMPLATES.get_template(f"{kind}/body.txt").render(ctx),
        html=TEMPLATES.get_template(f"{kind}/body.html").render(ctx),
    )


def slack_escape(text: str) -> str:
    """Slack's required escaping: stops ``<!channel>`` pings and ``<url|label>`` links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message, settings: Settings) -> dict[str, Any]:
    """Incoming-webhook payload: top-level ``text`` (all mobile shows) and a coloured attachment."""
    style = SEVERITY_STYLE.get(message.severity, SEVERITY_STYLE["info"])
    title = truncate(_one_line(message.title), SLACK_TITLE_MAX)
    test = "[TEST] " if message.is_test else ""
    headline = f"{style['emoji']} {test}[{message.severity.upper()}] {slack_escape(title)}"
    lines = [slack_escape(truncate(message.message, SLACK_TEXT_MAX))] if message.message else []
    if message.resolved:  # SPEC §13: green, "Resolved: <title>"
        style = RESOLVED_STYLE
        headline = f"{style['emoji']} {test}Resolved: {slack_escape(title)}"
        lines = [f"Resolved at {format_time(message.resolved_at or message.triggered_at)}"]
    elif message.suppressed_since_last:
        lines.append(f"_{message.suppressed_since_last} similar alert(s) suppressed since last_")
    if message.alert_type in GUIDANCE and not message.resolved:
        lines.append(f"*What to do:* {GUIDANCE[message.alert_type]}")
    fields = [
        {"title": slack_escape(k), "value": slack_escape(v), "short": len(v) <= 40}
        for k, v in context_rows(message.context, SLACK_FIELD_MAX)[:SLACK_FIELDS_MAX]
    ]
    attachment = {
        "color": style["color"],
        "fallback": headline,
        "title": slack_escape(title),
        "title_link": dashboard_url(settings, message.notification_id),
        "text": "\n".join(lines),
        "fields": fields,
        "footer": slack_escape(f"{message.alert_type} · {message.tenant_id}"),
        "ts": int(as_utc(message.occurred_at).timestamp()),
        "mrkdwn_in": ["text"],
    }
    return {"text": truncate(headline, SLACK_TEXT_MAX), "attachments": [attachment]}
