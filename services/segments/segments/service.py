"""Entrypoints of the segments service: translate, call one operation, return."""
from crm_shared.db import Database
from crm_shared.reliability import EventOutbox
from crm_shared.service import (
    Context,
    ServiceBase,
    rpc,  # noqa: F401  (entrypoints are added here)
)


class SegmentsService(ServiceBase):
    name = "segments"

    db = Database("segments")
    outbox = EventOutbox()
    ctx = Context()
