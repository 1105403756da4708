"""The rule engine over the database: rules CRUD, evaluation, time-based sweeps, preview, run log.

Actions are carried out by an ``Executor`` (the service passes one that makes
the RPCs to contacts and messaging); everything else here is plain code.
"""
from __future__ import annotations

import logging
import time
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
from scoring.models import (
    ContactFact,
    ContactProfile,
    EngagementEvent,
    JobRun,
    Rule,
    RuleContactState,
    RuleRun,
    ScoreHistory,
)
from scoring.operations import criteria_need_events, current_model, rule_record, rule_records, utcnow

log = logging.getLogger(__name__)
Executor = Callable[[dict[str, Any], ContactProfile, dict[str, Any]], dict[str, Any]]
DEFAULT_RULE_ID = "default-hot-lead"
LOOP_WINDOW = timedelta(seconds=60)
LOOP_LIMIT = 5  # more actions than this on one contact within a minute is a rule loop, not news
SWEEP_PAGE = 1000  # contacts a sweep loads and evaluates together (profiles, states, records: a query each)
SWEEP_ACT_LIMIT = 5000  # contacts one sweep acts on (each action is an RPC); the rest waits for the next tick
SWEEP_SECONDS = 60.0  # a sweep that has checked for this long leaves the rest to the next tick as well
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


_UNREAD: Any = object()


def try_rule(db: Session, rule: dict[str, Any], profile: ContactProfile, trigger_text: str, now: datetime,
             execute: Executor, record: dict[str, Any] | None = None, state: Any = _UNREAD,
             touch_rule: bool = True) -> str:
    """Apply one rule to one contact: 'acted', 'no_match' or 'skipped' (mode said no).

    Sweeps pass the contact's ``state`` (locked with its page, None when the rule never acted on it)
    and ``touch_rule=False`` (they set the rule's ``last_run_at`` once per page).
    """
    if state is _UNREAD:
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
    if touch_rule:
        db.execute(sa.update(Rule).where(Rule.id == rule["id"]).values(last_run_at=now))
    return "acted"


class NotFirstDelivery(Exception):
    """``before_acting`` said the occurrence was handled already (a redelivered event)."""


def evaluate(db: Session, profile: ContactProfile, occurrence: dict[str, Any], execute: Executor,
             now: datetime | None = None) -> list[dict[str, Any]]:
    """Run the live rules an occurrence triggers on one contact, by priority; a blocking match stops the rest."""
    found = evaluate_many(db, [(profile.contact_id, occurrence)], execute, now, {profile.contact_id: profile})
    return found.get(profile.contact_id, [])


def evaluate_many(db: Session, occurrences: list[tuple[str, dict[str, Any]]], execute: Executor,
                  now: datetime | None = None, profiles: dict[str, ContactProfile] | None = None,
                  before_acting: Callable[[], bool] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``evaluate`` for a batch of ``(contact_id, occurrence)`` (a ``scores_changed`` event).

    The live rules are read once and nothing else is read when none is triggered; the profiles
    (unless given) and the rule records are loaded in one query each, so a 1,000-contact batch
    costs a few queries plus the work of the contacts a rule really applies to.
    ``before_acting`` (the handler's ``claim_event``) is called once, just before the first rule whose
    criteria match is tried; when it answers False nothing is done (``NotFirstDelivery`` is raised).
    So an occurrence no rule acts on writes nothing at all: no claim row, no commit to wait for.
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
    # engagement facts only when a triggered rule's criteria test them ("score >= 90" does not)
    with_events = any(criteria_need_events(rule.get("criteria")) for _, fired in triggered for rule in fired)
    model = current_model(db)[1] if with_events else None
    records = rule_records(db, [profiles[cid] for cid in ids if cid in profiles], model, now, events=with_events)
    gate = _Gate(before_acting)
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for cid, fired in triggered:
        profile = profiles.get(cid)
        if profile is None:
            continue  # deleted, or its contact_created has not arrived: nothing to act on
        outcomes.setdefault(cid, []).extend(_run_ordered(
            db, fired, profile, now, execute, lambda r: rulebook.describe_trigger(r["trigger"]), records[cid],
            gate))
    return outcomes


class _Gate:
    """Calls ``before_acting`` once, the first time a rule is about to be tried for real."""

    def __init__(self, before_acting: Callable[[], bool] | None):
        self.before_acting = before_acting

    def open(self) -> None:
        if self.before_acting is not None:
            first, self.before_acting = self.before_acting(), None
            if not first:
                raise NotFirstDelivery()


def _run_ordered(db: Session, rules: list[dict[str, Any]], profile: ContactProfile, now: datetime,
                 execute: Executor, describe: Callable[[dict[str, Any]], str],
                 record: dict[str, Any] | None = None, gate: _Gate | None = None) -> list[dict[str, Any]]:
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
            if gate is not None:
                gate.open()
            result = try_rule(db, rule, profile, describe(rule), now, execute, record)
        outcomes.append({"rule_id": rule["id"], "result": result})
        if result == "acted" and rule["blocking"]:
            break
    return outcomes


# -- time-based rules ----------------------------------------------------------------------------
# Sweeps (time-since rules, schedules, "run now") go through the contacts a page at a time: the page's
# profiles, rule states (locked) and rule records are read with one query each, then every contact of
# the page is tried. There is no cap on the contacts a sweep reaches: a sweep that acted on
# SWEEP_ACT_LIMIT contacts (or ran SWEEP_SECONDS) stores where it stopped in a cursor row
# (``job_runs`` "sweep:<kind>:<rule id>", with how many contacts are left to check) and the next
# scheduler tick goes on from there.
def _cursor_name(kind: str, rule_id: str) -> str:
    return f"sweep:{kind}:{rule_id}"


def _reference_select(trigger: dict[str, Any], model: dict[str, Any], now: datetime) -> sa.Select:
    """``(contact_id, ref)`` for every profile: the time the trigger counts from (last activity, creation,
    last stage change, or the last event of a type: NULL when there is none). The maximum is taken
    per contact over its own index entries, so a page costs its contacts, not the whole event table."""
    p = ContactProfile.__table__
    event = trigger["event"]
    if event == "created":
        ref: Any = p.c.created_at
    elif event == "stage_changed":
        f = ContactFact.__table__
        last = sa.select(sa.func.max(f.c.at)).where(f.c.contact_id == p.c.contact_id,
                                                    f.c.kind == "stage_change").scalar_subquery()
        ref = sa.func.coalesce(last, p.c.created_at)
    else:
        e = EngagementEvent.__table__
        untouched = event in ("last_activity", "untouched")
        types = model["active_interest_types"] if untouched else [event]
        last = sa.select(sa.func.max(e.c.occurred_at)).where(
            e.c.contact_id == p.c.contact_id, e.c.type.in_(types), e.c.occurred_at <= now).scalar_subquery()
        ref = sa.func.coalesce(last, p.c.created_at) if untouched else last
    return sa.select(p.c.contact_id, ref.label("ref"))


def _reference_times(db: Session, trigger: dict[str, Any], model: dict[str, Any], now: datetime,
                     contact_ids: list[str]) -> dict[str, datetime]:
    """The reference time of each of ``contact_ids`` that has one (preview)."""
    if not contact_ids:
        return {}
    q = _reference_select(trigger, model, now).subquery()
    rows = db.execute(sa.select(q.c.contact_id, q.c.ref).where(q.c.contact_id.in_(contact_ids))).all()
    return {cid: at for cid, at in rows if at is not None}


Page = Callable[[str | None], list[tuple[str, datetime | None]]]


def _time_since_pages(db: Session, rule: dict[str, Any], model: dict[str, Any], now: datetime) -> Page:
    """Pages of the contacts quiet for longer than the trigger's hours, in id order; those the rule
    acted on in this quiet spell already are left out in SQL (except in-cycle rules: the mode decides)."""
    q = _reference_select(rule["trigger"], model, now).subquery()
    threshold = now - timedelta(hours=rule["trigger"]["hours"])
    stmt = sa.select(q.c.contact_id, q.c.ref).where(q.c.ref <= threshold)
    if rule["mode"]["type"] != "in_cycle":
        s = RuleContactState.__table__
        stmt = stmt.where(~sa.exists().where(s.c.rule_id == rule["id"], s.c.contact_id == q.c.contact_id,
                                             s.c.last_fired_at >= q.c.ref))

    def page(after: str | None) -> list[tuple[str, datetime | None]]:
        paged = stmt if after is None else stmt.where(q.c.contact_id > after)
        return [(r.contact_id, r.ref) for r in db.execute(paged.order_by(q.c.contact_id).limit(SWEEP_PAGE))]

    return page


def _all_contact_pages(db: Session) -> Page:
    def page(after: str | None) -> list[tuple[str, datetime | None]]:
        stmt = sa.select(ContactProfile.contact_id)
        if after is not None:
            stmt = stmt.where(ContactProfile.contact_id > after)
        return [(cid, None) for cid in db.execute(stmt.order_by(ContactProfile.contact_id)
                                                  .limit(SWEEP_PAGE)).scalars()]

    return page


def _try_page(db: Session, rule: dict[str, Any], page: list[tuple[str, datetime | None]], now: datetime,
              execute: Executor, describe: Callable[[datetime | None], str], budget: int) -> tuple[int, int, str]:
    """Try the rule on one page of contacts; stops after ``budget`` contacts acted on.

    Returns (contacts checked, contacts acted on, id of the last contact checked).
    """
    ids = [cid for cid, _ in page]
    profiles = {p.contact_id: p for p in db.execute(
        sa.select(ContactProfile).where(ContactProfile.contact_id.in_(ids))).scalars()}
    states = {s.contact_id: s for s in db.execute(
        sa.select(RuleContactState).where(RuleContactState.rule_id == rule["id"],
                                          RuleContactState.contact_id.in_(ids))
        .order_by(RuleContactState.contact_id).with_for_update()).scalars()}
    with_events = criteria_need_events(rule.get("criteria"))
    model = current_model(db)[1] if with_events else None
    records = rule_records(db, list(profiles.values()), model, now, events=with_events)
    checked = acted = 0
    last = ids[-1]
    for cid, ref in page:
        checked += 1
        profile, state = profiles.get(cid), states.get(cid)
        if profile is None:
            continue
        if ref is not None and state is not None and state.last_fired_at >= ref \
                and rule["mode"]["type"] != "in_cycle":
            continue  # acted in this quiet spell meanwhile (the state is locked now)
        if try_rule(db, rule, profile, describe(ref), now, execute, records[cid], state=state,
                    touch_rule=False) == "acted":
            acted += 1
            if acted >= budget:
                last = cid
                break
    if acted:
        db.execute(sa.update(Rule).where(Rule.id == rule["id"]).values(last_run_at=now))
    return checked, acted, last


def _sweep(db: Session, rule: dict[str, Any], execute: Executor, now: datetime, kind: str, pages: Page,
           describe: Callable[[datetime | None], str], fresh: bool = False) -> dict[str, Any]:
    """Page through a rule's contacts from where the last sweep of this kind stopped (``fresh``: from the
    start). Returns the summary: checked, acted, complete and, when not, left_to_check (contacts after
    the cursor, which the next sweep reaches first)."""
    name = _cursor_name(kind, rule["id"])
    cursor = db.get(JobRun, name)
    resumed = cursor is not None and not fresh
    after = cursor.result.get("after") if resumed else None
    started = time.monotonic()
    checked = acted = 0
    complete = False
    while True:
        page = pages(after)
        if not page:
            complete = True
            break
        n_checked, n_acted, after = _try_page(db, rule, page, now, execute, describe, SWEEP_ACT_LIMIT - acted)
        checked, acted = checked + n_checked, acted + n_acted
        if acted >= SWEEP_ACT_LIMIT or time.monotonic() - started >= SWEEP_SECONDS:
            break
    left = 0 if complete else db.execute(sa.select(sa.func.count()).select_from(ContactProfile)
                                         .where(ContactProfile.contact_id > after)).scalar_one()
    complete = complete or left == 0
    summary = {"rule_id": rule["id"], "kind": kind, "checked": checked, "acted": acted, "complete": complete,
               "left_to_check": left, "resumed": resumed}
    if complete:
        if cursor is not None:
            db.delete(cursor)
    else:
        before = cursor.result if resumed else {}
        db.merge(JobRun(name=name, last_run_at=now, result={
            "after": after, "kind": kind, "rule_id": rule["id"], "left_to_check": left,
            "started_at": before.get("started_at", now.isoformat()),
            "checked": before.get("checked", 0) + checked, "acted": before.get("acted", 0) + acted}))
        log.info("rule sweep stopped at its limit; the next tick goes on", extra=summary)
    return summary


def sweep_time_since(db: Session, rule: dict[str, Any], execute: Executor, now: datetime,
                     fresh: bool = False) -> dict[str, Any]:
    """"Time untouched > 24 h": act once per quiet spell (again only after new activity and a new spell)."""
    _, model = current_model(db)
    text = rulebook.describe_trigger(rule["trigger"])
    return _sweep(db, rule, execute, now, "time_since", _time_since_pages(db, rule, model, now),
                  lambda ref: f"{text} (since {ref.isoformat()})", fresh)


def sweep_all_contacts(db: Session, rule: dict[str, Any], execute: Executor, now: datetime, text: str,
                       kind: str = "schedule", fresh: bool = False) -> dict[str, Any]:
    """A schedule (or "run now") over every contact, a page at a time."""
    return _sweep(db, rule, execute, now, kind, _all_contact_pages(db), lambda _ref: text, fresh)


def cycle_steps(db: Session, execute: Executor, now: datetime) -> dict[str, int]:
    """In-cycle rules whose next step on a contact is due ("every 3 days for 2 weeks"), a page of due
    states at a time (rules, profiles and records read per page). At most SWEEP_ACT_LIMIT steps per
    tick; the steps still due stay due, the next tick takes them (``cycle_left`` says how many)."""
    started = time.monotonic()
    acted = checked = 0
    after: tuple[str, str] | None = None
    rules: dict[str, dict[str, Any] | None] = {}
    stop = False
    while not stop:
        stmt = sa.select(RuleContactState).where(RuleContactState.next_due_at <= now)
        if after is not None:
            stmt = stmt.where(sa.tuple_(RuleContactState.rule_id, RuleContactState.contact_id) > after)
        due = db.execute(stmt.order_by(RuleContactState.rule_id, RuleContactState.contact_id)
                         .limit(SWEEP_PAGE).with_for_update()).scalars().all()
        if not due:
            break
        wanted = {s.rule_id for s in due} - set(rules)
        if wanted:
            found = {r.id: _as_dict(r) for r in db.execute(sa.select(Rule).where(Rule.id.in_(wanted))).scalars()}
            rules.update({rid: found.get(rid) for rid in wanted})
        profiles = {p.contact_id: p for p in db.execute(sa.select(ContactProfile).where(
            ContactProfile.contact_id.in_({s.contact_id for s in due}))).scalars()}
        by_rule: dict[str, list[RuleContactState]] = {}
        for state in due:
            by_rule.setdefault(state.rule_id, []).append(state)
        for rule_id, states in by_rule.items():
            rule = rules[rule_id]
            if rule is None or not rulebook.is_live(rule, now) or rule["mode"]["type"] != "in_cycle":
                for state in states:
                    state.next_due_at = None
                    checked += 1
                after = (rule_id, states[-1].contact_id)
                continue
            with_events = criteria_need_events(rule.get("criteria"))
            records = rule_records(db, [profiles[s.contact_id] for s in states if s.contact_id in profiles],
                                   current_model(db)[1] if with_events else None, now, events=with_events)
            acted_here = 0
            for state in states:
                checked += 1
                after = (rule_id, state.contact_id)
                profile = profiles.get(state.contact_id)
                if profile is None:
                    continue
                result = try_rule(db, rule, profile, f"cycle step {state.fired_count + 1}", now, execute,
                                  records[state.contact_id], state=state, touch_rule=False)
                if result == "acted":
                    acted_here += 1
                elif result == "no_match":
                    state.next_due_at = None  # left the criteria: the cycle ends for this contact
                if acted + acted_here >= SWEEP_ACT_LIMIT:
                    stop = True
                    break
            acted += acted_here
            if acted_here:
                db.execute(sa.update(Rule).where(Rule.id == rule_id).values(last_run_at=now))
            if stop:
                break
        if time.monotonic() - started >= SWEEP_SECONDS:
            stop = True
    left = db.execute(sa.select(sa.func.count()).select_from(RuleContactState)
                      .where(RuleContactState.next_due_at <= now)).scalar_one() if stop else 0
    return {"cycle": acted, "cycle_checked": checked, "cycle_left": left}


def run_due(db: Session, execute: Executor, now: datetime | None = None,
            time_sweep_every: timedelta = timedelta(0)) -> dict[str, Any]:
    """The scheduler tick: time-since rules (each at most every ``time_sweep_every``: the sweep
    reads every contact's last activity; a sweep that stopped at its limit goes on at once), due
    schedules (the next run is set when a sweep reached every contact), "run now" sweeps that stopped
    at their limit, and due cycle steps. The summary names what was left for the next tick."""
    now = now or utcnow()
    counts: dict[str, Any] = {"time_since_event": 0, "schedule": 0, "run_now": 0, "left_to_check": 0,
                              "unfinished": []}
    pending = set(db.execute(sa.select(JobRun.name).where(JobRun.name.like("sweep:%"))).scalars())

    def note(key: str, summary: dict[str, Any]) -> None:
        counts[key] += summary["acted"]
        if not summary["complete"]:
            counts["left_to_check"] += summary["left_to_check"]
            counts["unfinished"].append({k: summary[k] for k in ("rule_id", "kind", "left_to_check")})

    live = live_rules(db, rulebook.TRIGGERS, now)
    for rule in live:
        rid, kind = rule["id"], rule["trigger"]["type"]
        text = rulebook.describe_trigger(rule["trigger"])
        if _cursor_name("run_now", rid) in pending and kind != "time_since_event":
            note("run_now", sweep_all_contacts(db, rule, execute, now, f"run now ({text})", "run_now"))
        if kind == "time_since_event":
            last = _last_sweep.get(rid)
            if _cursor_name("time_since", rid) not in pending and last is not None and now - last < time_sweep_every:
                continue
            _last_sweep[rid] = now
            note("time_since_event", sweep_time_since(db, rule, execute, now))
        elif kind == "schedule" and ((rule["next_run_at"] is not None and rule["next_run_at"] <= now)
                                     or _cursor_name("schedule", rid) in pending):
            summary = sweep_all_contacts(db, rule, execute, now, text, "schedule")
            note("schedule", summary)
            if summary["complete"]:
                db.execute(sa.update(Rule).where(Rule.id == rid).values(
                    next_run_at=rulebook.next_schedule_run(rule["trigger"], now), last_run_at=now))
    live_ids = {r["id"] for r in live}
    for name in pending:  # the rule was switched off, expired or deleted meanwhile: its sweep ends here
        if name.rsplit(":", 1)[-1] not in live_ids:
            db.execute(sa.delete(JobRun).where(JobRun.name == name))
    counts.update(cycle_steps(db, execute, now))
    return counts


def run_now(db: Session, rule_id: str, execute: Executor, now: datetime | None = None) -> dict[str, Any]:
    """Admin "run now": a time-since rule sweeps; any other rule is applied to every contact it matches.

    A run that reaches its limit answers how many contacts are left; the scheduler goes on with them.
    """
    now = now or utcnow()
    rule = _as_dict(get_rule(db, rule_id))
    if not rulebook.is_live(rule, now):
        raise Conflict("the rule is disabled or past its sunset date", {"rule_id": rule_id})
    if rule["trigger"]["type"] == "time_since_event":
        summary = sweep_time_since(db, rule, execute, now, fresh=True)
    else:
        summary = sweep_all_contacts(db, rule, execute, now, f"run now ({rulebook.describe_trigger(rule['trigger'])})",
                                     "run_now", fresh=True)
    if rule["trigger"]["type"] == "schedule":
        db.execute(sa.update(Rule).where(Rule.id == rule_id).values(
            next_run_at=rulebook.next_schedule_run(rule["trigger"], now)))
    result = {"rule_id": rule_id, "acted": summary["acted"], "checked": summary["checked"],
              "complete": summary["complete"], "left_to_check": summary["left_to_check"]}
    if not summary["complete"]:
        result["continues"] = "the scheduler goes on with the remaining contacts on its next ticks"
    return result


def pending_sweeps(db: Session, rule_id: str) -> list[dict[str, Any]]:
    """Sweeps of a rule that stopped at their limit and go on at the next tick (shown with the rule)."""
    rows = db.execute(sa.select(JobRun).where(JobRun.name.in_(
        [_cursor_name(k, rule_id) for k in ("time_since", "schedule", "run_now")]))).scalars()
    return [{"kind": r.result.get("kind"), "left_to_check": r.result.get("left_to_check"),
             "checked": r.result.get("checked"), "acted": r.result.get("acted"),
             "started_at": r.result.get("started_at"), "last_run_at": r.last_run_at.isoformat()} for r in rows]


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
        ids = db.execute(sa.select(ContactProfile.contact_id).order_by(ContactProfile.contact_id)
                         .limit(sample_size)).scalars().all()
        refs = _reference_times(db, trigger, model, now, ids) if trigger["type"] == "time_since_event" else None
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
