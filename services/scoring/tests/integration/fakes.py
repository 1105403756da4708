"""Fakes the scoring service-layer tests hand to ``worker_factory`` instead of the real providers."""
from __future__ import annotations

from crm_shared.testing.fakes import RecordingOutbox as _SharedOutbox


class RecordingOutbox(_SharedOutbox):
    """What scoring publishes, each event checked against scoring's schemas."""

    def __init__(self):
        super().__init__("scoring")
