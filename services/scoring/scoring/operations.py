"""Scoring operations over the service's own database: projection, events, model versions, scores.

Entrypoints call these; every function takes the session (and a ``publish``
callback that writes outbox rows in the same transaction) and leaves the
commit to the caller.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from crm_shared.criteria import to_datetime
from crm_shared.errors import ValidationFailed
from crm_shared.events import BATCH_EVENT_LIMIT
from scoring import engine, signals
from scoring.model import classify_event, default_model, known_event_types, merge_change, validate_model
from scoring.models import (
    ContactFact,
    ContactProfile,
    DeletedContact,
    EngagementEvent,
    ModelVersion,
    Score,
    ScoreHistory,
)

Publish = Callable[[str, dict[str, Any]], Any]
Reason = str | Mapping[str, str]   # one text for a batch, or one per contact id
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=3650)
HISTORY_LIMIT = 50
# Most changes one ``scores_changed`` event carries (bulk.rescore_all reads it too; tests lower it).
EVENT_BATCH_LIMIT = BATCH_EVENT_LIMIT

# Statements of the per-event path, built once: building and cache-keying a statement on every call
# was a large part of the CPU an engagement event costs the service (core columns: no ORM compile step).
_events_t, _scores_t = EngagementEvent.__table__, Score.__table__
_WINDOW_EVENTS = (sa.select(_events_t.c.contact_id, _events_t.c.type, _events_t.c.occurred_at)
                  .where(_events_t.c.contact_id.in_(sa.bindparam("ids", expanding=True)),
                         _events_t.c.occurred_at >= sa.bindparam("since"))
                  .order_by(_events_t.c.contact_id, _events_t.c.occurred_at))
_LAST_ACTIVE = (sa.select(_events_t.c.contact_id, sa.func.max(_events_t.c.occurred_at))
                .where(_events_t.c.contact_id.in_(sa.bindparam("ids", expanding=True)),
                       _events_t.c.type.in_(sa.bindparam("types", expanding=True)),
                       _events_t.c.occurred_at <= sa.bindparam("now"))
                .group_by(_events_t.c.contact_id))
_LOCK_SCORES = (sa.select(_scores_t.c.contact_id, _scores_t.c.score, _scores_t.c.fit, _scores_t.c.engagement)
                .where(_scores_t.c.contact_id.in_(sa.bindparam("ids", expanding=True)))
                .order_by(_scores_t.c.contact_id).with_for_update())
_upsert = insert(_scores_t)
_UPSERT_SCORES = _upsert.on_conflict_do_update(
    index_elements=[_scores_t.c.contact_id],
    set_={k: _upsert.excluded[k] for k in ("score", "fit", "engagement", "engagement_level", "model_version",
                                           "computed_at")})
_MODEL_VERSION = sa.select(sa.func.max(ModelVersion.__table__.c.version))
_event_columns = [_events_t.c[k] for k in ("id", "contact_id", "type", "occurred_at", "properties", "source",
                                           "source_ref", "recorded_at")]
_INSERT_EVENT = insert(_events_t).returning(*_event_columns)
_INSERT_EVENT_ONCE = insert(_events_t).on_conflict_do_nothing(index_elements=[_events_t.c.source_ref]) \
    .returning(*_event_columns)
_INSERT_HISTORY = sa.insert(ScoreHistory.__table__)


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the model -----------------------------------------------------------------------------
_model_cache: dict[str, Any] = {}


def current_model(db: Session) -> tuple[int, dict[str, Any]]:
    """The model in force (highest version); version 1 is the default, written on first use.

    Only the version number is read each time; the document is loaded and validated when it changed.
    """
    version = db.execute(_MODEL_VERSION).scalar()
    if version is None:
        db.execute(insert(ModelVersion).values(version=1, config=default_model(), created_by=None,
                                               note="default model (seed 000 tables, SPEC decisions)")
                   .on_conflict_do_nothing())
        db.flush()
        return current_model(db)
    cached = _model_cache.get("model")
    if cached and cached[0] == version:
        return cached
    config = db.execute(sa.select(ModelVersion.config).where(ModelVersion.version == version)).scalar_one()
    model = validate_model(config)
    _model_cache["model"] = (version, model)
    return version, model


def model_view(db: Session) -> dict[str, Any]:
    version, model = current_model(db)
    row = db.get(ModelVersion, version)
    return {"version": version, "updated_at": row.created_at.isoformat() if row and row.created_at else None,
            "updated_by": row.created_by if row else None, "note": row.note if row else "",
            "models": ["fit_engagement", "weighted"], "event_types": known_event_types(model), **model}


def change_model(db: Session, caller_id: str, change: dict[str, Any]) -> dict[str, Any]:
    """Save a new version of the model (the old ones stay, for audit); rescoring follows."""
    version, model = current_model(db)
    new = merge_change(model, change)
    note = str(change.get("note") or "")[:300]
    db.add(ModelVersion(version=version + 1, config=json.loads(json.dumps(new)), created_by=caller_id, note=note))
    db.flush()
    return model_view(db)


def model_history(db: Session, limit: int = 50) -> list[dict[str, Any]]:
    rows = db.execute(sa.select(ModelVersion).order_by(ModelVersion.version.desc()).limit(limit)).scalars()
    return [{"version": r.version, "active_model": r.config.get("active_model"), "created_by": r.created_by,
             "created_at": r.created_at.isoformat() if r.created_at else None, "note": r.note} for r in rows]


# -- the contact projection ------------------------------------------------------------------
def _profile_values(contact: dict[str, Any]) -> dict[str, Any]:
    email = contact.get("email")
    return {"email": email.strip().lower() if isinstance(email, str) and email.strip() else None,
            "stage": contact.get("stage"), "owner_id": _str(contact.get("owner_id")),
            "attrs": json.loads(json.dumps(contact, default=str))}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def upsert_profile(db: Session, contact: dict[str, Any]) -> ContactProfile | None:
    """Project a full contact snapshot (contact_created / contact_updated / iter_contacts); None once deleted."""
    found = upsert_profiles(db, [contact])
    return found[0] if found else None


def upsert_profiles(db: Session, contacts: list[dict[str, Any]]) -> list[ContactProfile]:
    """Project many snapshots in one INSERT ... ON CONFLICT (an import's chunk); one profile per contact id.

    A contact listed twice keeps its last snapshot (one statement cannot update a row twice).
    """
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for contact in contacts:
        contact_id = str(contact.get("id") or contact.get("contact_id"))
        rows[contact_id] = {"contact_id": contact_id, "created_at": to_datetime(contact.get("created_at")) or now,
                            "updated_at": now, **_profile_values(contact)}
    for contact_id in db.scalars(sa.select(DeletedContact.contact_id)
                                 .where(DeletedContact.contact_id.in_(list(rows)))):
        del rows[contact_id]   # a late snapshot of a deleted contact (events do not arrive in order)
    if not rows:
        return []
    stmt = insert(ContactProfile).values(sorted(rows.values(), key=lambda r: r["contact_id"]))  # lock order
    stmt = stmt.on_conflict_do_update(index_elements=[ContactProfile.contact_id],
                                      set_={k: stmt.excluded[k] for k in ("email", "stage", "owner_id", "attrs",
                                                                          "updated_at")})
    found = db.scalars(stmt.returning(ContactProfile), execution_options={"populate_existing": True}).all()
    by_id = {p.contact_id: p for p in found}
    return [by_id[contact_id] for contact_id in rows]


def set_stage(db: Session, contact_id: str, stage: str, from_stage: str | None, at: datetime) -> None:
    profile = db.get(ContactProfile, contact_id)
    if profile is not None:
        profile.stage = stage
        profile.attrs = {**(profile.attrs or {}), "stage": stage}
    db.add(ContactFact(contact_id=contact_id, kind="stage_change", data={"from": from_stage, "to": stage}, at=at))


def record_field_change(db: Session, contact_id: str, changed: list[str], at: datetime) -> None:
    record_field_changes(db, [(contact_id, changed)], at)


def record_field_changes(db: Session, changes: list[tuple[str, list[str]]], at: datetime) -> None:
    """The ``field_change`` facts of many contacts in one INSERT (an import's merges); empty lists are skipped."""
    rows = [{"contact_id": cid, "kind": "field_change", "data": {"fields": sorted(changed)}, "at": at}
            for cid, changed in changes if changed]
    if rows:
        db.execute(sa.insert(ContactFact), rows)


def delete_contact(db: Session, contact_id: str) -> None:
    """A deleted contact leaves nothing behind here (events, scores, history, rule state)."""
    from scoring.models import RuleContactState

    for model in (EngagementEvent, Score, ScoreHistory, ContactFact, RuleContactState):
        db.execute(sa.delete(model).where(model.contact_id == contact_id))
    db.execute(sa.delete(ContactProfile).where(ContactProfile.contact_id == contact_id))
    db.execute(insert(DeletedContact).values(contact_id=contact_id).on_conflict_do_nothing())


def merge_contacts(db: Session, primary_id: str, merged_ids: list[str], contact: dict[str, Any]) -> None:
    """The duplicates' engagement becomes the survivor's; their own rows go."""
    others = [m for m in merged_ids if m != primary_id]
    if others:
        db.execute(sa.update(EngagementEvent).where(EngagementEvent.contact_id.in_(others))
                   .values(contact_id=primary_id))
        db.execute(sa.update(ContactFact).where(ContactFact.contact_id.in_(others)).values(contact_id=primary_id))
        for other in others:
            delete_contact(db, other)
    upsert_profile(db, {**contact, "id": primary_id})


def profile_or_none(db: Session, contact_id: str) -> ContactProfile | None:
    return db.get(ContactProfile, str(contact_id))


def find_by_email(db: Session, email: str) -> ContactProfile | None:
    return db.execute(sa.select(ContactProfile).where(ContactProfile.email == email.strip().lower())
                      .limit(1)).scalar_one_or_none()


# -- engagement events ---------------------------------------------------------------------
def validate_event_body(data: dict[str, Any], model: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Check an engagement event from the API; 422 names each bad field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        raise ValidationFailed("Validation failed", {"fields": {"body": ["must be an object"]}})
    contact_id, email = data.get("contact_id"), data.get("email")
    if not contact_id and not email:
        errors["contact_id"] = ["contact_id or email is required"]
    event_type = data.get("type")
    if not isinstance(event_type, str) or event_type not in model["engagement"]:
        errors["type"] = [f"unknown event type {event_type!r}; one of {', '.join(known_event_types(model))}"]
    occurred = data.get("occurred_at")
    at = now
    if occurred not in (None, ""):
        at = to_datetime(occurred) if isinstance(occurred, str | datetime) else None
        if at is None:
            errors["occurred_at"] = ["must be an ISO 8601 date-time"]
        elif at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = ["must not be in the future"]
        elif at < now - MAX_EVENT_AGE:
            errors["occurred_at"] = ["is more than 10 years ago"]
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        errors["properties"] = ["must be an object"]
    elif len(json.dumps(properties, default=str)) > 4000:
        errors["properties"] = ["at most 4000 characters of JSON"]
    if errors:
        raise ValidationFailed("Validation failed", {"fields": errors})
    return {"contact_id": _str(contact_id), "email": email, "type": event_type, "occurred_at": at,
            "properties": properties}


def add_event(db: Session, contact_id: str, event_type: str, occurred_at: datetime, properties: dict[str, Any],
              source: str, source_ref: str | None, model: dict[str, Any]) -> EngagementEvent | None:
    """Store one engagement event; None when ``source_ref`` was already recorded (redelivery)."""
    event_type = classify_event(model, event_type, properties)
    values = {"id": str(uuid.uuid4()), "contact_id": contact_id, "type": event_type, "occurred_at": occurred_at,
              "properties": json.loads(json.dumps(properties, default=str)), "source": source,
              "source_ref": source_ref}
    row = db.execute(_INSERT_EVENT_ONCE if source_ref else _INSERT_EVENT, values).first()
    return None if row is None else EngagementEvent(**row._asdict())  # plain values, not a session object


def add_events(db: Session, items: list[dict[str, Any]], model: dict[str, Any]) -> list[EngagementEvent]:
    """``add_event`` for many events in one INSERT (a batch of emails sent or opened); each item has the
    arguments of ``add_event`` (``contact_id``, ``type``, ``occurred_at``, ``properties``, ``source``,
    ``source_ref``). Events whose ``source_ref`` was recorded already are left out, as there."""
    if not items:
        return []
    values = [{"id": str(uuid.uuid4()), "contact_id": item["contact_id"],
               "type": classify_event(model, item["type"], item["properties"]), "occurred_at": item["occurred_at"],
               "properties": json.loads(json.dumps(item["properties"], default=str)), "source": item["source"],
               "source_ref": item["source_ref"]} for item in items]
    rows = db.execute(_INSERT_EVENT_ONCE, values).all()   # one multi-row INSERT (insertmanyvalues)
    order = {v["id"]: n for n, v in enumerate(values)}
    return sorted((EngagementEvent(**row._asdict()) for row in rows), key=lambda e: order[e.id])


def profiles_of(db: Session, contact_ids: list[str]) -> dict[str, ContactProfile]:
    """The projected profiles among ``contact_ids``, in one query."""
    ids = list(dict.fromkeys(str(c) for c in contact_ids))
    if not ids:
        return {}
    return {p.contact_id: p for p in db.scalars(sa.select(ContactProfile).where(ContactProfile.contact_id.in_(ids)))}


def engagement_body(event: EngagementEvent) -> dict[str, Any]:
    """The ``engagement_recorded`` body (also each item of ``engagements_recorded``)."""
    return {"contact_id": event.contact_id, "engagement_event_id": event.id, "type": event.type,
            "occurred_at": event.occurred_at.isoformat(), "properties": event.properties}


def event_view(event: EngagementEvent) -> dict[str, Any]:
    return {"id": event.id, "contact_id": event.contact_id, "type": event.type,
            "occurred_at": event.occurred_at.isoformat(), "properties": event.properties, "source": event.source}


def affects_score(model: dict[str, Any], event_type: str) -> bool:
    """Significant events (SPEC "rescore on significant engagement"): those that can move the score."""
    cfg = model["engagement"].get(event_type, {})
    derived = model["derived"]
    return bool(cfg.get("points")) or event_type in derived["multiple_visits_week"]["visit_types"] \
        or bool(derived["activity_spike"]["points"]) or model["active_model"] == "weighted"


def contact_events(db: Session, contact_id: str, model: dict[str, Any], now: datetime
                   ) -> tuple[list[tuple[str, datetime]], datetime | None]:
    """The contact's events inside the window, and the last active-interest event ever."""
    return contact_events_many(db, [contact_id], model, now)[contact_id]


def contact_events_many(db: Session, contact_ids: list[str], model: dict[str, Any], now: datetime
                        ) -> dict[str, tuple[list[tuple[str, datetime]], datetime | None]]:
    """``contact_events`` of many contacts in two queries (a query per contact was most of a bulk rescore)."""
    ids = list(dict.fromkeys(str(c) for c in contact_ids))
    found: dict[str, tuple[list[tuple[str, datetime]], datetime | None]] = {cid: ([], None) for cid in ids}
    if not ids:
        return found
    since = engine.window_start(model, now)
    rows = db.execute(_WINDOW_EVENTS, {"ids": ids, "since": since}).all()
    active = set(model["active_interest_types"])
    lasts: dict[str, datetime] = {}
    for contact_id, event_type, at in rows:
        found[contact_id][0].append((event_type, at))
        if event_type in active and at <= now and (contact_id not in lasts or at > lasts[contact_id]):
            lasts[contact_id] = at
    # An active event inside the window is the last one ever (anything later is inside it too), so only
    # contacts without one need the all-time query: a contact that just engaged costs one query, not two.
    missing = [cid for cid in ids if cid not in lasts]
    if missing:
        lasts.update(db.execute(_LAST_ACTIVE, {"ids": missing, "types": list(active), "now": now}).all())
    for contact_id, at in lasts.items():
        found[contact_id] = (found[contact_id][0], at)
    return found


def compute(db: Session, profile: ContactProfile, model: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Score, aggregates and events of one contact as of ``now``."""
    return compute_many(db, [profile], model, now)[profile.contact_id]


def compute_many(db: Session, profiles: list[ContactProfile], model: dict[str, Any], now: datetime
                 ) -> dict[str, dict[str, Any]]:
    """``{contact_id: {"result", "agg", "events"}}``: the events of all in two queries, then the engine per contact."""
    loaded = contact_events_many(db, [p.contact_id for p in profiles], model, now)
    computed: dict[str, dict[str, Any]] = {}
    for profile in profiles:
        events, last_active = loaded[profile.contact_id]
        agg = engine.aggregate_events(events, model, now)
        if last_active is not None:
            agg.last_active_at = last_active
        attrs = {**(profile.attrs or {}), "created_at": profile.created_at}
        result = engine.score_contact(attrs, agg, model, now)
        computed[profile.contact_id] = {"result": result, "agg": agg, "events": events}
    return computed


def rescore(db: Session, publish: Publish, profile: ContactProfile, reason: str,
            now: datetime | None = None, *, model: tuple[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Score one contact; when the number changed, keep history and publish ``score_changed``.

    Returns ``{"result", "agg", "events", "changed", "previous"}``.
    """
    return rescore_many(db, publish, [profile], reason, now, batch_event=False, model=model)[profile.contact_id]


def rescore_many(db: Session, publish: Publish, profiles: list[ContactProfile], reason: Reason,
                 now: datetime | None = None, *, batch_event: bool = True,
                 model: tuple[int, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Score many contacts set-based (an import's chunk): a handful of statements instead of several per contact.

    ``reason`` is one text for all, or one per contact id (an import's merges change different fields).

    Per contact id the same ``{"result", "agg", "events", "changed", "previous"}`` as ``rescore``.
    Changed contacts get history and are published as ``scores_changed`` events of at most
    ``EVENT_BATCH_LIMIT`` changes (``batch_event=False``: one ``score_changed`` each, the one-contact path).
    ``model`` is ``current_model(db)`` when the caller read it already in this transaction.
    """
    now = now or utcnow()
    profiles = list({p.contact_id: p for p in profiles}.values())
    if not profiles:
        return {}
    version, model = model or current_model(db)
    ids = sorted(p.contact_id for p in profiles)
    # lock in id order, so two batches sharing contacts wait for each other instead of deadlocking
    stored = {r.contact_id: r for r in db.execute(_LOCK_SCORES, {"ids": ids})}
    computed = compute_many(db, profiles, model, now)
    rows, changes = [], []
    for profile in profiles:
        item, old = computed[profile.contact_id], stored.get(profile.contact_id)
        result = item["result"]
        previous = old.score if old is not None else None
        changed = old is None or (old.score, old.fit, old.engagement) != \
            (result["score"], result["fit"], result["engagement"])
        rows.append({"contact_id": profile.contact_id, "score": result["score"], "fit": result["fit"],
                     "engagement": result["engagement"], "engagement_level": result["engagement_level"],
                     "model_version": version, "computed_at": now})
        if changed:
            changes.append((profile.contact_id, result, previous))
        item.update(changed=changed, previous=previous)
    _write_scores(db, rows)
    record_changes(db, publish, changes, reason, version, now, batch_event=batch_event)
    return computed


def _write_scores(db: Session, rows: list[dict[str, Any]]) -> None:
    """Every scored contact's row in one upsert (a new contact's insert cannot race into a unique violation)."""
    db.execute(_UPSERT_SCORES, rows)
    for row in rows:  # Score objects this session loaded earlier would answer the old numbers
        loaded = db.identity_map.get(identity_key(Score, row["contact_id"]))
        if loaded is not None:
            db.expire(loaded)


def score_change_body(contact_id: str, result: dict[str, Any], previous: int | None, reason: str
                      ) -> dict[str, Any]:
    """The ``score_changed`` body (also each item of ``scores_changed``)."""
    return {"contact_id": contact_id, "score": result["score"], "previous_score": previous, "fit": result["fit"],
            "engagement": result["engagement"], "engagement_level": float(result["engagement_level"]),
            "reason": reason[:200]}


def record_changes(db: Session, publish: Publish, changes: list[tuple[str, dict[str, Any], int | None]],
                   reason: Reason, version: int, now: datetime, *, batch_event: bool = True) -> None:
    """History rows (one INSERT) and the events of changed scores: ``scores_changed`` chunks, or
    one ``score_changed`` each when ``batch_event`` is false."""
    if not changes:
        return
    reasons = {cid: (reason if isinstance(reason, str) else reason[cid])[:200] for cid, _, _ in changes}
    db.execute(_INSERT_HISTORY, [
        {"contact_id": cid, "score": result["score"], "previous_score": previous, "fit": result["fit"],
         "engagement": result["engagement"], "reason": reasons[cid], "model_version": version, "at": now}
        for cid, result, previous in changes])
    bodies = [score_change_body(cid, result, previous, reasons[cid]) for cid, result, previous in changes]
    if not batch_event:
        for body in bodies:
            publish("score_changed", body)
        return
    for start in range(0, len(bodies), EVENT_BATCH_LIMIT):
        publish("scores_changed", {"changes": bodies[start:start + EVENT_BATCH_LIMIT]})


def history(db: Session, contact_id: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    rows = db.execute(sa.select(ScoreHistory).where(ScoreHistory.contact_id == contact_id)
                      .order_by(ScoreHistory.at.desc(), ScoreHistory.id.desc()).limit(limit)).scalars()
    return [{"score": r.score, "previous_score": r.previous_score, "fit": r.fit, "engagement": r.engagement,
             "reason": r.reason, "model_version": r.model_version, "at": r.at.isoformat()} for r in rows]


def score_view(db: Session, publish: Publish, profile: ContactProfile, now: datetime | None = None
               ) -> dict[str, Any]:
    """``GET /contacts/{id}/score``: the score as of now (rescored if events aged out), explained."""
    now = now or utcnow()
    version, model = current_model(db)
    computed = rescore(db, publish, profile, "events aged out of the window", now, model=(version, model))
    result, agg = computed["result"], computed["agg"]
    found = signals.buying_signals(computed["events"], agg, model, result["engagement_level"], now)
    alert = signals.hot_lead_alert(result, profile.stage, found, computed["events"], agg.last_active_at, model, now)
    stored = db.get(Score, profile.contact_id)
    return {"contact_id": profile.contact_id, "score": result["score"], "fit": result["fit"],
            "engagement": result["engagement"], "engagement_level": result["engagement_level"],
            "model": result["model"], "model_version": stored.model_version if stored else None,
            "computed_at": now.isoformat(), "breakdown": result["breakdown"], "signals": found,
            "last_activity_at": agg.last_active_at.isoformat() if agg.last_active_at else None,
            "hot_lead": alert is not None, "history": history(db, profile.contact_id)}


def hot_lead_view(db: Session, publish: Publish, profile: ContactProfile, now: datetime | None = None
                  ) -> dict[str, Any] | None:
    now = now or utcnow()
    version, model = current_model(db)
    computed = rescore(db, publish, profile, "events aged out of the window", now, model=(version, model))
    result, agg = computed["result"], computed["agg"]
    found = signals.buying_signals(computed["events"], agg, model, result["engagement_level"], now)
    return signals.hot_lead_alert(result, profile.stage, found, computed["events"], agg.last_active_at, model, now)


def contact_events_page(db: Session, contact_id: str, page: int, per_page: int) -> dict[str, Any]:
    base = sa.select(EngagementEvent).where(EngagementEvent.contact_id == contact_id)
    total = db.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
    rows = db.execute(base.order_by(EngagementEvent.occurred_at.desc())
                      .offset((page - 1) * per_page).limit(per_page)).scalars()
    return {"items": [event_view(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def rule_record(db: Session, profile: ContactProfile, model: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A flat record for rule criteria: the contact snapshot, its score and its engagement facts."""
    return rule_records(db, [profile], model, now)[profile.contact_id]


# Record fields that come from the engagement events (the rest is the profile and the stored score).
EVENT_FIELDS = frozenset({"demo_requested", "last_email_opened_at", "events"})


def criteria_need_events(criteria: dict[str, Any] | None) -> bool:
    """Whether criteria test an engagement fact (``event.<type>``, ``demo_requested`` ...), so the
    record needs the per-type last-event query; "score >= 90" (the default rule) does not."""
    from crm_shared.criteria import EVENT_PREFIX, fields_used

    return bool(criteria) and any(f.startswith(EVENT_PREFIX) or f in EVENT_FIELDS for f in fields_used(criteria))


def rule_records(db: Session, profiles: list[ContactProfile], model: dict[str, Any] | None, now: datetime,
                 *, events: bool = True) -> dict[str, dict[str, Any]]:
    """``rule_record`` of many contacts in two queries (rules over a ``scores_changed`` batch).

    ``events=False`` leaves the engagement facts out (one query; ``model`` may be None): for criteria
    that do not test them (``criteria_need_events``), the records match exactly as the full ones.
    """
    ids = list(dict.fromkeys(p.contact_id for p in profiles))
    if not ids:
        return {}
    scores = {r.contact_id: r for r in db.execute(
        sa.select(Score.contact_id, Score.score, Score.fit, Score.engagement, Score.engagement_level)
        .where(Score.contact_id.in_(ids)))}
    lasts: dict[str, dict[str, datetime]] = {cid: {} for cid in ids}
    if events:
        for contact_id, event_type, at in db.execute(
                sa.select(EngagementEvent.contact_id, EngagementEvent.type, sa.func.max(EngagementEvent.occurred_at))
                .where(EngagementEvent.contact_id.in_(ids), EngagementEvent.occurred_at <= now)
                .group_by(EngagementEvent.contact_id, EngagementEvent.type)):
            lasts[contact_id][event_type] = at
    records = {}
    for profile in profiles:
        record = {**(profile.attrs or {}), "stage": profile.stage, "owner_id": profile.owner_id}
        if events:
            last = lasts[profile.contact_id]
            active = [at for t, at in last.items() if t in model["active_interest_types"]]
            found = {t: at.isoformat() for t, at in last.items()}
            if active:
                found["last_activity"] = max(active).isoformat()
            record.update(events=found, demo_requested="demo_requested" in last,
                          last_email_opened_at=found.get("email_opened"))
        stored = scores.get(profile.contact_id)
        if stored is not None:
            record.update(score=stored.score, fit=stored.fit, engagement=stored.engagement,
                          engagement_level=stored.engagement_level)
        records[profile.contact_id] = record
    return records
