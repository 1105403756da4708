"""Entrypoints of the messaging service: translate, call one operation, return."""
from crm_shared.db import Database
from crm_shared.reliability import EventOutbox
from crm_shared.service import (
    Context,
    ServiceBase,
    rpc,  # noqa: F401  (entrypoints are added here)
)


class MessagingService(ServiceBase):
    name = "messaging"

    db = Database("messaging")
    outbox = EventOutbox()
    ctx = Context()
