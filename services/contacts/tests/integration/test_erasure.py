"""The append-only audit trigger after migration f8906fa0d9d9 (G1): only an erasure may rewrite content."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from contacts import audit
from contacts.models import AuditEntry
from crm_shared.auth import Caller

ADMIN = Caller(user_id="u-admin", role="admin", name="Ada Admin", email="admin@demo.crm")


def entry(db_session) -> int:
    audit.append(db_session, ADMIN, "update", "contact", "c-trigger", {"email": "a@x.example"}, None)
    db_session.flush()
    audit.reset_chain(db_session)
    return db_session.scalar(sa.select(sa.func.max(AuditEntry.id)))


def attempt(db_session, sql: str, **params) -> bool:
    """True when the statement went through (inside a savepoint, so a refusal leaves the test usable)."""
    try:
        with db_session.begin_nested():
            db_session.execute(sa.text(sql), params)
        return True
    except DBAPIError as exc:
        assert "append-only" in str(exc)
        return False


@pytest.mark.parametrize("erasure", [False, True])
def test_only_an_erasure_rewrites_content_and_nothing_deletes(db_session, erasure):
    row_id = entry(db_session)
    if erasure:
        db_session.execute(sa.text("SET LOCAL crm.gdpr_erasure = 'on'"))
    content = attempt(db_session, "UPDATE audit_log SET before = '{\"email\": \"[erased]\"}' WHERE id = :i", i=row_id)
    assert content is erasure
    assert not attempt(db_session, "UPDATE audit_log SET hash = repeat('1', 64) WHERE id = :i", i=row_id)
    assert not attempt(db_session, "UPDATE audit_log SET action = 'create' WHERE id = :i", i=row_id)
    assert not attempt(db_session, "DELETE FROM audit_log WHERE id = :i", i=row_id)
