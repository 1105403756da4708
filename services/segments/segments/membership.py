"""Who is in which segment, and keeping it true.

Rules (seed 000 Segments tab and "Segmentation Rules"):
- a contact that meets a dynamic segment's criteria is a member (``manual`` false);
- a manual addition stays whatever the criteria say; it carries ``qualifies``
  so the client shows the checkmark or the warning ("no longer qualifies");
- a non-manual member that stops qualifying leaves;
- static segments have manual members only, and they always "qualify".

Two paths keep this true: ``evaluate_contacts`` after each event about one
contact or a batch of them (one SQL query tests every dynamic segment for all
of them), and ``refresh_segment``, set-based over the whole projection (daily
timer, criteria edits, rebuilds).
Every change writes a ``segment_membership_changed`` event into the outbox in
the same transaction; the full refresh does so in SQL, so a refresh that moves
100,000 contacts does not loop in Python.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import ClauseAdapter

from crm_shared.reliability import add_event, add_events
from segments.models import ContactProjection, Segment, SegmentMember
from segments.query import compile_body, compile_criteria

M = SegmentMember.__table__
P = ContactProjection.__table__
SOURCE = "segments"
EVENT = "segment_membership_changed"
JOINED, LEFT, QUALIFIES, NO_LONGER = "joined", "left", "qualifies", "no_longer_qualifies"


@dataclass
class Change:
    segment_id: str
    segment_name: str
    contact_id: str
    change: str
    manual: bool = False
    actor_id: str | None = None

    def data(self) -> dict[str, Any]:
        """The ``segment_membership_changed`` body."""
        return {"segment_id": self.segment_id, "segment_name": self.segment_name, "contact_id": self.contact_id,
                "change": self.change, "manual": self.manual, "actor_id": self.actor_id}

    def publish(self, session: Session) -> None:
        add_event(session, SOURCE, EVENT, self.data())


def publish_all(session: Session, changes: list[Change]) -> None:
    """One outbox INSERT for many changes (a batch evaluation); each is the event ``Change.publish`` writes."""
    add_events(session, SOURCE, EVENT, [c.data() for c in changes])


def dynamic_segments(session: Session) -> list[Segment]:
    """Dynamic segments in a fixed order (creation, then id), the order changes are reported in."""
    return list(session.scalars(sa.select(Segment).where(Segment.kind == "dynamic")
                                .order_by(Segment.created_at, Segment.id)))


def qualifications(session: Session, segments: list[Segment], contact_ids: Iterable[str],
                   now: datetime | None = None) -> dict[str, dict[str, bool]]:
    """Whether each contact meets each segment's criteria, per contact id (static segments: always true).

    One query per ``EVALUATE_CHUNK`` contacts tests every dynamic segment (a
    compiled column each), so a batch of a thousand contacts costs one round
    trip, not a thousand. Contacts the projection does not have qualify for no
    dynamic segment.
    """
    ids = list(dict.fromkeys(str(i) for i in contact_ids))
    static = {s.id: True for s in segments if s.kind == "static"}
    dynamic = [s for s in segments if s.kind == "dynamic" and s.criteria]
    result = {cid: {**static, **{s.id: False for s in dynamic}} for cid in ids}
    if not dynamic or not ids:
        return result
    columns = [compile_criteria(s.criteria, now).label(f"s{i}") for i, s in enumerate(dynamic)]
    for start in range(0, len(ids), EVALUATE_CHUNK):
        chunk = ids[start:start + EVALUATE_CHUNK]
        for row in session.execute(sa.select(P.c.contact_id, *columns).where(P.c.contact_id.in_(chunk))):
            verdict = result[row[0]]
            for i, segment in enumerate(dynamic):
                verdict[segment.id] = bool(row[i + 1])
    return result


def qualification(session: Session, segments: list[Segment], contact_id: str,
                  now: datetime | None = None) -> dict[str, bool]:
    """Whether one contact meets each segment's criteria (static segments: always true)."""
    return qualifications(session, segments, [contact_id], now)[str(contact_id)]


def evaluate_contact(session: Session, contact_id: str, now: datetime | None = None) -> list[Change]:
    """Bring one contact's memberships in line with its projected attributes; return the changes."""
    return evaluate_contacts(session, [contact_id], now)


def evaluate_contacts(session: Session, contact_ids: Iterable[str], now: datetime | None = None) -> list[Change]:
    """Bring many contacts' memberships in line with their projected attributes; return the changes.

    The batch events (an import's ``contacts_created``, scoring's
    ``scores_changed``) name up to 1,000 contacts; testing them one by one was
    three queries and a write per contact and segment. Here the dynamic
    segments are read once, every contact is tested against every segment in
    one query per chunk, their membership rows are locked in one query (in
    (contact, segment) order, so concurrent batches lock in the same order),
    and joins, leaves and flag changes are one statement each. The decision
    per (contact, segment) is the one ``evaluate_contact`` has always made;
    changes come back (and go into the outbox) in contact order, then segment
    order, as evaluating the contacts one after the other gives.
    """
    ids = list(dict.fromkeys(str(i) for i in contact_ids if i is not None and str(i)))
    segments = dynamic_segments(session)
    if not segments or not ids:
        return []
    verdicts = qualifications(session, segments, ids, now)
    segment_ids = [s.id for s in segments]
    rows: dict[tuple[str, str], Any] = {}
    for start in range(0, len(ids), EVALUATE_CHUNK):
        chunk = ids[start:start + EVALUATE_CHUNK]
        rows.update({(r.contact_id, r.segment_id): r for r in session.execute(
            sa.select(M).where(M.c.contact_id.in_(chunk), M.c.segment_id.in_(segment_ids))
            .order_by(M.c.contact_id, M.c.segment_id).with_for_update())})
    planned: list[Change] = []
    joins: list[tuple[str, str]] = []
    leaves: list[tuple[str, str]] = []
    flags: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
    for contact_id in ids:
        verdict = verdicts[contact_id]
        for segment in segments:
            qualifies, row = verdict.get(segment.id, False), rows.get((contact_id, segment.id))
            key = (segment.id, contact_id)
            if qualifies and row is None:
                joins.append(key)
                planned.append(Change(segment.id, segment.name, contact_id, JOINED))
            elif qualifies and not row.qualifies:
                flags[True].append(key)
                planned.append(Change(segment.id, segment.name, contact_id, QUALIFIES, manual=row.manual))
            elif not qualifies and row is not None and not row.manual:
                leaves.append(key)
                planned.append(Change(segment.id, segment.name, contact_id, LEFT))
            elif not qualifies and row is not None and row.qualifies:
                flags[False].append(key)
                planned.append(Change(segment.id, segment.name, contact_id, NO_LONGER, manual=True))
    if not planned:
        return []
    stamp = datetime.now(UTC)
    joined = _insert_members(session, joins, stamp)
    for value, keys in flags.items():
        for chunk in _chunks(keys):
            session.execute(M.update().where(sa.tuple_(M.c.segment_id, M.c.contact_id).in_(chunk))
                            .values(qualifies=value, updated_at=stamp))
    for chunk in _chunks(leaves):
        session.execute(M.delete().where(sa.tuple_(M.c.segment_id, M.c.contact_id).in_(chunk)))
    # A join another transaction made first (the row appeared after our lock query) is not ours to report.
    changes = [c for c in planned if c.change != JOINED or (c.segment_id, c.contact_id) in joined]
    publish_all(session, changes)
    return changes


EVALUATE_CHUNK = 1000  # contacts per qualification / lock query, (segment, contact) pairs per write


def _chunks(keys: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    ordered = sorted(keys, key=lambda k: (k[1], k[0]))  # the lock order: contact, then segment
    for start in range(0, len(ordered), EVALUATE_CHUNK):
        yield ordered[start:start + EVALUATE_CHUNK]


def _insert_members(session: Session, keys: list[tuple[str, str]], stamp: datetime) -> set[tuple[str, str]]:
    """Automatic memberships in one INSERT per chunk; returns the (segment, contact) pairs actually inserted.

    The pairs travel as two arrays, so the statement is the same for any
    number of rows and SQLAlchemy compiles it once (a 2,000-row VALUES list
    took longer to compile than to run).
    """
    inserted: set[tuple[str, str]] = set()
    for chunk in _chunks(keys):
        inserted.update((r.segment_id, r.contact_id) for r in session.execute(_INSERT_MEMBERS, {
            "segment_ids": [k[0] for k in chunk], "contact_ids": [k[1] for k in chunk], "stamp": stamp}))
    return inserted


_INSERT_MEMBERS = sa.text("""
    INSERT INTO segment_members (segment_id, contact_id, manual, qualifies, added_at, updated_at)
    SELECT segment_id, contact_id, false, true, :stamp, :stamp
    FROM unnest(CAST(:segment_ids AS text[]), CAST(:contact_ids AS text[])) AS k(segment_id, contact_id)
    ON CONFLICT (segment_id, contact_id) DO NOTHING
    RETURNING segment_id, contact_id""")


def remove_contact(session: Session, contact_ids: Iterable[str]) -> list[Change]:
    """A deleted contact leaves every segment, manual or not."""
    ids = [str(i) for i in contact_ids]
    if not ids:
        return []
    names = dict(session.execute(sa.select(Segment.id, Segment.name)).all())
    gone = session.execute(M.delete().where(M.c.contact_id.in_(ids))
                           .returning(M.c.segment_id, M.c.contact_id, M.c.manual)).all()
    changes = [Change(r.segment_id, names.get(r.segment_id, ""), r.contact_id, LEFT, manual=r.manual) for r in gone]
    for change in changes:
        change.publish(session)
    return changes


SEGMENT_DELETED = "segment_deleted"


def remove_segment(session: Session, segment: Segment, actor_id: str | None = None) -> int:
    """A deleted segment: every member (manual or not) leaves; returns how many.

    One statement deletes the memberships and writes one ``left`` event per
    member into the outbox (``reason: segment_deleted``), set-based like the
    full refresh, so a segment of 100,000 members builds no Python objects.
    The caller holds the segment's row lock and deletes the segment in the same
    transaction; concurrent joins wait on that lock (foreign key) and then fail.
    """
    row = session.connection().exec_driver_sql("""
        WITH gone AS (DELETE FROM segment_members WHERE segment_id = %(segment_id)s
                      RETURNING contact_id, manual),
        ev AS (
          INSERT INTO outbox (event_id, source, event_type, envelope)
          SELECT e.event_id, 'segments', 'segment_membership_changed',
                 jsonb_build_object('event_id', e.event_id, 'event_type', 'segment_membership_changed',
                                    'schema_version', 1, 'occurred_at', %(occurred_at)s, 'source', 'segments',
                                    'data', jsonb_build_object('segment_id', %(segment_id)s,
                                                               'segment_name', %(segment_name)s,
                                                               'contact_id', e.contact_id, 'change', 'left',
                                                               'manual', e.manual, 'actor_id', %(actor_id)s,
                                                               'reason', %(reason)s))
          FROM (SELECT gen_random_uuid()::text AS event_id, contact_id, manual FROM gone
                ORDER BY contact_id) e
          RETURNING 1)
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM ev)
    """, {"segment_id": segment.id, "segment_name": segment.name, "actor_id": actor_id,
          "reason": SEGMENT_DELETED, "occurred_at": datetime.now(UTC).isoformat()}).one()
    return int(row[0])


def transfer_manual(session: Session, from_ids: Iterable[str], to_id: str) -> int:
    """Merged duplicates: their manual additions carry over to the surviving contact."""
    ids = [str(i) for i in from_ids if str(i) != to_id]
    if not ids:
        return 0
    rows = session.execute(sa.select(M.c.segment_id, M.c.added_by, sa.func.min(M.c.added_at).label("added_at"))
                           .where(M.c.contact_id.in_(ids), M.c.manual.is_(True))
                           .group_by(M.c.segment_id, M.c.added_by)).all()
    for row in rows:
        stmt = insert(M).values(segment_id=row.segment_id, contact_id=to_id, manual=True, qualifies=True,
                                added_by=row.added_by, added_at=row.added_at, updated_at=sa.func.now())
        session.execute(stmt.on_conflict_do_update(index_elements=[M.c.segment_id, M.c.contact_id],
                                                   set_={"manual": True, "updated_at": sa.func.now()}))
    return len(rows)


# -- set-based refresh ------------------------------------------------------
def _compiled(statement: Any) -> tuple[str, dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"render_postcompile": True})
    return str(compiled), dict(compiled.params)


@dataclass
class RefreshResult:
    segment_id: str
    joined: int = 0
    left: int = 0
    requalified: int = 0
    disqualified: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "joined": self.joined, "left": self.left,
                "qualifies": self.requalified, "no_longer_qualifies": self.disqualified}


def _qualifying_pairs(segments: list[Segment], now: datetime | None) -> Any:
    """SELECT (segment_id, contact_id) for every segment a contact meets, in one scan of the projection."""
    tags = postgresql.array([sa.case((compile_body(s.criteria, now), sa.literal(s.id)), else_=sa.null())
                             for s in segments])
    # array_remove first: unnest then yields only the segments a contact meets, not one row per segment.
    return sa.select(P.c.contact_id, sa.func.unnest(sa.func.array_remove(tags, sa.null())).label("segment_id")) \
        .where(P.c.known.is_(True))


def refresh_segments(session: Session, segments: list[Segment], now: datetime | None = None) -> list[RefreshResult]:
    """Recompute dynamic segments over the whole projection in one set-based statement.

    One scan of the projection tests every segment's criteria per contact;
    joins, leaves and flag changes (disjoint rows) and their outbox events are
    applied by data-modifying CTEs, so nothing loops in Python.
    """
    results = {s.id: RefreshResult(s.id) for s in segments}
    dynamic = [s for s in segments if s.kind == "dynamic" and s.criteria]
    if not dynamic:
        return list(results.values())
    pairs_sql, params = _compiled(_qualifying_pairs(dynamic, now))
    params.update(seg_ids=[s.id for s in dynamic], occurred_at=datetime.now(UTC).isoformat())
    not_qualifying = ("NOT EXISTS (SELECT 1 FROM q WHERE q.segment_id = m.segment_id "
                      "AND q.contact_id = m.contact_id)")
    rows = session.connection().exec_driver_sql(f"""
        WITH q AS MATERIALIZED (SELECT x.segment_id, x.contact_id FROM ({pairs_sql}) x
                                WHERE x.segment_id IS NOT NULL),
        cand AS (SELECT q.segment_id, q.contact_id FROM q LEFT JOIN segment_members m
                   ON m.segment_id = q.segment_id AND m.contact_id = q.contact_id
                 WHERE m.contact_id IS NULL OR m.qualifies IS FALSE),
        up AS (INSERT INTO segment_members (segment_id, contact_id, manual, qualifies, added_at, updated_at)
               SELECT segment_id, contact_id, false, true, now(), now() FROM cand
               ON CONFLICT (segment_id, contact_id) DO UPDATE SET qualifies = true, updated_at = now()
               RETURNING segment_id, contact_id, manual,
                         CASE WHEN xmax = 0 THEN 'joined' ELSE 'qualifies' END AS change),
        gone AS (DELETE FROM segment_members m
                 WHERE m.segment_id = ANY(%(seg_ids)s) AND m.manual IS FALSE AND {not_qualifying}
                 RETURNING m.segment_id, m.contact_id, m.manual, 'left' AS change),
        flip AS (UPDATE segment_members m SET qualifies = false, updated_at = now()
                 WHERE m.segment_id = ANY(%(seg_ids)s) AND m.manual IS TRUE AND m.qualifies IS TRUE
                   AND {not_qualifying}
                 RETURNING m.segment_id, m.contact_id, m.manual, 'no_longer_qualifies' AS change),
        changes AS (SELECT * FROM up UNION ALL SELECT * FROM gone UNION ALL SELECT * FROM flip),
        ev AS (
          INSERT INTO outbox (event_id, source, event_type, envelope)
          SELECT e.event_id, 'segments', 'segment_membership_changed',
                 jsonb_build_object('event_id', e.event_id, 'event_type', 'segment_membership_changed',
                                    'schema_version', 1, 'occurred_at', %(occurred_at)s, 'source', 'segments',
                                    'data', jsonb_build_object('segment_id', e.segment_id,
                                                               'segment_name', e.segment_name,
                                                               'contact_id', e.contact_id, 'change', e.change,
                                                               'manual', e.manual, 'actor_id', NULL))
          FROM (SELECT gen_random_uuid()::text AS event_id, c.segment_id, s.name AS segment_name, c.contact_id,
                       c.change, c.manual
                FROM changes c JOIN segments s ON s.id = c.segment_id) e
          RETURNING 1)
        SELECT segment_id, count(*) FILTER (WHERE change = 'joined'), count(*) FILTER (WHERE change = 'left'),
               count(*) FILTER (WHERE change = 'qualifies'), count(*) FILTER (WHERE change = 'no_longer_qualifies')
        FROM changes GROUP BY segment_id
    """, params).all()
    for segment_id, joined, left, requalified, disqualified in rows:
        results[segment_id] = RefreshResult(segment_id, joined, left, requalified, disqualified)
    session.execute(sa.update(Segment).where(Segment.id.in_([s.id for s in dynamic]))
                    .values(refreshed_at=sa.func.now()))
    return list(results.values())


def refresh_segment(session: Session, segment: Segment, now: datetime | None = None) -> RefreshResult:
    """One segment (creation, criteria edit, on demand)."""
    return refresh_segments(session, [segment], now)[0]


# The sample first walks this many contacts in score order (index order); when
# fewer than the sample meet the criteria there, one filtered scan gives both.
SAMPLE_WALK = 1000
# Operators on ``score`` that bound an index range (their conditions narrow the walk).
_SCORE_RANGE_OPS = frozenset({"eq", "gt", "gte", "lt", "lte", "between", "in"})


def preview(session: Session, criteria: dict[str, Any], sample_size: int = 10,
            now: datetime | None = None) -> dict[str, Any]:
    """Count and a sample (highest scores first) of the contacts meeting ``criteria``.

    The count is exact. The sample never walks the whole score index: the
    naive ``ORDER BY score LIMIT n`` plan fetches contacts in score order until
    n match, which for criteria that few contacts meet (or that high scores
    rarely meet) visits nearly every row at random. So the sample looks among
    the first ``SAMPLE_WALK`` contacts in score order (within the criteria's own
    score range), which is the true top n whenever it finds n there; then the
    count is a query of its own (an index-only scan for score-led criteria).
    Otherwise one filtered scan counts the matches and keeps the top n.
    """
    expr = compile_criteria(criteria, now)
    if sample_size <= 0:
        return {"count": _count(session, expr), "sample": []}
    rows = _walk(session, criteria, expr, sample_size, now)
    if len(rows) == sample_size:
        return {"count": _count(session, expr), "sample": [contact_summary(r) for r in rows]}
    count, rows = _count_and_top(session, expr, sample_size)
    return {"count": count, "sample": [contact_summary(r) for r in rows]}


def _count(session: Session, expr: Any) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(P).where(expr)).scalar_one()


def _walk(session: Session, criteria: dict[str, Any], expr: Any, size: int, now: datetime | None) -> list[Any]:
    """The top ``size`` matches among the first ``SAMPLE_WALK`` contacts of the criteria's score range.

    Any superset of the matches may be walked; the criteria's top-level score
    conditions give one the index reaches directly. The criteria are applied to
    the walked rows themselves (a subquery the planner cannot flatten because of
    its LIMIT), whatever the planner estimates of them.
    """
    kind, items = next(iter(criteria.items()))
    bounds = [item for item in items if kind == "all" and item.get("field") == "score"
              and item.get("op") in _SCORE_RANGE_OPS]
    walked = sa.select(P).order_by(*SAMPLE_ORDER).limit(SAMPLE_WALK)
    if bounds:
        walked = walked.where(compile_criteria({"all": bounds}, now))
    top = walked.subquery()
    return list(session.execute(sa.select(*(top.c[c.name] for c in SAMPLE_COLUMNS))
                                .where(ClauseAdapter(top).traverse(expr))
                                .order_by(top.c.score.desc().nulls_last(), top.c.contact_id)
                                .limit(size)).mappings())


def _count_and_top(session: Session, expr: Any, size: int) -> tuple[int, list[Any]]:
    """One scan for sparse criteria: every match counted by a window, the top ``size`` kept.

    OFFSET 0 fences the filter from the ORDER BY ... LIMIT, so the planner scans
    the matches (index or parallel sequential scan) instead of walking the score
    index; the window buffers only (contact_id, score) of each match.
    """
    matches = sa.select(P.c.contact_id, P.c.score).where(expr).offset(0).subquery()
    ranked = (sa.select(matches.c.contact_id, matches.c.score, sa.func.count().over().label("total"))
              .order_by(matches.c.score.desc().nulls_last(), matches.c.contact_id).limit(size).subquery())
    rows = list(session.execute(sa.select(*SAMPLE_COLUMNS, ranked.c.total)
                                .join_from(P, ranked, P.c.contact_id == ranked.c.contact_id)
                                .order_by(ranked.c.score.desc().nulls_last(), ranked.c.contact_id)).mappings())
    return (int(rows[0]["total"]) if rows else 0), rows


SAMPLE_COLUMNS = (P.c.contact_id, P.c.name, P.c.email, P.c.company, P.c.position, P.c.stage, P.c.score,
                  P.c.engagement_level, P.c.company_size, P.c.owner_id)
SAMPLE_ORDER = (P.c.score.desc().nulls_last(), P.c.contact_id)


def contact_summary(row: Any) -> dict[str, Any]:
    size = row["company_size"]
    return {"id": row["contact_id"], "name": row["name"], "email": row["email"], "company": row["company"],
            "position": row["position"], "stage": row["stage"], "score": row["score"],
            "engagement_level": row["engagement_level"],
            "company_size": int(size) if size is not None and float(size).is_integer() else
            (float(size) if size is not None else None),
            "owner_id": row["owner_id"]}
