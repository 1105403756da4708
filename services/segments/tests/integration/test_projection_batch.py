"""The set-based snapshot upsert stores exactly what the per-row upsert it replaced stored.

``apply_snapshots`` used to run one INSERT ... ON CONFLICT per snapshot; now a
chunk goes in one statement (rows as a JSON parameter). The old statement is
kept here as the reference: the same snapshot sequences (new contacts, newer
and older snapshots, a contact given twice in one call, rows a score created
before the snapshot) must leave the same projection rows and report the same ids.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from segments import projection

P = projection.P
NOW = datetime.now(UTC)


def _reference_apply_snapshots(session, contacts) -> list[str]:
    """The per-row upsert ``apply_snapshots`` ran before the batch events (commit 543002d)."""
    rows = [projection.snapshot_row(c) for c in contacts if c.get("id")]
    changed = []
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


def _at(minutes: int) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


def _rows(session, ids) -> dict[str, dict]:
    return {r["contact_id"]: {k: v for k, v in r.items() if k != "projected_at"}
            for r in session.execute(sa.select(P).where(P.c.contact_id.in_(ids))).mappings()}


def test_batch_upsert_stores_what_the_per_row_upsert_stored(db_session):
    known, scored, plain, twice, both = (str(uuid.uuid4()) for _ in range(5))
    ids = [known, scored, plain, twice, both]
    # Before: one known contact, one row a score created before its snapshot.
    projection.apply_snapshots(db_session, [{"id": known, "first_name": "Old", "stage": "New", "score": 10,
                                             "updated_at": _at(0)}])
    projection.apply_score(db_session, {"contact_id": scored, "score": 77, "fit": 7, "engagement": 70,
                                        "engagement_level": 35.0}, NOW)
    db_session.flush()
    batch = [
        {"id": known, "first_name": "Stale", "updated_at": _at(-10)},                       # older: ignored
        {"id": scored, "first_name": "Sam", "score": 5, "updated_at": _at(-10),              # known=false row:
         "tags": ["VIP", " vip ", "", "Enterprise"], "company_size": "101-500"},             # applied, score kept
        {"id": plain, "first_name": "Pat", "last_name": "Lee", "position": "Chief Revenue Officer",
         "company": {"name": "Mega Corp"}, "address": {"city": "Leeds", "country": "UK"}, "state": "WY",
         "company_size": "9" * 400, "annual_revenue": "1,250,000.50", "unsubscribed": False,
         "custom_fields": {"plan": "Gold", "seats": 12, "nested": {"a": [1, 2]}}, "score": 42,
         "created_at": "2026-01-02", "last_contact_at": "2026-11-30T10:00:00Z", "updated_at": None},
        {"id": twice, "first_name": "New", "stage": "Qualified", "updated_at": _at(5)},
        {"id": twice, "first_name": "Older", "stage": "Lost", "updated_at": _at(1)},        # second copy, older
        {"id": both, "first_name": "First", "tags": ["a"], "updated_at": _at(1)},
        {"id": known, "first_name": "Newer", "stage": "Won", "updated_at": _at(3), "score": 99},
        {"id": both, "first_name": "Second", "updated_at": _at(2)},                         # second copy, newer
        {"first_name": "No id"},
    ]

    savepoint = db_session.begin_nested()
    expected_changed = _reference_apply_snapshots(db_session, batch)
    db_session.flush()
    expected = _rows(db_session, ids)
    savepoint.rollback()

    changed = projection.apply_snapshots(db_session, batch)
    db_session.flush()
    assert changed == expected_changed == [scored, plain, twice, both, known, both]
    assert _rows(db_session, ids) == expected
    assert expected[known]["first_name"] == "Newer" and expected[known]["score"] == 99  # no score_changed yet
    assert expected[scored]["known"] is True and expected[scored]["score"] == 77      # scoring owns the score
    assert expected[twice]["stage"] == "Qualified"
    assert expected[both]["first_name"] == "Second" and expected[both]["tags"] == []
    assert expected[plain]["company_size"] == float("inf") and expected[plain]["company"] == "Mega Corp"
    assert projection.apply_snapshots(db_session, []) == []
