"""Rescoring everyone (every 4 h per seed 000, and after a model change).

The events are aggregated in SQL (one pass, grouped per contact), the scoring
itself is the same ``engine.score_contact`` the one-contact path uses, and
only changed scores are written back, through a temporary table, so a run
over a million contacts is a few set-based statements plus one Python loop.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scoring import engine, operations
from scoring.operations import current_model, utcnow

BATCH = 5000

def aggregate_sql(model: dict) -> tuple[str, bool]:
    """One statement aggregating every contact's events; parts a model does not use are left out.

    Returns the SQL and whether the numbers-only scorer applies (seed 000 model).
    Each CTE is one pass over the events, so skipping unused ones matters at 10M events.
    """
    quick = model["active_model"] == "fit_engagement"
    derived = model["derived"]
    need_visits = not quick or bool(derived["multiple_visits_week"]["points"])
    need_spike = not quick or bool(derived["activity_spike"]["points"])
    counts = "jsonb_object_agg(type, n)" if quick else "jsonb_object_agg(type, jsonb_build_array(n, last_at))"
    ctes = [f"""win AS (
    SELECT contact_id, type, count(*) AS n{'' if quick else ', max(occurred_at) AS last_at'}
    FROM engagement_events WHERE occurred_at >= :since AND occurred_at <= :now
    GROUP BY contact_id, type
)""", f"winagg AS (SELECT contact_id, {counts} AS counts FROM win GROUP BY contact_id)"]
    joins = ["LEFT JOIN winagg w ON w.contact_id = p.contact_id"]
    cols = ["w.counts"]
    if need_visits:
        ctes.append("""visits AS (
    SELECT contact_id, bool_or(occurred_at - prev <= make_interval(days => :visit_days)) AS multi
    FROM (SELECT contact_id, occurred_at,
                 lag(occurred_at, :lag) OVER (PARTITION BY contact_id ORDER BY occurred_at) AS prev
          FROM engagement_events
          WHERE type = ANY(:visit_types) AND occurred_at >= :since AND occurred_at <= :now) v
    GROUP BY contact_id
)""")
        joins.append("LEFT JOIN visits v ON v.contact_id = p.contact_id")
        cols.append("coalesce(v.multi, false) AS multi")
    else:
        cols.append("false AS multi")
    if need_spike:
        ctes.append("""spike AS (
    SELECT contact_id, count(*) AS n FROM engagement_events
    WHERE occurred_at > :spike_since AND occurred_at <= :now GROUP BY contact_id
)""")
        joins.append("LEFT JOIN spike sp ON sp.contact_id = p.contact_id")
        cols.append("coalesce(sp.n, 0) AS spike_n")
    else:
        cols.append("0 AS spike_n")
    if quick:
        fields = "p.attrs->>'position' AS position, p.attrs->>'industry' AS industry"
        cols.append("NULL::timestamptz AS last_active")
    else:
        pairs = ", ".join(f"'{f}', p.attrs->'{f}'" for f in engine.PROFILE_FIELDS if f not in ("stage", "created_at"))
        fields = f"jsonb_build_object({pairs}) AS attrs"
        ctes.append("""active AS (
    SELECT contact_id, max(occurred_at) AS last_active FROM engagement_events
    WHERE type = ANY(:active_types) AND occurred_at <= :now GROUP BY contact_id
)""")
        joins.append("LEFT JOIN active a ON a.contact_id = p.contact_id")
        cols.append("a.last_active")
    sql = (f"WITH {', '.join(ctes)}\n"
           f"SELECT p.contact_id, p.created_at, p.stage, {fields}, {', '.join(cols)}, "
           "s.score AS old_score, s.fit AS old_fit, s.engagement AS old_engagement, s.model_version AS old_version\n"
           f"FROM contact_profiles p {' '.join(joins)} LEFT JOIN scores s ON s.contact_id = p.contact_id")
    return sql, quick


def _aggregates(row: Any) -> engine.Aggregates:
    agg = engine.Aggregates(multiple_visits=bool(row.multi), events_in_spike_window=int(row.spike_n),
                            last_active_at=row.last_active)
    for event_type, (n, last) in (row.counts or {}).items():
        agg.counts[event_type] = int(n)
        agg.last_at[event_type] = datetime.fromisoformat(last)
    return agg


def rescore_all(db: Session, reason: str, now: datetime | None = None,
                on_changed: Callable[[list[dict[str, Any]]], None] | None = None) -> dict[str, Any]:
    """Rescore every projected contact; returns counts and timings. ``on_changed`` sees each changed batch."""
    started = time.monotonic()
    now = now or utcnow()
    version, model = current_model(db)
    visits = model["derived"]["multiple_visits_week"]
    params = {
        "since": engine.window_start(model, now), "now": now, "visit_days": visits["window_days"],
        "lag": visits["min_visits"] - 1, "visit_types": visits["visit_types"],
        "spike_since": now - timedelta(hours=model["derived"]["activity_spike"]["window_hours"]),
        "active_types": model["active_interest_types"],
    }
    tables = (json.dumps(model["roles"], sort_keys=True), json.dumps(model["industries"], sort_keys=True))
    conn = db.connection()
    conn.execute(sa.text("CREATE TEMP TABLE IF NOT EXISTS rescore_changes (contact_id varchar(64) PRIMARY KEY, "
                         "score int, fit int, engagement int, engagement_level float, previous int) "
                         "ON COMMIT DROP"))
    conn.execute(sa.text("TRUNCATE rescore_changes"))
    seen = changed = version_only = 0
    pending: list[dict[str, Any]] = []
    compute_s = 0.0
    sql, quick = aggregate_sql(model)
    result = conn.execute(sa.text(sql)
                          .execution_options(stream_results=True, max_row_buffer=BATCH), params)
    query_s = time.monotonic() - started
    for rows in result.partitions(BATCH):
        t0 = time.monotonic()
        for row in rows:
            seen += 1
            if quick:
                score, fit, engagement, level = engine.quick_fit_engagement(
                    row.position, row.industry, row.counts or {}, row.multi, row.spike_n, model, tables)
            else:
                attrs = dict(row.attrs or {})
                attrs["created_at"] = row.created_at
                scored = engine.score_contact(attrs, _aggregates(row), model, now, tables)
                score, fit, engagement = scored["score"], scored["fit"], scored["engagement"]
                level = scored["engagement_level"]
            if (row.old_score, row.old_fit, row.old_engagement) != (score, fit, engagement):
                pending.append({"contact_id": row.contact_id, "score": score, "fit": fit, "engagement": engagement,
                                "engagement_level": level, "previous": row.old_score})
            elif row.old_version != version:
                version_only += 1
        compute_s += time.monotonic() - t0
        if len(pending) >= BATCH:
            changed += _flush(db, pending, on_changed)
            pending = []
    if pending:
        changed += _flush(db, pending, on_changed)
    write_started = time.monotonic()
    _apply(db, version, reason, now)
    return {"contacts": seen, "changed": changed, "model_version": version,
            "seconds": round(time.monotonic() - started, 2), "query_seconds": round(query_s, 2),
            "compute_seconds": round(compute_s, 2), "write_seconds": round(time.monotonic() - write_started, 2)}


def _flush(db: Session, rows: list[dict[str, Any]], on_changed: Callable | None) -> int:
    """Changed scores into the temporary table (multi-row INSERTs; COPY is not cooperative under eventlet)."""
    from psycopg2.extras import execute_values

    raw = db.connection().connection.driver_connection
    with raw.cursor() as cur:
        execute_values(cur, "INSERT INTO rescore_changes (contact_id, score, fit, engagement, engagement_level, "
                            "previous) VALUES %s",
                       [(r["contact_id"], r["score"], r["fit"], r["engagement"], r["engagement_level"], r["previous"])
                        for r in rows], page_size=1000)
    if on_changed is not None:
        on_changed(rows)
    return len(rows)


def _apply(db: Session, version: int, reason: str, now: datetime) -> None:
    """Scores, history and the ``scores_changed`` outbox rows (one per ``EVENT_BATCH_LIMIT`` changed
    contacts, not one per contact: a full rescore under a new model changes everyone), all set-based."""
    conn = db.connection()
    params = {"version": version, "now": now, "reason": reason[:200], "chunk": operations.EVENT_BATCH_LIMIT}
    conn.execute(sa.text(
        "INSERT INTO scores (contact_id, score, fit, engagement, engagement_level, model_version, computed_at) "
        "SELECT contact_id, score, fit, engagement, engagement_level, :version, :now FROM rescore_changes "
        "ON CONFLICT (contact_id) DO UPDATE SET score = excluded.score, fit = excluded.fit, "
        "engagement = excluded.engagement, engagement_level = excluded.engagement_level, "
        "model_version = excluded.model_version, computed_at = excluded.computed_at"), params)
    conn.execute(sa.text("UPDATE scores SET model_version = :version WHERE model_version <> :version"), params)
    conn.execute(sa.text(
        "INSERT INTO score_history (contact_id, score, previous_score, fit, engagement, reason, model_version, at) "
        "SELECT contact_id, score, previous, fit, engagement, :reason, :version, :now FROM rescore_changes"), params)
    # each item is exactly a score_changed body; chunks numbered in contact id order
    conn.execute(sa.text(
        "INSERT INTO outbox (event_id, source, event_type, envelope) "
        "SELECT e.event_id, 'scoring', 'scores_changed', jsonb_build_object("
        "'event_id', e.event_id, 'event_type', 'scores_changed', 'schema_version', 1, "
        "'occurred_at', to_char(:now AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
        "'source', 'scoring', 'data', jsonb_build_object('changes', e.changes)) "
        "FROM (SELECT gen_random_uuid()::text AS event_id, g.chunk, g.changes FROM ("
        "  SELECT n.chunk, jsonb_agg(jsonb_build_object('contact_id', n.contact_id, 'score', n.score, "
        "    'previous_score', n.previous, 'fit', n.fit, 'engagement', n.engagement, "
        "    'engagement_level', n.engagement_level, 'reason', :reason) ORDER BY n.contact_id) AS changes "
        "  FROM (SELECT c.*, (row_number() OVER (ORDER BY c.contact_id) - 1) / :chunk AS chunk "
        "        FROM rescore_changes c) n GROUP BY n.chunk) g) e ORDER BY e.chunk"), params)
