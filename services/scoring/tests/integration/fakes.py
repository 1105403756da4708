"""Fakes the service-layer tests hand to ``worker_factory`` instead of the real providers."""
from __future__ import annotations

from crm_shared.events import validate_event_data


class RecordingOutbox:
    """Collects what the service publishes (the real one writes outbox rows and flushes them to RabbitMQ)."""

    def __init__(self):
        self.events: list[tuple[str, dict]] = []

    def add(self, session, event_type, data, schema_version=1):
        validate_event_data("scoring", event_type, data)
        self.events.append((event_type, data))

    def add_many(self, session, event_type, items, schema_version=1):
        for data in items:
            self.add(session, event_type, data, schema_version)

    def flush(self):
        return 0

    def of(self, event_type: str) -> list[dict]:
        return [data for t, data in self.events if t == event_type]
