"""Entrypoints of the scoring service: translate, call one operation, return."""
from crm_shared.db import Database
from crm_shared.reliability import EventOutbox
from crm_shared.service import (
    Context,
    ServiceBase,
    rpc,  # noqa: F401  (entrypoints are added here)
)


class ScoringService(ServiceBase):
    name = "scoring"

    db = Database("scoring")
    outbox = EventOutbox()
    ctx = Context()
