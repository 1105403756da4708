"""RELIABILITY A1/A2 at every service, not only contacts: a direct RPC with a forged context gets nothing.

Each service reads the caller from the signed token in the RPC context itself. Here every service's
mutating entrypoints are called (nameko's worker_factory, every dependency a mock) with a context that
claims to be an admin without a valid token, and with a valid token of a role the call does not allow.
A service that trusted loose context fields, or left the check to the gateway, would reach its mocks.
"""
from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from crm_shared.auth import create_token
from crm_shared.errors import Forbidden, Unauthorized
from crm_shared.service import RequestContext
from crm_shared.service_classes import load_service

FORGED = {"auth_token": "forged", "user_id": "u-admin", "role": "admin", "caller": {"role": "admin"}}

CALLS = [
    ("contacts", "create_contact", ({"first_name": "A", "last_name": "B", "email": "a@b.co"},)),
    ("contacts", "update_contact", ("c1", {"position": "Hacked"})),
    ("segments", "create_segment", ({"name": "Forged"},)),
    ("segments", "add_members", ("s1", ["c1"])),
    ("scoring", "record_engagement", ({"contact_id": "c1", "type": "demo_requested"},)),
    ("scoring", "update_model", ({"weights": {}},)),
    ("messaging", "create_template", ({"name": "x", "subject": "s", "body": "b"},)),
    ("messaging", "send_emails", ({"contact_ids": ["c1"], "subject": "s", "body": "b"},)),
    ("messaging", "log_call", ({"contact_id": "c1", "purpose": "Discovery Call"},)),
    ("imports", "create_import", ("x.csv", "TmFtZQo=")),
]

WRONG_ROLE = [   # a valid token, a role the entrypoint refuses
    ("segments", "add_members", ("s1", ["c1"]), "executive"),
    ("scoring", "record_engagement", ({"contact_id": "c1", "type": "demo_requested"},), "executive"),
    ("scoring", "update_model", ({"weights": {}},), "marketing"),
    ("messaging", "create_template", ({"name": "x", "subject": "s", "body": "b"},), "sales"),
    ("messaging", "send_emails", ({"contact_ids": ["c1"], "subject": "s", "body": "b"},), "executive"),
    ("messaging", "log_call", ({"contact_id": "c1", "purpose": "Discovery Call"},), "executive"),
]


def _service(name: str, context: dict):
    return worker_factory(load_service(name), ctx=RequestContext(context, name))


@pytest.mark.parametrize(("service", "method", "args"), CALLS, ids=[f"{s}.{m}" for s, m, _ in CALLS])
def test_a_forged_context_is_unauthorized_at_the_service(service, method, args):
    svc = _service(service, FORGED)
    with pytest.raises(Unauthorized):
        getattr(svc, method)(*args)
    assert not svc.db.method_calls, "the service touched its database for a forged caller"


@pytest.mark.parametrize(("service", "method", "args", "role"), WRONG_ROLE,
                         ids=[f"{s}.{m}-{r}" for s, m, _, r in WRONG_ROLE])
def test_a_role_outside_the_call_is_forbidden_at_the_service(service, method, args, role):
    svc = _service(service, {"auth_token": create_token(f"u-{role}", role, name=role)})
    with pytest.raises(Forbidden):
        getattr(svc, method)(*args)
