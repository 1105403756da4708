"""Entrypoints of the contacts service: translate, call one operation, return."""
from __future__ import annotations

from typing import Any

from contacts import users
from crm_shared.auth import ADMIN
from crm_shared.db import Database
from crm_shared.reliability import EventOutbox
from crm_shared.service import Context, ServiceBase, rpc


class ContactsService(ServiceBase):
    name = "contacts"

    db = Database("contacts")
    outbox = EventOutbox()
    ctx = Context()

    # -- users and sign-in ----------------------------------------------
    @rpc
    def authenticate(self, email: str, password: str) -> dict[str, Any]:
        """Public: the gateway's login; the only RPC that needs no token."""
        return users.authenticate(self.db, email, password)

    @rpc
    def list_users(self, role: str | None = None) -> list[dict[str, Any]]:
        self.ctx.authenticate()
        return users.list_users(self.db, role)

    @rpc
    def get_user(self, user_id: str) -> dict[str, Any]:
        self.ctx.authenticate()
        return users.get_user(self.db, user_id)

    @rpc
    def upsert_user(self, email: str, name: str, role: str, password: str) -> dict[str, Any]:
        self.ctx.caller.require(ADMIN)
        result = users.upsert_user(self.db, email, name, role, password)
        self.db.commit()
        return result
