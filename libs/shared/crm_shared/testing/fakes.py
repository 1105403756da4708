"""Fakes the service-layer tests hand to nameko's ``worker_factory`` instead of the real providers."""
from __future__ import annotations

from crm_shared.events import validate_event_data


class RecordingOutbox:
    """Collects what a service publishes (the real outbox writes rows and flushes them to RabbitMQ).

    With ``source`` every event is checked against that service's published schemas, as the real
    outbox does before it writes a row.
    """

    def __init__(self, source: str | None = None):
        self.source = source
        self.events: list[tuple[str, dict]] = []

    def add(self, session, event_type, data, schema_version=1):
        if self.source:
            validate_event_data(self.source, event_type, data)
        self.events.append((event_type, data))

    def add_many(self, session, event_type, items, schema_version=1):
        for data in items:
            self.add(session, event_type, data, schema_version)

    def flush(self):
        return 0

    def of(self, event_type: str) -> list[dict]:
        return [data for t, data in self.events if t == event_type]
