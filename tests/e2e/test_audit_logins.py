"""Sign-ins are in the audit log (RELIABILITY L1): one record per attempt, successful or not, in the chain."""
from __future__ import annotations

import requests

from crm_shared.testing.api import DEMO_USERS


def _entries(admin, **params) -> list[dict]:
    response = admin.get("/api/v1/audit", params={"per_page": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_each_sign_in_attempt_is_audited_and_the_chain_stays_valid(api):
    admin = api.as_role("admin")
    before_failed = {e["id"] for e in _entries(admin, action="login_failed")}
    sales = api.as_role("sales")

    wrong = requests.post(api.url("/api/v1/auth/login"), json={"email": DEMO_USERS["sales"], "password": "nope"},
                          timeout=30)
    assert wrong.status_code == 401, wrong.text
    unknown = requests.post(api.url("/api/v1/auth/login"),
                            json={"email": "nobody.audit@example.com", "password": "whatever"}, timeout=30)
    assert unknown.status_code == 401, unknown.text

    logins = _entries(admin, action="login", actor_id=sales.user["id"])
    assert logins and logins[0]["entity"] == "user" and logins[0]["entity_id"] == sales.user["id"]
    assert logins[0]["actor_role"] == "sales" and logins[0]["details"]["source_ip"]
    failed = [e for e in _entries(admin, action="login_failed") if e["id"] not in before_failed]
    by_email = {e["details"]["email"]: e for e in failed}
    assert by_email[DEMO_USERS["sales"]]["details"]["reason"] == "wrong_password"
    assert by_email[DEMO_USERS["sales"]]["entity_id"] == sales.user["id"]
    assert by_email["nobody.audit@example.com"]["details"]["reason"] == "unknown_or_inactive_user"
    assert by_email["nobody.audit@example.com"]["actor_id"] is None
    assert "nope" not in str(failed)                       # never the password

    verified = admin.get("/api/v1/audit/verify")
    assert verified.status_code == 200 and verified.json()["valid"] is True, verified.text
    assert sales.get("/api/v1/audit").status_code == 403
