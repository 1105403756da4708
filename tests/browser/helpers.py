"""Steps the browser tests share: signing in and making test data through the public API."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from crm_shared.testing.api import DEMO_PASSWORD, DEMO_USERS


def login(page, role: str) -> None:
    """Signs in through the login form as the demo user of ``role``."""
    page.goto("/")
    page.wait_for_url("**/login**")
    page.get_by_label("Email").fill(DEMO_USERS[role])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_test_id("role-badge").wait_for()


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def letters(text: str) -> str:
    """Digits spelled as letters: contact names may hold only letters, spaces, hyphens, apostrophes, dots."""
    return text.translate(str.maketrans("0123456789", "ghijklmnop")).capitalize()


def create_contact(client, **fields: Any) -> dict:
    tag = unique()
    body = {"first_name": "Test", "last_name": f"Person{letters(tag).lower()}", "email": f"t{tag}@example.com",
            **fields}
    response = client.post("/api/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.3, what: str = "condition") -> Any:
    """Polls ``check`` until it returns something truthy; fails with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last value: {last!r})")
