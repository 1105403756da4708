"""The per-organisation daily send cap (RELIABILITY A7), kept race-safe in the database.

``daily_send_counts`` holds one row per organisation and UTC day with the
number of emails claimed for sending. Every path that decides about the cap
locks that row first (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), so
two bulk requests, two sender replicas or the campaign timer cannot both take
the last slots:
- ``enqueue`` (bulk send API) refuses with 429 when the recipients do not fit
  in what is left today (cap - claimed - already queued for today);
- ``claim`` never claims more than the cap allows (rows beyond stay queued);
- the campaign timer defers a due step to the reset (``hold_reason``
  ``daily_send_cap``) instead of queuing it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.config import daily_send_cap, organization_id
from messaging.models import DailySendCount, Email, Enrollment, SendSettings
from messaging.rules import cap_window, fail, remaining_today, utcnow

MAX_CAP = 10_000_000


@dataclass
class Budget:
    cap: int
    claimed: int
    pending: int
    day: date
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return remaining_today(self.cap, self.claimed, self.pending)

    def to_dict(self) -> dict[str, Any]:
        return {"cap": self.cap, "default_cap": daily_send_cap(), "claimed_today": self.claimed,
                "queued_today": self.pending, "remaining": self.remaining, "day": self.day.isoformat(),
                "resets_at": self.resets_at.isoformat()}


def effective_cap(session: Session) -> int:
    row = session.get(SendSettings, organization_id())
    return row.daily_cap if row is not None and row.daily_cap is not None else daily_send_cap()


def lock_day(session: Session, day: date) -> int:
    """Lock (creating it if needed) the counter row of ``day``; returns the sends claimed that day."""
    return session.execute(
        insert(DailySendCount).values(organization_id=organization_id(), day=day, claimed=0)
        .on_conflict_do_update(index_elements=["organization_id", "day"],
                               set_={"claimed": DailySendCount.claimed})
        .returning(DailySendCount.claimed)).scalar_one()


def claimed_on(session: Session, day: date) -> int:
    return session.execute(sa.select(DailySendCount.claimed).where(
        DailySendCount.organization_id == organization_id(), DailySendCount.day == day)).scalar() or 0


def add_claimed(session: Session, day: date, n: int) -> None:
    if n:
        session.execute(sa.update(DailySendCount).where(
            DailySendCount.organization_id == organization_id(), DailySendCount.day == day)
            .values(claimed=DailySendCount.claimed + n))


def pending_on(session: Session, day: date, today: date) -> int:
    """Queued (not yet claimed) outbound rows that will count against ``day``."""
    start = datetime.combine(day, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    end = start + timedelta(days=1)
    due = sa.or_(Email.send_at.is_(None), Email.send_at < end) if day <= today \
        else sa.and_(Email.send_at >= start, Email.send_at < end)
    return session.execute(sa.select(sa.func.count()).where(
        Email.status == "queued", Email.direction == "outbound", due)).scalar_one()


def budget(session: Session, at: datetime | None = None, lock: bool = True) -> Budget:
    """What is left of the cap on the UTC day of ``at`` (now by default); locks the day's row."""
    now = utcnow()
    day, resets_at = cap_window(at or now)
    today, _ = cap_window(now)
    claimed = lock_day(session, day) if lock else claimed_on(session, day)
    return Budget(effective_cap(session), claimed, pending_on(session, day, today), day, resets_at)


def status(session: Session) -> dict[str, Any]:
    return budget(session, lock=False).to_dict()


def set_cap(session: Session, cap: int | None, user_id: str | None) -> dict[str, Any]:
    """Override the cap for this organisation (None: back to CRM_DAILY_SEND_CAP); campaign steps
    deferred by the cap are re-examined at once."""
    if cap is not None and not (0 <= int(cap) <= MAX_CAP):
        raise fail("cap", f"must be between 0 and {MAX_CAP}")
    session.execute(insert(SendSettings).values(
        organization_id=organization_id(), daily_cap=cap, updated_by=user_id, updated_at=utcnow())
        .on_conflict_do_update(index_elements=["organization_id"],
                               set_={"daily_cap": cap, "updated_by": user_id, "updated_at": utcnow()}))
    session.execute(sa.update(Enrollment).where(
        Enrollment.status == "active", Enrollment.hold_reason == "daily_send_cap").values(next_due_at=utcnow()))
    session.flush()
    return status(session)
