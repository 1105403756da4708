"""Every role x every endpoint of the OpenAPI document (RELIABILITY A2).

The document is generated from the views themselves (their role decorator
and schemas), so this matrix grows with the API: a new endpoint without a
role check, or with the wrong roles, fails here.
"""
from __future__ import annotations

import re
import uuid

import pytest

from crm_shared.testing.api import ApiClient

ROLES = ("admin", "marketing", "sales", "executive")
_PARAM = re.compile(r"{[^}]+}")


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, ops in sorted(spec["paths"].items()) for method, op in sorted(ops.items())]


def _fill(path: str) -> str:
    return _PARAM.sub(lambda _: str(uuid.uuid4()), path)


def _allowed(op: dict) -> set[str] | None:
    description = op.get("description", "")
    if not description.startswith("Roles: "):
        return None
    return {r.strip() for r in description[len("Roles: "):].split(",")}


@pytest.fixture(scope="module")
def spec(api):
    return api.get("/api/v1/openapi.json").json()


@pytest.fixture(scope="module")
def clients(api) -> dict[str, ApiClient]:
    return {role: api.as_role(role) for role in ROLES}


def test_every_api_route_is_documented(crm_system, spec):
    """The gateway's routes under /api/v1 all appear in the OpenAPI document."""
    from gateway.app import create_app

    app = create_app()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or "<path:unknown>" in rule.rule:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def test_secured_endpoints_refuse_anonymous_callers(api, spec):
    failures = []
    for path, method, op in _operations(spec):
        if "security" not in op:
            continue
        response = api.request(method.upper(), _fill(path), json={})
        if response.status_code != 401:
            failures.append(f"{method.upper()} {path}: {response.status_code}")
    assert failures == []


def test_roles_outside_an_endpoint_get_403(spec, clients):
    failures = []
    checked = 0
    for path, method, op in _operations(spec):
        allowed = _allowed(op)
        if allowed is None:
            continue
        for role in set(ROLES) - allowed:
            checked += 1
            response = clients[role].request(method.upper(), _fill(path), json={})
            if response.status_code != 403:
                failures.append(f"{role} {method.upper()} {path}: {response.status_code}")
    assert checked > 0
    assert failures == []


def test_executive_is_read_only(spec):
    """No endpoint that changes data admits executives (previews compute without storing)."""
    writes = [f"{m.upper()} {p}" for p, m, op in _operations(spec)
              if m in ("post", "put", "patch", "delete") and not p.endswith("/preview")
              and "executive" in (_allowed(op) or set())]
    assert writes == []
