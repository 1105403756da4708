"""Small helpers the end-to-end suites share: unique values, polling for eventual effects, a new contact.

Effects that travel over the bus (timeline entries, scores, memberships) arrive a moment after the
call that caused them, so tests poll for them instead of sleeping a fixed time.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def uid() -> str:
    """A short unique tag for emails, tags and names that must not collide across tests."""
    return uuid.uuid4().hex[:10]


def letters() -> str:
    """A unique tag that passes the contacts name rules (letters only)."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10])


def poll(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """The first truthy value of ``check``, or its last value once ``timeout`` has passed.

    For tests that assert on the value themselves (including that something did not happen).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def wait_for(check: Callable[[], Any], timeout: float = 45.0, what: str = "condition",
             interval: float = 0.2) -> Any:
    """The first truthy value of ``check``; an AssertionError naming ``what`` if none came in time."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def new_contact(client: Any, **fields: Any) -> dict:
    """Create a contact through the gateway (valid defaults, a unique email) and return its body."""
    body = {"first_name": "Test", "last_name": "Person", "email": f"t.{uid()}@example.com", **fields}
    response = client.post("/api/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def query(service: str, sql: str, **params: Any) -> list:
    """Rows of one SQL statement on a service's own database (for effects the API does not show)."""
    import sqlalchemy as sa

    from crm_shared.config import database_url

    engine = sa.create_engine(database_url(service), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


@contextmanager
def statements(session: Any) -> Iterator[list[str]]:
    """The SQL statements a session sends meanwhile (batch handlers must not go per item)."""
    import sqlalchemy as sa

    seen: list[str] = []
    conn = session.connection()

    def note(conn_, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(conn, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", note)


IMPORT_WORKER = "import-worker-1"
IMPORT_PAUSE_VARS = ("CRM_IMPORT_PAUSE_AT", "CRM_IMPORT_PAUSE_FILE", "CRM_IMPORT_PAUSE_SECONDS",
                     "CRM_IMPORT_COMMIT_CHUNK")


def rabbitmqctl(*args: str) -> None:
    """The local broker's control tool (chaos tests stop and start the broker application with it)."""
    import subprocess

    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, stdout=subprocess.DEVNULL)


def restart_import_worker(system: Any, **env: str) -> None:
    """Restart the import worker with the pipeline's test hooks set to ``env`` (none: a plain worker)."""
    system.stop_one(IMPORT_WORKER)
    for key in IMPORT_PAUSE_VARS:
        system.env.pop(key, None)
    system.env.update(env)
    system.start_one(IMPORT_WORKER)
