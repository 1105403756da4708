"""Login brute force is rate-limited (RELIABILITY A7), counted in the real Redis."""
import uuid

import pytest

from gateway.app import create_app


@pytest.fixture()
def client(monkeypatch):
    monkeypatch.setenv("CRM_RATE_LIMITS", "on")
    monkeypatch.setenv("CRM_DB_PREFIX", f"rl_{uuid.uuid4().hex[:8]}_")  # a fresh key space per test
    import gateway.api.auth as auth_api

    def fake_call(service, method, email, password, source_ip=None):
        return {"id": "u1", "name": "U", "email": email, "role": "sales"}

    monkeypatch.setattr(auth_api, "call", fake_call)
    return create_app().test_client()


def test_login_attempts_per_email_are_limited(client):
    email = f"victim{uuid.uuid4().hex[:6]}@example.com"
    statuses = [client.post("/api/v1/auth/login", json={"email": email, "password": "guess"}).status_code
                for _ in range(11)]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    refused = client.post("/api/v1/auth/login", json={"email": email, "password": "guess"})
    body = refused.json
    assert body["error"]["code"] == "rate_limited" and body["error"]["details"]["retry_after_s"] > 0
    assert refused.headers["Retry-After"] == str(body["error"]["details"]["retry_after_s"])
    other = client.post("/api/v1/auth/login", json={"email": f"x{email}", "password": "guess"})
    assert other.status_code == 200


def test_limits_can_be_switched_off_for_test_environments(client, monkeypatch):
    monkeypatch.setenv("CRM_RATE_LIMITS", "off")
    email = f"many{uuid.uuid4().hex[:6]}@example.com"
    assert all(client.post("/api/v1/auth/login", json={"email": email, "password": "p"}).status_code == 200
               for _ in range(15))


def test_retry_after_header_is_whole_seconds_for_429_and_503_only():
    from crm_shared.errors import NotFound, RateLimited, ServiceUnavailable
    from gateway.errors import retry_after_header

    assert retry_after_header(RateLimited("slow down", {"retry_after_s": 18720})) == "18720"
    assert retry_after_header(RateLimited("slow down", {"retry_after_s": 0.2})) == "1"
    assert retry_after_header(ServiceUnavailable("busy", {"retry_after_s": 2.5})) == "3"
    assert retry_after_header(RateLimited("slow down", {})) is None
    assert retry_after_header(RateLimited("slow down", {"retry_after_s": True})) is None
    assert retry_after_header(NotFound("gone", {"retry_after_s": 5})) is None
