"""A contact's communication history: emails and calls, newest first, 25 a page (seed 000 Communication tab)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import make_msgid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from messaging.calls import call_dict, follow_ups_of_calls
from messaging.models import Call, Email
from messaging.rules import EMAIL_STATUSES, fail, one_of

HIDDEN_EMAIL_STATUSES = ("queued", "sending", "refused")
PREVIEW = 150


def email_dict(e: Email) -> dict[str, Any]:
    return {"id": e.id, "type": "email", "direction": e.direction, "title": e.subject, "subject": e.subject,
            "status": e.status, "occurred_at": e.occurred_at.isoformat(), "date": e.occurred_at.date().isoformat(),
            "preview": e.body[:PREVIEW], "content": e.body, "from": e.from_email, "to": e.to_email,
            "thread_id": e.thread_id or e.id, "in_reply_to": e.in_reply_to, "depth": 1 if e.in_reply_to else 0,
            "message_id": e.message_id, "campaign_id": e.campaign_id, "template_id": e.template_id,
            "sent_at": e.sent_at.isoformat() if e.sent_at else None,
            "opened_at": e.opened_at.isoformat() if e.opened_at else None,
            "clicked_at": e.clicked_at.isoformat() if e.clicked_at else None,
            "replied_at": e.replied_at.isoformat() if e.replied_at else None,
            "open_count": e.open_count, "click_count": e.click_count}


def list_communications(session: Session, contact_id: str, page: int = 1, per_page: int = 25,
                        type: str | None = None, q: str | None = None,  # noqa: A002 (the API's name)
                        filters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    filters = filters or {}
    if type:
        one_of("type", type, ("email", "call"))
    if not 1 <= per_page <= 200:
        raise fail("per_page", "between 1 and 200")
    date_from: datetime | None = filters.get("from")
    date_to: datetime | None = filters.get("to")
    direction = filters.get("direction")
    if direction:
        one_of("direction", direction, ("inbound", "outbound"))

    emails = sa.select(Email).where(Email.contact_id == contact_id, Email.status.not_in(HIDDEN_EMAIL_STATUSES))
    calls = sa.select(Call).where(Call.contact_id == contact_id)
    if q:
        like = f"%{q}%"
        emails = emails.where(sa.or_(Email.subject.ilike(like), Email.body.ilike(like)))
        calls = calls.where(sa.or_(Call.notes.ilike(like), Call.purpose.ilike(like), Call.outcome.ilike(like)))
    if date_from:
        emails, calls = emails.where(Email.occurred_at >= date_from), calls.where(Call.occurred_at >= date_from)
    if date_to:
        emails, calls = emails.where(Email.occurred_at <= date_to), calls.where(Call.occurred_at <= date_to)
    if direction:
        emails, calls = emails.where(Email.direction == direction), calls.where(Call.direction == direction)
    if filters.get("status"):
        emails = emails.where(Email.status == str(filters["status"]).lower())
        calls = calls.where(sa.func.lower(Call.status) == str(filters["status"]).lower())

    want_emails, want_calls = type in (None, "email"), type in (None, "call")
    top = page * per_page
    total = 0
    found: list[tuple[datetime, dict[str, Any]]] = []
    if want_emails:
        total += session.execute(sa.select(sa.func.count()).select_from(emails.subquery())).scalar_one()
        for e in session.execute(emails.order_by(Email.occurred_at.desc()).limit(top)).scalars():
            found.append((e.occurred_at, email_dict(e)))
    if want_calls:
        total += session.execute(sa.select(sa.func.count()).select_from(calls.subquery())).scalar_one()
        rows = session.execute(calls.order_by(Call.occurred_at.desc()).limit(top)).scalars().all()
        ups = follow_ups_of_calls(session, [c.id for c in rows])
        for c in rows:
            item = call_dict(c, ups.get(c.id, []))
            item.update(type="call", title=c.purpose, date=c.occurred_at.date().isoformat(),
                        preview=c.notes[:PREVIEW])
            found.append((c.occurred_at, item))
    found.sort(key=lambda pair: pair[0], reverse=True)
    items = [item for _, item in found[(page - 1) * per_page: top]]
    groups: list[dict[str, Any]] = []
    for item in items:
        if not groups or groups[-1]["date"] != item["date"]:
            groups.append({"date": item["date"], "items": []})
        groups[-1]["items"].append(item["id"])
    return {"items": items, "total": total, "page": page, "per_page": per_page, "groups": groups}


def record_email(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    """Log an email exchanged outside the CRM (an old mailbox, the demo data) without sending anything."""
    contact_id = data.get("contact_id")
    if not contact_id:
        raise fail("contact_id", "is required")
    direction = one_of("direction", data.get("direction") or "outbound", ("inbound", "outbound"))
    status = one_of("status", data.get("status") or ("received" if direction == "inbound" else "sent"),
                    EMAIL_STATUSES)
    subject = (data.get("subject") or "").strip()
    if not subject:
        raise fail("subject", "is required")
    occurred_at = data.get("occurred_at")
    if not isinstance(occurred_at, datetime):
        raise fail("occurred_at", "is required")
    parent = session.get(Email, data["reply_to_email_id"]) if data.get("reply_to_email_id") else None
    if data.get("reply_to_email_id") and parent is None:
        raise fail("reply_to_email_id", "unknown email")
    row = Email(contact_id=str(contact_id), direction=direction, status=status, subject=subject[:255],
                   body=data.get("body") or "", from_email=data.get("from_email"), to_email=data.get("to_email"),
                   template_id=data.get("template_id"), campaign_id=data.get("campaign_id"),
                   message_id=make_msgid(domain="logged.crm"), in_reply_to=parent.message_id if parent else None,
                   thread_id=(parent.thread_id or parent.id) if parent else None, occurred_at=occurred_at,
                   sent_at=occurred_at if direction == "outbound" else None,
                   delivered_at=occurred_at if status in ("delivered", "opened", "clicked", "replied") else None,
                   opened_at=occurred_at if status in ("opened", "clicked", "replied") else None,
                   clicked_at=occurred_at if status == "clicked" else None,
                   replied_at=occurred_at if status == "replied" and direction == "outbound" else None,
                   links=[], clicked_links=[])
    session.add(row)
    if parent is not None and parent.thread_id is None:
        parent.thread_id = parent.id
    session.flush()
    return email_dict(row)
