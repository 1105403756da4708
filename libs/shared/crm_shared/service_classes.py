"""Where each nameko service class lives, importable without side effects.

``crm_shared.runner`` monkey-patches eventlet as it is imported, so code that
runs inside other processes (migrations, the bootstrap that declares queues,
the pytest process that drives the browser) reads the table from here instead.
"""
from __future__ import annotations

import importlib

SERVICE_CLASSES = {
    "contacts": "contacts.service:ContactsService",
    "imports": "imports.service:ImportsService",
    "scoring": "scoring.service:ScoringService",
    "segments": "segments.service:SegmentsService",
    "messaging": "messaging.service:MessagingService",
}


def load_service(name: str) -> type:
    """The service class registered under ``name``."""
    module_name, _, class_name = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
