"""Versioned event contracts: the envelope and one payload schema per event type.

Each publishing service keeps its payload schemas in its own module here
(``contacts.py``, ``imports.py``, ...); this module joins them into one
registry. Outbound data is validated strictly; inbound envelopes tolerate
unknown fields so a newer publisher never breaks an older subscriber.
"""
from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields

from crm_shared.events import contacts, imports, messaging, scoring, segments

REGISTRY: dict[tuple[str, str], type[Schema]] = {}
for _module in (contacts, imports, scoring, segments, messaging):
    for _event_type, _schema in _module.SCHEMAS.items():
        REGISTRY[(_module.SOURCE, _event_type)] = _schema


class EnvelopeSchema(Schema):
    class Meta:
        unknown = INCLUDE

    event_id = fields.String(required=True)
    event_type = fields.String(required=True)
    schema_version = fields.Integer(required=True)
    occurred_at = fields.String(required=True)
    source = fields.String(required=True)
    data = fields.Dict(required=True)


class EventContractError(ValueError):
    pass


def validate_event_data(source: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check outbound data against its schema; unknown event types are a programming error."""
    schema_cls = REGISTRY.get((source, event_type))
    if schema_cls is None:
        raise EventContractError(f"no schema for event {source}.{event_type}")
    errors = schema_cls().validate(data)
    if errors:
        raise EventContractError(f"{source}.{event_type} payload invalid: {errors}")
    return data


def parse_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """Validate an inbound envelope; its data keeps unknown fields."""
    try:
        loaded = EnvelopeSchema().load(envelope)
    except ValidationError as exc:
        raise EventContractError(f"bad envelope: {exc.messages}") from exc
    schema_cls = REGISTRY.get((loaded["source"], loaded["event_type"]))
    if schema_cls is not None:
        errors = schema_cls(unknown=INCLUDE).validate(loaded["data"])
        if errors:
            raise EventContractError(f"{loaded['event_type']} payload invalid: {errors}")
    return loaded


def event_types(source: str) -> list[str]:
    return sorted(t for (s, t) in REGISTRY if s == source)
