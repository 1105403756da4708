"""A small HTTP client for tests and benchmarks that signs in as a demo user."""
from __future__ import annotations

import time
from typing import Any

import requests

DEMO_PASSWORD = "demo-password"
DEMO_USERS = {
    "admin": "admin@demo.crm",
    "marketing": "marketing@demo.crm",
    "sales": "sales@demo.crm",
    "sales2": "sales2@demo.crm",
    "executive": "exec@demo.crm",
}


class ApiClient:
    def __init__(self, base_url: str, token: str | None = None, user: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.token = token
        self.user = user or {}
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def login(self, email: str, password: str = DEMO_PASSWORD, attempts: int = 5) -> ApiClient:
        """Sign in; a 503 (an overloaded machine timing out the scrypt check) is asked again."""
        for attempt in range(attempts):
            response = requests.post(self.url("/api/v1/auth/login"), json={"email": email, "password": password},
                                     timeout=30)
            if response.status_code != 503 or attempt == attempts - 1:
                break
            time.sleep(2)
        response.raise_for_status()
        body = response.json()
        return ApiClient(self.base_url, body["access_token"], body["user"])

    def as_role(self, role: str) -> ApiClient:
        """Signed in as the demo user of ``role`` (``sales2`` is the second sales user)."""
        return self.login(DEMO_USERS[role])
