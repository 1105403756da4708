"""The hourly per-user export quota (RELIABILITY A4/A5) on real PostgreSQL: a sliding hour over the audit log."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from contacts import operations
from contacts.models import User
from contacts.operations import ContactOps
from crm_shared.auth import Caller
from crm_shared.errors import RateLimited


def _ops(session) -> ContactOps:
    user = User(email=f"exporter.{uuid.uuid4().hex[:6]}@t.crm", name="Exporter", role="admin", password_hash="x")
    session.add(user)
    session.flush()
    return ContactOps(session, Caller(user_id=user.id, role="admin", name=user.name), emit=lambda t, d: None,
                      emit_many=lambda t, items: None)


def test_the_export_quota_says_when_the_oldest_export_of_the_hour_frees_a_slot(db_session, monkeypatch):
    ops = _ops(db_session)
    for _ in range(3):
        ops.export({"q": "nobody-matches-this"}, quota=3)

    class FiftyMinutesLater(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(minutes=50)

    monkeypatch.setattr(operations, "datetime", FiftyMinutesLater)
    with pytest.raises(RateLimited) as refused:
        ops.export({"q": "nobody-matches-this"}, quota=3)
    assert refused.value.details["limit"] == 3
    assert 590 <= refused.value.details["retry_after_s"] <= 601   # the first export leaves the hour in 10 minutes
