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
from crm_shared.events._base import BATCH_EVENT_LIMIT as BATCH_EVENT_LIMIT

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


_strict: dict[type[Schema], Schema] = {}
_tolerant: dict[type[Schema], Schema] = {}
_envelope = EnvelopeSchema()


def _schema(cache: dict[type[Schema], Schema], schema_cls: type[Schema], **options: Any) -> Schema:
    """One instance per schema class: building a marshmallow schema copies its fields (the cost of a check)."""
    schema = cache.get(schema_cls)
    if schema is None:
        schema = cache[schema_cls] = schema_cls(**options)
    return schema


def validate_event_data(source: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check outbound data against its schema; unknown event types are a programming error."""
    schema_cls = REGISTRY.get((source, event_type))
    if schema_cls is None:
        raise EventContractError(f"no schema for event {source}.{event_type}")
    errors = _schema(_strict, schema_cls).validate(data)
    if errors:
        raise EventContractError(f"{source}.{event_type} payload invalid: {errors}")
    return data


def parse_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """Validate an inbound envelope; its data keeps unknown fields."""
    try:
        loaded = _envelope.load(envelope)
    except ValidationError as exc:
        raise EventContractError(f"bad envelope: {exc.messages}") from exc
    schema_cls = REGISTRY.get((loaded["source"], loaded["event_type"]))
    if schema_cls is not None:
        errors = _schema(_tolerant, schema_cls, unknown=INCLUDE).validate(loaded["data"])
        if errors:
            raise EventContractError(f"{loaded['event_type']} payload invalid: {errors}")
    return loaded


def event_types(source: str) -> list[str]:
    return sorted(t for (s, t) in REGISTRY if s == source)
