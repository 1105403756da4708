"""The contact projection: what events tell us about contacts, kept in our own table.

Each function applies one fact and reports whether a row changed, so the
caller re-evaluates memberships only when something could have moved.
Snapshots older than what we hold are ignored (events may arrive out of
order); engagement facts arriving before the contact itself create an
``known = false`` row that criteria never match until its snapshot comes.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
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

    An import's chunk (``contacts_created``) or a rebuild page brings 1,000
    snapshots: they go in one statement (the rows as one JSON parameter, so
    the SQL is the same for any number and compiles once), not one upsert
    each, which cost about 3 ms apiece in SQLAlchemy alone. A contact given
    twice is applied in rounds, in order, as applying them one by one would.
    """
    rows = [snapshot_row(c) for c in contacts if c.get("id")]
    if not rows:
        return []
    copy = _copy_numbers(rows)
    applied: set[tuple[int, str]] = set()
    for n in range(max(copy) + 1):
        batch = sorted((r for r, k in zip(rows, copy, strict=True) if k == n), key=lambda r: r["contact_id"])
        payload = json.dumps([_json_row(r) for r in batch], default=_json_value)
        applied.update((n, cid) for cid in session.execute(_SNAPSHOT_UPSERT, {"rows": payload}).scalars())
    return [r["contact_id"] for r, n in zip(rows, copy, strict=True) if (n, r["contact_id"]) in applied]


def _copy_numbers(rows: list[dict[str, Any]]) -> list[int]:
    """For each row, how many earlier rows have its contact: statement n applies the n-th copies.

    One upsert may not touch a row twice, and later copies must see the
    earlier ones applied, as applying the snapshots one by one would.
    """
    seen: dict[str, int] = {}
    numbers = []
    for row in rows:
        numbers.append(seen.get(row["contact_id"], 0))
        seen[row["contact_id"]] = numbers[-1] + 1
    return numbers


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "_score"}
    out["score"] = row["_score"]
    for key in ("company_size", "annual_revenue"):  # JSON has no infinity; numeric reads the text
        if isinstance(out[key], float) and not math.isfinite(out[key]):
            out[key] = str(out[key]).replace("inf", "Infinity")
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# The columns a snapshot sets (``snapshot_row``'s keys), then the score it may fill.
_SNAPSHOT_COLUMNS = tuple(k for k in snapshot_row({"id": "-"}) if k != "_score")


def _snapshot_upsert() -> sa.TextClause:
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote_identifier
    columns = (*_SNAPSHOT_COLUMNS, "score")
    names = ", ".join(quote(c) for c in columns)
    types = ", ".join(f"{quote(c)} {P.c[c].type.compile(dialect=dialect)}" for c in columns)
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _SNAPSHOT_COLUMNS if c != "contact_id")
    return sa.text(f"""
        INSERT INTO contact_projection AS p ({names})
        SELECT {names} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({types})
        WHERE NOT EXISTS (SELECT 1 FROM deleted_contacts d WHERE d.contact_id = r.contact_id)
        ON CONFLICT (contact_id) DO UPDATE SET {updates},
            score = CASE WHEN p.score_at IS NULL THEN coalesce(EXCLUDED.score, p.score) ELSE p.score END
        WHERE p.updated_at IS NULL OR EXCLUDED.updated_at IS NULL OR p.updated_at <= EXCLUDED.updated_at
              OR p.known IS FALSE
        RETURNING p.contact_id""")


_SNAPSHOT_UPSERT = _snapshot_upsert()


def _ensure(session: Session, contact_id: str) -> None:
    session.execute(_ENSURE_ROWS, {"ids": [contact_id]})


def apply_stage(session: Session, contact_id: str, stage: str) -> bool:
    result = session.execute(P.update().where(P.c.contact_id == contact_id)
                             .values(stage=_text(stage), projected_at=sa.func.now()))
    return result.rowcount > 0


def apply_score(session: Session, data: Mapping[str, Any], occurred_at: Any = None) -> bool:
    """scoring's ``score_changed``: score, fit, engagement points and engagement level."""
    return bool(apply_scores(session, [data], occurred_at))


def apply_scores(session: Session, items: Iterable[Mapping[str, Any]], occurred_at: Any = None) -> list[str]:
    """Many ``score_changed`` bodies (scoring's ``scores_changed``) in two statements; returns the ids updated.

    Bulk scoring (an import's chunk, the 4-hourly rescore) sends up to 1,000
    at once: one INSERT creates the rows of contacts not seen yet
    (``known = false``) and one UPDATE ... FROM (the bodies as arrays, so the
    SQL is the same for any number and compiles once) sets every score, each
    row only if no newer score is stored (``score_at <= moment``), so a late
    batch never overwrites a newer ``score_changed``. Rows go in contact order
    so concurrent batches lock them in the same order. Within one batch the
    last body of a contact wins, as applying them one by one would give.
    """
    latest: dict[str, Mapping[str, Any]] = {}
    for data in items:
        latest[str(data["contact_id"])] = data
    if not latest:
        return []
    ids = sorted(latest)
    session.execute(_ENSURE_ROWS, {"ids": ids})
    column = {name: [latest[cid].get(name) for cid in ids] for name in ("score", "fit", "engagement",
                                                                         "engagement_level")}
    updated = set(session.execute(_SCORES_UPDATE, {
        "ids": ids, "scores": column["score"], "fits": column["fit"], "engagements": column["engagement"],
        "levels": column["engagement_level"], "moment": to_datetime(occurred_at) or datetime.now(UTC),
    }).scalars())
    return [cid for cid in latest if cid in updated]


_ENSURE_ROWS = sa.text("""
    INSERT INTO contact_projection (contact_id, known)
    SELECT id, false FROM unnest(CAST(:ids AS text[])) AS id
    WHERE NOT EXISTS (SELECT 1 FROM deleted_contacts d WHERE d.contact_id = id)
    ON CONFLICT (contact_id) DO NOTHING""")   # rows for facts about contacts whose snapshot has not come yet

_SCORES_UPDATE = sa.text("""
    UPDATE contact_projection AS p
    SET score = s.score, fit = s.fit, engagement = s.engagement, engagement_level = s.engagement_level,
        score_at = :moment, projected_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:scores AS integer[]), CAST(:fits AS integer[]),
                CAST(:engagements AS integer[]), CAST(:levels AS double precision[]))
         AS s(contact_id, score, fit, engagement, engagement_level)
    WHERE p.contact_id = s.contact_id AND (p.score_at IS NULL OR p.score_at <= :moment)
    RETURNING p.contact_id""")


def apply_engagement(session: Session, contact_id: str, kind: str, occurred_at: Any) -> bool:
    """An engagement fact (scoring ``engagement_recorded``, messaging ``email_opened``): keep its latest time."""
    return bool(apply_engagements(session, [(contact_id, kind, occurred_at)]))


def apply_engagements(session: Session, facts: Iterable[tuple[str, str, Any]]) -> list[str]:
    """Many engagement facts ``(contact_id, kind, occurred_at)`` (``engagements_recorded``, ``emails_opened``):
    each contact keeps the latest time of each kind; returns the ids whose row changed.

    One INSERT for contacts not seen yet (``known = false``) and one conditional UPDATE ... FROM unnest
    per kind (a batch has one kind), contacts in id order: concurrent facts for one contact cannot undo
    each other, a late fact never overwrites a newer one, and the SQL is the same for any batch size.
    """
    latest: dict[str, dict[str, datetime]] = {}
    order: dict[str, None] = {}
    for contact_id, kind, occurred_at in facts:
        if not contact_id:
            continue   # an email to an address with no contact (logged mail): nothing to project
        moment = (to_datetime(occurred_at) or datetime.now(UTC)).astimezone(UTC)
        per_kind = latest.setdefault(str(kind).strip().lower(), {})
        cid = str(contact_id)
        order.setdefault(cid)
        if cid not in per_kind or per_kind[cid] < moment:
            per_kind[cid] = moment
    if not latest:
        return []
    session.execute(_ENSURE_ROWS, {"ids": sorted(order)})
    changed: set[str] = set()
    for kind, per_kind in latest.items():
        ids = sorted(per_kind)
        changed.update(session.execute(_ENGAGEMENT_UPDATES[_ENGAGEMENT_COLUMNS.get(kind, "")], {
            "kind": kind, "ids": ids, "moments": [per_kind[cid].isoformat() for cid in ids]}).scalars())
    return [cid for cid in order if cid in changed]


# kinds that also set a column of their own (criteria "Demo requested", "Email opened")
_ENGAGEMENT_COLUMNS = {"demo_requested": ", demo_requested = true",
                       "email_opened": ", last_email_opened_at = CAST(f.moment AS timestamptz)"}
_ENGAGEMENT_UPDATES = {extra: sa.text(f"""
    UPDATE contact_projection AS p
    SET events = p.events || jsonb_build_object(CAST(:kind AS text), f.moment), projected_at = now(){extra}
    FROM unnest(CAST(:ids AS text[]), CAST(:moments AS text[])) AS f(contact_id, moment)
    WHERE p.contact_id = f.contact_id
      AND (p.events ->> CAST(:kind AS text) IS NULL
           OR CAST(p.events ->> CAST(:kind AS text) AS timestamptz) < CAST(f.moment AS timestamptz))
    RETURNING p.contact_id""") for extra in ("", *_ENGAGEMENT_COLUMNS.values())}


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
    """Deleted (or merged away, or erased) contacts leave the projection and a tombstone (``DeletedContact``)."""
    ids = sorted({str(i) for i in contact_ids})
    if ids:
        session.execute(P.delete().where(P.c.contact_id.in_(ids)))
        session.execute(_TOMBSTONES, {"ids": ids})


_TOMBSTONES = sa.text("""
    INSERT INTO deleted_contacts (contact_id) SELECT unnest(CAST(:ids AS text[])) ON CONFLICT DO NOTHING""")


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
