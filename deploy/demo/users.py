"""The demo users of API.md, one per role (and a second sales user)."""
from __future__ import annotations

from crm_shared.rpc import RpcClient
from crm_shared.testing.api import DEMO_PASSWORD

ORDER = 10

USERS = [
    ("admin@demo.crm", "Alex Admin", "admin"),
    ("marketing@demo.crm", "Maya Marketing", "marketing"),
    ("sales@demo.crm", "Sam Sales", "sales"),
    ("sales2@demo.crm", "Sofia Sales", "sales"),
    ("exec@demo.crm", "Evan Executive", "executive"),
]


def load(rpc: RpcClient, context: dict) -> None:
    users = {}
    for email, name, role in USERS:
        user = rpc.call("contacts", "upsert_user", email, name, role, DEMO_PASSWORD,
                        context=context["system_context"])
        users[email] = user
    context["users"] = users
    context["users_by_role"] = {role: users[email] for email, _, role in reversed(USERS)}
