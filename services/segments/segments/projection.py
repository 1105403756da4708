"""The contact projection: what events tell us about contacts, kept in our own table.

Each function applies one fact and reports whether a row changed, so the
caller re-evaluates memberships only when something could have moved.
Snapshots older than what we hold are ignored (events may arrive out of
order); engagement facts arriving before the contact itself create an
``known = false`` row that criteria never match until its snapshot comes.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.criteria import role_class, to_datetime, to_number
from segments.models import ContactProjection

P = ContactProjection.__table__
_TEXT_FIELDS = ("first_name", "last_name", "email", "phone", "company", "position", "department", "industry",
                "owner_id", "stage", "type", "channel", "source")


def _text(value: Any, limit: int = 1000) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("name")
        if value is None:
            return None
    text = str(value).strip()
    return text[:limit] or None


def snapshot_row(contact: Mapping[str, Any]) -> dict[str, Any]:
    """Projection columns from an API-shaped contact snapshot (contacts events, iter_contacts)."""
    row: dict[str, Any] = {name: _text(contact.get(name)) for name in _TEXT_FIELDS}
    full = " ".join(p for p in (row["first_name"], row["last_name"]) if p) or _text(contact.get("name"))
    address = contact.get("address") if isinstance(contact.get("address"), Mapping) else {}
    tags = contact.get("tags") or []
    custom = contact.get("custom_fields") if isinstance(contact.get("custom_fields"), Mapping) else {}
    row.update(
        contact_id=str(contact["id"]), known=True, name=full, role_class=role_class(row["position"]),
        city=_text(address.get("city") or contact.get("city")),
        state=_text(address.get("state") or contact.get("state")),
        country=_text(address.get("country") or contact.get("country")),
        company_size=to_number(contact.get("company_size")),
        annual_revenue=to_number(contact.get("annual_revenue")),
        tags=sorted({str(t).strip().lower() for t in tags if str(t).strip()}) if isinstance(tags, list) else [],
        unsubscribed=bool(contact["unsubscribed"]) if contact.get("unsubscribed") is not None else None,
        custom_fields=dict(custom),
        created_at=to_datetime(contact.get("created_at")),
        updated_at=to_datetime(contact.get("updated_at")),
        last_contact_at=to_datetime(contact.get("last_contact_at")),
        projected_at=datetime.now(UTC),
    )
    score = contact.get("score")
    row["_score"] = int(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    return row


def apply_snapshots(session: Session, contacts: Iterable[Mapping[str, Any]]) -> list[str]:
    """Upsert contact snapshots; return the ids whose row changed (newer or equal snapshots only).

    A snapshot's ``score`` fills the score only until scoring's own
    ``score_changed`` has been applied (scoring owns the score).
    """
    rows = [snapshot_row(c) for c in contacts if c.get("id")]
    if not rows:
        return []
    changed: list[str] = []
    for row in rows:
        score = row.pop("_score")
        stmt = insert(P).values(**row, score=score)
        update = {k: stmt.excluded[k] for k in row if k != "contact_id"}
        update["score"] = sa.case((P.c.score_at.is_(None), sa.func.coalesce(stmt.excluded.score, P.c.score)),
                                  else_=P.c.score)
        stmt = stmt.on_conflict_do_update(
            index_elements=[P.c.contact_id], set_=update,
            where=sa.or_(P.c.updated_at.is_(None), stmt.excluded.updated_at.is_(None),
                         P.c.updated_at <= stmt.excluded.updated_at, P.c.known.is_(False)),
        ).returning(P.c.contact_id)
        if session.execute(stmt).first() is not None:
            changed.append(row["contact_id"])
    return changed


def _ensure(session: Session, contact_id: str) -> None:
    session.execute(insert(P).values(contact_id=contact_id, known=False).on_conflict_do_nothing())


def apply_stage(session: Session, contact_id: str, stage: str) -> bool:
    result = session.execute(P.update().where(P.c.contact_id == contact_id)
                             .values(stage=_text(stage), projected_at=sa.func.now()))
    return result.rowcount > 0


def apply_score(session: Session, data: Mapping[str, Any], occurred_at: Any = None) -> bool:
    """scoring's ``score_changed``: score, fit, engagement points and engagement level."""
    contact_id = str(data["contact_id"])
    _ensure(session, contact_id)
    moment = to_datetime(occurred_at) or datetime.now(UTC)
    result = session.execute(P.update().where(
        (P.c.contact_id == contact_id) & sa.or_(P.c.score_at.is_(None), P.c.score_at <= moment)
    ).values(score=data.get("score"), fit=data.get("fit"), engagement=data.get("engagement"),
             engagement_level=data.get("engagement_level"), score_at=moment, projected_at=sa.func.now()))
    return result.rowcount > 0


def apply_engagement(session: Session, contact_id: str, kind: str, occurred_at: Any) -> bool:
    """An engagement fact (scoring ``engagement_recorded``, messaging ``email_opened``): keep its latest time.

    One conditional UPDATE, so concurrent facts for one contact cannot undo each other.
    """
    moment = (to_datetime(occurred_at) or datetime.now(UTC)).astimezone(UTC)
    kind = str(kind).strip().lower()
    _ensure(session, contact_id)
    previous = sa.cast(P.c.events.op("->>")(kind), sa.DateTime(timezone=True))
    values: dict[str, Any] = {
        "events": P.c.events.op("||")(sa.func.jsonb_build_object(kind, moment.isoformat())),
        "projected_at": sa.func.now(),
    }
    if kind == "demo_requested":
        values["demo_requested"] = True
    if kind == "email_opened":
        values["last_email_opened_at"] = moment
    result = session.execute(P.update().where(P.c.contact_id == contact_id,
                                              sa.or_(previous.is_(None), previous < moment)).values(**values))
    return result.rowcount > 0


def apply_campaign(session: Session, contact_id: str, campaign_id: str, name: str, enrolled: bool) -> bool:
    """Campaign membership facts from messaging (atomic array updates: concurrent enrolments both land)."""
    _ensure(session, contact_id)
    label = (name or "").strip().lower()
    campaign_id = str(campaign_id)
    row = P.c.contact_id == contact_id
    if enrolled:
        values = {"campaign_ids": sa.case((P.c.campaign_ids.any(campaign_id), P.c.campaign_ids),
                                          else_=sa.func.array_append(P.c.campaign_ids, campaign_id))}
        if label:
            values["campaigns"] = sa.case((P.c.campaigns.any(label), P.c.campaigns),
                                          else_=sa.func.array_append(P.c.campaigns, label))
        changed = sa.not_(P.c.campaign_ids.any(campaign_id))
    else:
        values = {"campaign_ids": sa.func.array_remove(P.c.campaign_ids, campaign_id),
                  "campaigns": sa.func.array_remove(P.c.campaigns, label)}
        changed = P.c.campaign_ids.any(campaign_id)
    result = session.execute(P.update().where(row, changed).values(**values, projected_at=sa.func.now()))
    return result.rowcount > 0


def delete_contacts(session: Session, contact_ids: Iterable[str]) -> None:
    ids = [str(i) for i in contact_ids]
    if ids:
        session.execute(P.delete().where(P.c.contact_id.in_(ids)))


def known_ids(session: Session, contact_ids: Iterable[str]) -> set[str]:
    ids = [str(i) for i in contact_ids]
    if not ids:
        return set()
    return set(session.scalars(sa.select(P.c.contact_id).where(P.c.contact_id.in_(ids), P.c.known.is_(True))))


def record(session: Session, contact_id: str) -> dict[str, Any] | None:
    """The projected attributes of one contact as a flat record (``crm_shared.criteria.matches`` input)."""
    row = session.execute(sa.select(P).where(P.c.contact_id == contact_id)).mappings().first()
    if row is None:
        return None
    data = dict(row)
    for key in ("company_size", "annual_revenue"):
        if data[key] is not None:
            data[key] = float(data[key])
    return data


def remove_stale(session: Session, before: datetime) -> list[str]:
    """After a rebuild: contacts the contacts service no longer has (not seen since ``before``)."""
    rows = session.execute(P.delete().where(P.c.known.is_(True), P.c.projected_at < before)
                           .returning(P.c.contact_id)).scalars().all()
    return list(rows)
