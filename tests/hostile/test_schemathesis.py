"""Schemathesis over the gateway's own OpenAPI document: generated requests never cause a server error.

Runs as an admin (the widest surface) and as a sales user (ownership paths),
a bounded number of examples per operation.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.timeout(900)

EXAMPLES_PER_OPERATION = 4


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_no_server_errors_for_generated_requests(api, role):
    client = api.as_role(role)
    spec = api.get("/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {client.token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=api.base_url, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"body={str(case.body)[:200]} query={case.query} {response.text[:200]}")

        check()
    assert operations > 10
    assert failures == [], "\n".join(failures[:20])
