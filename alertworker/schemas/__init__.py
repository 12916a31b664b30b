"""Marshmallow schemas: the one validation layer, shared by the API, the publisher and the worker.

``events``: the wire format of SPEC §3 (``fast_events``: its loader for the hot path).
``configs``: alert configs and per-type conditions
(§4), with secret masking. ``resources``: notifications, queries, preferences and the API's
small replies. Import from here.
"""

from alertworker.schemas.configs import (
    CONDITION_SCHEMAS,
    E164,
    MASK,
    MAX_ID,
    ChannelConfigSchema,
    ConfigOutSchema,
    ConfigQuerySchema,
    ConfigSchema,
    EmailChannelSchema,
    EndpointHealthSchema,
    PagerDutyChannelSchema,
    SlackChannelSchema,
    SmsChannelSchema,
    WebhookChannelSchema,
    check_config,
    is_masked,
    mask_channel_config,
    mask_url,
)
from alertworker.schemas.delivery_ops import (
    AttemptSchema,
    BulkRetryAcceptedSchema,
    BulkRetrySchema,
    DeliveryDetailSchema,
)
from alertworker.schemas.events import (
    MAX_CONTEXT_BYTES,
    SLUG,
    EventSchema,
    PublicEventSchema,
    event_to_wire,
)
from alertworker.schemas.fast_events import load_event, load_events, wire_events
from alertworker.schemas.resources import (
    AlertTestAcceptedSchema,
    AlertTestQuerySchema,
    CountSchema,
    DeliverySchema,
    ErrorSchema,
    EventsAcceptedSchema,
    NotificationDetailSchema,
    NotificationPageSchema,
    NotificationQuerySchema,
    NotificationSchema,
    PreferencesSchema,
    QuietHoursSchema,
    WhoAmISchema,
)

__all__ = [
    "AttemptSchema", "BulkRetryAcceptedSchema", "BulkRetrySchema", "DeliveryDetailSchema",
    "CONDITION_SCHEMAS", "EndpointHealthSchema",
    "MASK", "MAX_CONTEXT_BYTES", "MAX_ID", "SLUG", "AlertTestAcceptedSchema",
    "AlertTestQuerySchema", "ChannelConfigSchema", "ConfigOutSchema", "ConfigQuerySchema",
    "ConfigSchema", "CountSchema", "DeliverySchema", "E164", "PagerDutyChannelSchema",
    "SmsChannelSchema", "EmailChannelSchema", "ErrorSchema",
    "EventSchema", "EventsAcceptedSchema", "NotificationDetailSchema", "NotificationPageSchema",
    "NotificationQuerySchema", "NotificationSchema", "PreferencesSchema", "PublicEventSchema",
    "QuietHoursSchema", "SlackChannelSchema", "WebhookChannelSchema", "WhoAmISchema",
    "check_config", "event_to_wire", "is_masked", "load_event", "load_events",
    "mask_channel_config", "mask_url", "wire_events",
]  # fmt: skip
