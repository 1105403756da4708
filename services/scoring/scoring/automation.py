"""The rule engine over the database: rules CRUD, evaluation, time-based sweeps, preview, run log.

Actions are carried out by an ``Executor`` (the service passes one that makes
the RPCs to contacts and messaging); everything else here is plain code.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.criteria import matches
from crm_shared.errors import Conflict, NotFound
from scoring import rules as rulebook
from scoring.models import ContactFact, ContactProfile, EngagementEvent, Rule, RuleContactState, RuleRun, ScoreHistory
from scoring.operations import current_model, rule_record, rule_records, utcnow

Executor = Callable[[dict[str, Any], ContactProfile, dict[str, Any]], dict[str, Any]]
DEFAULT_RULE_ID = "default-hot-lead"
LOOP_WINDOW = timedelta(seconds=60)
LOOP_LIMIT = 5  # more actions than this on one contact within a minute is a rule loop, not news
SWEEP_LIMIT = 5000
_last_sweep: dict[str, datetime] = {}  # per process: when each time-since rule was last swept


# -- storage -----------------------------------------------------------------------------------
def ensure_default_rule(db: Session) -> None:
    """The SPEC default rule exists once; switching it off is the admin's choice, not deleting it."""
    body = rulebook.validate_rule(rulebook.default_hot_lead_rule())
    db.execute(insert(Rule).values(id=DEFAULT_RULE_ID, is_default=True, created_by=None, **body)
               .on_conflict_do_nothing(index_elements=[Rule.id]))


def rule_view(rule: Rule, performance: dict[str, Any] | None = None) -> dict[str, Any]:
    now = utcnow()
    status = "active" if rule.enabled else "disabled"
    if rule.enabled and rule.sunset_at is not None and rule.sunset_at <= now:
        status = "expired"
    view = {"id": rule.id, "name": rule.name, "description": rule.description, "trigger": rule.trigger,
            "trigger_text": rulebook.describe_trigger(rule.trigger), "criteria": rule.criteria, "actions": rule.actions,
            "actions_text": [rulebook.describe_action(a) for a in rule.actions], "priority": rule.priority,
            "blocking": rule.blocking, "mode": rule.mode, "enabled": rule.enabled, "status": status,
            "sunset_at": rule.sunset_at.isoformat() if rule.sunset_at else None, "is_default": rule.is_default,
            "next_run_at": rule.next_run_at.isoformat() if rule.next_run_at else None,
            "last_run_at": rule.last_run_at.isoformat() if rule.last_run_at else None,
            "created_by": rule.created_by, "created_at": rule.created_at.isoformat() if rule.created_at else None,
            "updated_at": rule.updated_at.isoformat() if rule.updated_at else None}
    if performance is not None:
        view["performance"] = performance
    return view


def _schedule(rule: Rule, now: datetime) -> None:
    rule.next_run_at = rulebook.next_schedule_run(rule.trigger, now) if rule.trigger["type"] == "schedule" else None


def create_rule(db: Session, caller_id: str, body: dict[str, Any]) -> dict[str, Any]:
    data = rulebook.validate_rule(body)
    rule = Rule(id=str(uuid.uuid4()), created_by=caller_id, is_default=False, **data)
    _schedule(rule, utcnow())
    db.add(rule)
    db.flush()
    return rule_view(rule, performance(db, rule.id))


def get_rule(db: Session, rule_id: str) -> Rule:
    rule = db.get(Rule, rule_id)
    if rule is None:
        raise NotFound("no such rule", {"rule_id": rule_id})
    return rule


def update_rule(db: Session, rule_id: str, body: dict[str, Any]) -> dict[str, Any]:
    rule = get_rule(db, rule_id)
    data = rulebook.validate_rule(body, partial=True)
    for key, value in data.items():
        if key in body:
            setattr(rule, key, value)
    if "trigger" in body:
        _schedule(rule, utcnow())
    rule.updated_at = utcnow()
    db.flush()
    return rule_view(rule, performance(db, rule.id))


def delete_rule(db: Session, rule_id: str) -> None:
    rule = get_rule(db, rule_id)
    if rule.is_default:
        raise Conflict("the default rule cannot be deleted; switch it off with enabled=false",
                       {"rule_id": rule_id})
    db.delete(rule)
    db.execute(sa.delete(RuleContactState).where(RuleContactState.rule_id == rule_id))


def list_rules(db: Session, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    total = db.execute(sa.select(sa.func.count()).select_from(Rule)).scalar_one()
    rows = db.execute(sa.select(Rule).order_by(Rule.priority, Rule.created_at, Rule.id)
                      .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    perf = performance_many(db, [r.id for r in rows])
    return {"items": [rule_view(r, perf.get(r.id)) for r in rows], "total": total, "page": page,
            "per_page": per_page}


def performance_many(db: Session, rule_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Seed 003 "rule performance (actions triggered, outcomes)" of several rules in two queries."""
    if not rule_ids:
        return {}
    week_ago = utcnow() - timedelta(days=7)
    rows = db.execute(sa.select(
        RuleRun.rule_id, sa.func.count(), sa.func.count(sa.distinct(RuleRun.contact_id)),
        sa.func.count().filter(RuleRun.outcome == "success"),
        sa.func.count().filter(RuleRun.outcome == "partial"),
        sa.func.count().filter(RuleRun.outcome == "failed"),
        sa.func.count().filter(RuleRun.at >= week_ago),
        sa.func.max(RuleRun.at)).where(RuleRun.rule_id.in_(rule_ids)).group_by(RuleRun.rule_id)).all()
    actions = db.execute(sa.text(
        "SELECT rule_id, a->>'type' AS type, count(*) FILTER (WHERE a->>'outcome' = 'ok') AS ok, "
        "count(*) FILTER (WHERE a->>'outcome' <> 'ok') AS failed "
        "FROM rule_runs, jsonb_array_elements(actions) a WHERE rule_id = ANY(:ids) GROUP BY 1, 2 ORDER BY 1, 2"),
        {"ids": list(rule_ids)}).all()
    by_rule = {r[0]: r for r in rows}
    result = {}
    for rid in rule_ids:
        row = by_rule.get(rid, (rid, 0, 0, 0, 0, 0, 0, None))
        runs = row[1]
        result[rid] = {"runs": runs, "contacts": row[2], "succeeded": row[3], "partial": row[4], "failed": row[5],
                       "runs_last_7_days": row[6], "last_run_at": row[7].isoformat() if row[7] else None,
                       "success_rate": round(100.0 * row[3] / runs, 1) if runs else None,
                       "actions": {a.type: {"ok": a.ok, "failed": a.failed} for a in actions if a.rule_id == rid}}
    return result


def performance(db: Session, rule_id: str) -> dict[str, Any]:
    return performance_many(db, [rule_id])[rule_id]


def runs_page(db: Session, rule_id: str, page: int, per_page: int, outcome: str | None = None) -> dict[str, Any]:
    get_rule(db, rule_id)
    base = sa.select(RuleRun).where(RuleRun.rule_id == rule_id)
    if outcome:
        base = base.where(RuleRun.outcome == outcome)
    total = db.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
    rows = db.execute(base.order_by(RuleRun.at.desc(), RuleRun.id).offset((page - 1) * per_page)
                      .limit(per_page)).scalars()
    return {"items": [run_view(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def run_view(run: RuleRun) -> dict[str, Any]:
    return {"id": run.id, "rule_id": run.rule_id, "contact_id": run.contact_id, "trigger": run.trigger,
            "actions": run.actions, "outcome": run.outcome, "at": run.at.isoformat()}


# -- evaluation -------------------------------------------------------------------------------
def _as_dict(rule: Rule) -> dict[str, Any]:
    return {c.key: getattr(rule, c.key) for c in Rule.__table__.columns}


def live_rules(db: Session, trigger_types: tuple[str, ...], now: datetime) -> list[dict[str, Any]]:
    rows = db.execute(sa.select(Rule).where(Rule.enabled.is_(True))).scalars().all()
    found = [_as_dict(r) for r in rows if r.trigger["type"] in trigger_types]
    return rulebook.order_rules([r for r in found if rulebook.is_live(r, now)])


def _state(db: Session, rule_id: str, contact_id: str) -> RuleContactState | None:
    return db.get(RuleContactState, (rule_id, contact_id), with_for_update=True)


def _state_dict(state: RuleContactState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {"fired_count": state.fired_count, "first_fired_at": state.first_fired_at,
            "last_fired_at": state.last_fired_at}


def try_rule(db: Session, rule: dict[str, Any], profile: ContactProfile, trigger_text: str, now: datetime,
             execute: Executor, record: dict[str, Any] | None = None) -> str:
    """Apply one rule to one contact: 'acted', 'no_match' or 'skipped' (mode said no)."""
    state = _state(db, rule["id"], profile.contact_id)
    allowed, _why = rulebook.mode_allows(rule["mode"], _state_dict(state), now)
    if allowed and state is not None and now - state.last_fired_at < LOOP_WINDOW:
        recent = db.execute(sa.select(sa.func.count()).select_from(RuleRun).where(
            RuleRun.rule_id == rule["id"], RuleRun.contact_id == profile.contact_id,
            RuleRun.at > now - LOOP_WINDOW)).scalar_one()
        allowed = recent < LOOP_LIMIT
    if not allowed:
        return "skipped"
    if record is None:
        _, model = current_model(db)
        record = rule_record(db, profile, model, now)
    if rule.get("criteria") and not matches(rule["criteria"], record, now):
        return "no_match"
    results = [execute(action, profile, rule) for action in rule["actions"]]
    ok = sum(1 for r in results if r["outcome"] == "ok")
    outcome = "success" if ok == len(results) else ("failed" if ok == 0 else "partial")
    db.add(RuleRun(id=str(uuid.uuid4()), rule_id=rule["id"], contact_id=profile.contact_id,
                   trigger=trigger_text[:200], actions=results, outcome=outcome, at=now))
    if state is None:
        state = RuleContactState(rule_id=rule["id"], contact_id=profile.contact_id, fired_count=0,
                                 first_fired_at=now, last_fired_at=now)
        db.add(state)
    state.fired_count += 1
    state.last_fired_at = now
    state.next_due_at = rulebook.next_cycle_due(rule["mode"], _state_dict(state), now)
    db.execute(sa.update(Rule).where(Rule.id == rule["id"]).values(last_run_at=now))
    return "acted"


def evaluate(db: Session, profile: ContactProfile, occurrence: dict[str, Any], execute: Executor,
             now: datetime | None = None) -> list[dict[str, Any]]:
    """Run the live rules an occurrence triggers on one contact, by priority; a blocking match stops the rest."""
    found = evaluate_many(db, [(profile.contact_id, occurrence)], execute, now, {profile.contact_id: profile})
    return found.get(profile.contact_id, [])


def evaluate_many(db: Session, occurrences: list[tuple[str, dict[str, Any]]], execute: Executor,
                  now: datetime | None = None, profiles: dict[str, ContactProfile] | None = None
                  ) -> dict[str, list[dict[str, Any]]]:
    """``evaluate`` for a batch of ``(contact_id, occurrence)`` (a ``scores_changed`` event).

    The live rules are read once and nothing else is read when none is triggered; the profiles
    (unless given) and the rule records are loaded in one query each, so a 1,000-contact batch
    costs a few queries plus the work of the contacts a rule really applies to.
    Returns the outcomes per contact id (contacts no rule was triggered for are left out).
    """
    now = now or utcnow()
    kinds = tuple(sorted({occurrence["kind"] for _, occurrence in occurrences}))
    rules = live_rules(db, kinds, now) if kinds else []
    triggered = [(str(cid), fired) for cid, occurrence in occurrences
                 if (fired := [r for r in rules if rulebook.trigger_matches(r["trigger"], occurrence)])]
    if not triggered:
        return {}
    ids = list(dict.fromkeys(cid for cid, _ in triggered))
    if profiles is None:
        profiles = {p.contact_id: p for p in db.execute(
            sa.select(ContactProfile).where(ContactProfile.contact_id.in_(ids))).scalars()}
    _, model = current_model(db)
    records = rule_records(db, [profiles[cid] for cid in ids if cid in profiles], model, now)
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for cid, fired in triggered:
        profile = profiles.get(cid)
        if profile is None:
            continue  # deleted, or its contact_created has not arrived: nothing to act on
        outcomes.setdefault(cid, []).extend(_run_ordered(
            db, fired, profile, now, execute, lambda r: rulebook.describe_trigger(r["trigger"]), records[cid]))
    return outcomes


def _run_ordered(db: Session, rules: list[dict[str, Any]], profile: ContactProfile, now: datetime,
                 execute: Executor, describe: Callable[[dict[str, Any]], str],
                 record: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The triggered rules on one contact by priority. The record is read once: actions act through
    other services, so nothing a rule does changes it before the next rule is tried."""
    outcomes: list[dict[str, Any]] = []
    if not rules:
        return outcomes
    if record is None:
        _, model = current_model(db)
        record = rule_record(db, profile, model, now)
    for rule in rules:
        if rule.get("criteria") and not matches(rule["criteria"], record, now):
            result = "no_match"  # try_rule would lock the rule state only to say the same
        else:
            result = try_rule(db, rule, profile, describe(rule), now, execute, record)
        outcomes.append({"rule_id": rule["id"], "result": result})
        if result == "acted" and rule["blocking"]:
            break
    return outcomes


# -- time-based rules ----------------------------------------------------------------------------
def _reference_times(db: Session, trigger: dict[str, Any], model: dict[str, Any], now: datetime
                     ) -> dict[str, datetime]:
    """Per contact, the time the trigger counts from (last activity, creation, stage change or an event)."""
    event = trigger["event"]
    if event == "created":
        q = sa.select(ContactProfile.contact_id, ContactProfile.created_at)
    elif event == "stage_changed":
        last = sa.select(ContactFact.contact_id, sa.func.max(ContactFact.at).label("at")) \
            .where(ContactFact.kind == "stage_change").group_by(ContactFact.contact_id).subquery()
        q = sa.select(ContactProfile.contact_id, sa.func.coalesce(last.c.at, ContactProfile.created_at)) \
            .outerjoin(last, last.c.contact_id == ContactProfile.contact_id)
    else:
        types = model["active_interest_types"] if event in ("last_activity", "untouched") else [event]
        last = sa.select(EngagementEvent.contact_id, sa.func.max(EngagementEvent.occurred_at).label("at")) \
            .where(EngagementEvent.type.in_(types), EngagementEvent.occurred_at <= now) \
            .group_by(EngagementEvent.contact_id).subquery()
        if event in ("last_activity", "untouched"):
            q = sa.select(ContactProfile.contact_id, sa.func.coalesce(last.c.at, ContactProfile.created_at)) \
                .outerjoin(last, last.c.contact_id == ContactProfile.contact_id)
        else:
            q = sa.select(last.c.contact_id, last.c.at)
    return {cid: at for cid, at in db.execute(q.limit(SWEEP_LIMIT * 10)).all() if at is not None}


def sweep_time_since(db: Session, rule: dict[str, Any], execute: Executor, now: datetime) -> int:
    """"Time untouched > 24 h": act once per quiet spell (again only after new activity and a new spell)."""
    _, model = current_model(db)
    threshold = now - timedelta(hours=rule["trigger"]["hours"])
    refs = _reference_times(db, rule["trigger"], model, now)
    acted = 0
    for contact_id, ref in refs.items():
        if ref > threshold:
            continue
        state = db.get(RuleContactState, (rule["id"], contact_id))
        if state is not None and state.last_fired_at >= ref and rule["mode"]["type"] != "in_cycle":
            continue  # already acted in this quiet spell
        profile = db.get(ContactProfile, contact_id)
        if profile is None:
            continue
        text = f"{rulebook.describe_trigger(rule['trigger'])} (since {ref.isoformat()})"
        if try_rule(db, rule, profile, text, now, execute) == "acted":
            acted += 1
        if acted >= SWEEP_LIMIT:
            break
    return acted


def sweep_all_contacts(db: Session, rule: dict[str, Any], execute: Executor, now: datetime, text: str) -> int:
    acted = 0
    ids = db.execute(sa.select(ContactProfile.contact_id).order_by(ContactProfile.contact_id)).scalars().all()
    for contact_id in ids:
        profile = db.get(ContactProfile, contact_id)
        if profile is not None and try_rule(db, rule, profile, text, now, execute) == "acted":
            acted += 1
    return acted


def cycle_steps(db: Session, execute: Executor, now: datetime) -> int:
    """In-cycle rules whose next step on a contact is due ("every 3 days for 2 weeks")."""
    due = db.execute(sa.select(RuleContactState).where(RuleContactState.next_due_at <= now)
                     .limit(SWEEP_LIMIT)).scalars().all()
    acted = 0
    for state in due:
        rule_row = db.get(Rule, state.rule_id)
        if rule_row is None or not rulebook.is_live(_as_dict(rule_row), now) or rule_row.mode["type"] != "in_cycle":
            state.next_due_at = None
            continue
        profile = db.get(ContactProfile, state.contact_id)
        if profile is None:
            continue
        result = try_rule(db, _as_dict(rule_row), profile, f"cycle step {state.fired_count + 1}", now, execute)
        if result == "acted":
            acted += 1
        elif result == "no_match":
            state.next_due_at = None  # left the criteria: the cycle ends for this contact
    return acted


def run_due(db: Session, execute: Executor, now: datetime | None = None,
            time_sweep_every: timedelta = timedelta(0)) -> dict[str, int]:
    """The scheduler tick: time-since rules (each at most every ``time_sweep_every``: the sweep
    aggregates every contact's last activity), due schedules and due cycle steps."""
    now = now or utcnow()
    counts = {"time_since_event": 0, "schedule": 0, "cycle": 0}
    for rule in live_rules(db, rulebook.TIME_TRIGGERS, now):
        if rule["trigger"]["type"] == "time_since_event":
            last = _last_sweep.get(rule["id"])
            if last is not None and now - last < time_sweep_every:
                continue
            _last_sweep[rule["id"]] = now
            counts["time_since_event"] += sweep_time_since(db, rule, execute, now)
        elif rule["next_run_at"] is not None and rule["next_run_at"] <= now:
            counts["schedule"] += sweep_all_contacts(db, rule, execute, now, rulebook.describe_trigger(rule["trigger"]))
            db.execute(sa.update(Rule).where(Rule.id == rule["id"]).values(
                next_run_at=rulebook.next_schedule_run(rule["trigger"], now), last_run_at=now))
    counts["cycle"] = cycle_steps(db, execute, now)
    return counts


def run_now(db: Session, rule_id: str, execute: Executor, now: datetime | None = None) -> dict[str, Any]:
    """Admin "run now": a time-since rule sweeps; any other rule is applied to every contact it matches."""
    now = now or utcnow()
    rule = _as_dict(get_rule(db, rule_id))
    if not rulebook.is_live(rule, now):
        raise Conflict("the rule is disabled or past its sunset date", {"rule_id": rule_id})
    if rule["trigger"]["type"] == "time_since_event":
        acted = sweep_time_since(db, rule, execute, now)
    else:
        acted = sweep_all_contacts(db, rule, execute, now, f"run now ({rulebook.describe_trigger(rule['trigger'])})")
    if rule["trigger"]["type"] == "schedule":
        db.execute(sa.update(Rule).where(Rule.id == rule_id).values(
            next_run_at=rulebook.next_schedule_run(rule["trigger"], now)))
    return {"rule_id": rule_id, "acted": acted}


# -- preview on past data ------------------------------------------------------------------------
def _occurrences(db: Session, trigger: dict[str, Any], since: datetime, now: datetime) -> dict[str, int]:
    """How often the trigger fired per contact in the timeframe."""
    kind = trigger["type"]
    counts: dict[str, int] = {}
    if kind == "event":
        rows = db.execute(sa.select(EngagementEvent.contact_id, sa.func.count())
                          .where(EngagementEvent.type.in_(trigger["event_types"]),
                                 EngagementEvent.occurred_at.between(since, now))
                          .group_by(EngagementEvent.contact_id)).all()
        return {cid: n for cid, n in rows}
    if kind in ("stage_change", "field_change"):
        fact_kind = "stage_change" if kind == "stage_change" else "field_change"
        rows = db.execute(sa.select(ContactFact.contact_id, ContactFact.data)
                          .where(ContactFact.kind == fact_kind, ContactFact.at.between(since, now))).all()
        for cid, data in rows:
            occ = {"kind": kind, **data}
            if rulebook.trigger_matches(trigger, occ):
                counts[cid] = counts.get(cid, 0) + 1
        return counts
    if kind == "score_change":
        rows = db.execute(sa.select(ScoreHistory.contact_id, ScoreHistory.score, ScoreHistory.previous_score)
                          .where(ScoreHistory.at.between(since, now))).all()
        for cid, score, prev in rows:
            if rulebook.trigger_matches(trigger, {"kind": kind, "score": score, "previous_score": prev}):
                counts[cid] = counts.get(cid, 0) + 1
        return counts
    return counts


def preview(db: Session, body: dict[str, Any], days: int, sample_size: int, now: datetime | None = None
            ) -> dict[str, Any]:
    """Seed 003 Preview Mode: apply a rule to past data without acting; who would it have hit, with what."""
    now = now or utcnow()
    rule = rulebook.validate_rule(body)
    since = now - timedelta(days=days)
    _, model = current_model(db)
    trigger = rule["trigger"]
    if trigger["type"] in rulebook.EVENT_TRIGGERS:
        occurrences = _occurrences(db, trigger, since, now)
        candidates = sorted(occurrences)[:sample_size]
        sample_total = len(occurrences)
    else:
        refs = _reference_times(db, trigger, model, now) if trigger["type"] == "time_since_event" else None
        ids = db.execute(sa.select(ContactProfile.contact_id).order_by(ContactProfile.contact_id)
                         .limit(sample_size)).scalars().all()
        sample_total = len(ids)
        occurrences = {}
        for cid in ids:
            if refs is None:
                occurrences[cid] = max(1, int(days * 24 * 60 // trigger["every_minutes"])) \
                    if trigger.get("every_minutes") else max(1, days // 7)
            elif cid in refs and refs[cid] <= now - timedelta(hours=trigger["hours"]):
                occurrences[cid] = 1
        candidates = sorted(occurrences)
    hits, warnings = [], []
    action_counts = {i: 0 for i in range(len(rule["actions"]))}
    for cid in candidates:
        profile = db.get(ContactProfile, cid)
        if profile is None:
            continue
        record = rule_record(db, profile, model, now)
        if rule.get("criteria") and not matches(rule["criteria"], record, now):
            continue
        times = _times_by_mode(rule["mode"], occurrences[cid])
        for i in action_counts:
            action_counts[i] += 1
        name = " ".join(str(p) for p in (record.get("first_name"), record.get("last_name")) if p)
        hits.append({"contact_id": cid, "name": name, "email": record.get("email"), "stage": record.get("stage"),
                     "score": record.get("score"), "triggers": occurrences[cid], "times": times})
        warnings.extend(_warnings(rule["actions"], record, cid, name))
    actions = []
    for i, action in enumerate(rule["actions"]):
        text = rulebook.describe_action(action)
        n = action_counts[i]
        actions.append({"type": action["type"], "description": text, "contacts": n,
                        "summary": f"{n} lead{'s' if n != 1 else ''} would have: {text}"})
    return {"timeframe_days": days, "sample_size": sample_total if trigger["type"] in rulebook.EVENT_TRIGGERS
            else len(candidates) if trigger["type"] == "time_since_event" else sample_total,
            "contacts_checked": len(candidates), "matched": len(hits),
            "would_trigger": sum(h["times"] for h in hits), "actions": actions, "contacts": hits[:50],
            "warnings": warnings[:50], "trigger_text": rulebook.describe_trigger(trigger)}


def _times_by_mode(mode: dict[str, Any], occurrences: int) -> int:
    if mode["type"] == "one_time":
        return 1
    if mode["type"] == "in_cycle" and mode.get("times"):
        return min(occurrences, mode["times"])
    return occurrences


def _warnings(actions: list[dict[str, Any]], record: dict[str, Any], cid: str, name: str) -> list[dict[str, Any]]:
    """Seed 003 "error highlighting": results that are probably not what the author meant."""
    out = []
    tags = {str(t).lower() for t in record.get("tags") or []}
    for action in actions:
        kind = action["type"]
        if kind in ("send_template_email", "enroll_campaign") and record.get("unsubscribed"):
            out.append({"contact_id": cid, "name": name, "action": kind,
                        "message": "contact is unsubscribed: the email/campaign would be refused"})
        elif kind == "set_stage" and (record.get("stage") or "").lower() == action["stage"].lower():
            out.append({"contact_id": cid, "name": name, "action": kind,
                        "message": f"contact is already in stage {action['stage']}"})
        elif kind == "remove_tag" and not tags & {t.lower() for t in action["tags"]}:
            out.append({"contact_id": cid, "name": name, "action": kind,
                        "message": "contact has none of these tags"})
        elif kind in ("notify_owner", "create_follow_up") and not record.get("owner_id"):
            out.append({"contact_id": cid, "name": name, "action": kind, "message": "contact has no owner"})
    return out
