"""Campaigns (seed 002 entity and workflow, seed 000 assignment rules), enrollment and sequences."""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from crm_shared.auth import Caller
from crm_shared.errors import Conflict, NotFound
from messaging import limits, templates
from messaging.models import Campaign, CampaignStep, Email, Enrollment, Template, new_id
from messaging.rules import (
    CAMPAIGN_STATUSES,
    CAMPAIGN_TYPES,
    CAMPAIGN_VISIBILITY,
    ENROLLABLE_CAMPAIGN_STATUSES,
    cap_window,
    check_campaign_transition,
    check_enrollable_period,
    check_period,
    fail,
    one_of,
    period_hold,
    rate,
    utcnow,
)
from messaging.sending import ContactsPort, contacts_by_id, enqueue_campaign_step, suppressed

Emit = Callable[[str, dict[str, Any]], None]
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MAX_STEPS = 20
MAX_ENROLL = 10_000


def _steps_from(session: Session, raw: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(raw) > MAX_STEPS:
        raise fail("steps", f"at most {MAX_STEPS} steps")
    steps = []
    for n, step in enumerate(raw):
        delay = int(step.get("delay_minutes") or 0) + 60 * int(step.get("delay_hours") or 0) \
            + 1440 * int(step.get("delay_days") or 0)
        if delay < 0:
            raise fail(f"steps.{n}.delay_minutes", "must not be negative")
        template_id = step.get("template_id")
        if template_id:
            if session.get(Template, template_id) is None:
                raise fail(f"steps.{n}.template_id", "unknown template")
        elif not (step.get("subject") and step.get("body")):
            raise fail(f"steps.{n}", "give a template_id or a subject and body")
        for field in ("subject", "body"):
            if step.get(field):
                try:
                    templates.check_merge_fields({field: step[field]})
                except Exception as exc:
                    raise fail(f"steps.{n}.{field}", str(exc)) from exc
        steps.append({"position": n + 1, "delay_minutes": delay, "template_id": template_id,
                      "subject": step.get("subject"), "body": step.get("body")})
    return steps


def _validate(data: Mapping[str, Any], partial: bool) -> None:
    for field in ("title", "code", "type"):
        if field not in data and not partial:
            raise fail(field, "is required")
    if "title" in data and (not isinstance(data["title"], str) or not data["title"].strip()
                            or len(data["title"]) > 200):
        raise fail("title", "1 to 200 characters")
    if "code" in data and not CODE.match(str(data["code"] or "")):
        raise fail("code", "1 to 40 letters, digits, '-' or '_'")
    if "type" in data:
        one_of("type", data["type"], CAMPAIGN_TYPES)
    if data.get("visibility") is not None:
        one_of("visibility", data["visibility"], CAMPAIGN_VISIBILITY)
    if data.get("capacity") is not None and int(data["capacity"]) < 1:
        raise fail("capacity", "must be at least 1")


def get(session: Session, campaign_id: str, lock: bool = False) -> Campaign:
    query = sa.select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = session.execute(query).scalar_one_or_none()
    if campaign is None:
        raise NotFound("campaign not found", {"campaign_id": campaign_id})
    return campaign


def steps_of(session: Session, campaign_ids: list[str]) -> dict[str, list[CampaignStep]]:
    out: dict[str, list[CampaignStep]] = {cid: [] for cid in campaign_ids}
    for step in session.execute(sa.select(CampaignStep).where(CampaignStep.campaign_id.in_(campaign_ids))
                                .order_by(CampaignStep.position)).scalars():
        out[step.campaign_id].append(step)
    return out


def engagement(session: Session, campaign_ids: list[str], contact_id: str | None = None) -> dict[str, dict]:
    """Sent/opened/clicked/replied and rates per campaign (optionally for one contact)."""
    out = {cid: {"sent": 0, "opened": 0, "clicked": 0, "replied": 0} for cid in campaign_ids}
    if not campaign_ids:
        return out
    query = (sa.select(Email.campaign_id, sa.func.count().filter(Email.sent_at.is_not(None)),
                       sa.func.count().filter(Email.opened_at.is_not(None)),
                       sa.func.count().filter(Email.clicked_at.is_not(None)),
                       sa.func.count().filter(Email.replied_at.is_not(None)))
             .where(Email.campaign_id.in_(campaign_ids), Email.direction == "outbound")
             .group_by(Email.campaign_id))
    if contact_id:
        query = query.where(Email.contact_id == contact_id)
    for cid, sent, opened, clicked, replied in session.execute(query).all():
        out[cid] = {"sent": sent, "opened": opened, "clicked": clicked, "replied": replied}
    for item in out.values():
        item.update(open_rate=rate(item["opened"], item["sent"]), click_rate=rate(item["clicked"], item["sent"]),
                    response_rate=rate(item["replied"], item["sent"]))
    return out


def _enrollment_counts(session: Session, campaign_ids: list[str]) -> dict[str, dict[str, int]]:
    out = {cid: {"enrolled": 0, "active": 0, "completed": 0, "unsubscribed": 0} for cid in campaign_ids}
    rows = session.execute(sa.select(Enrollment.campaign_id, Enrollment.status, sa.func.count())
                           .where(Enrollment.campaign_id.in_(campaign_ids))
                           .group_by(Enrollment.campaign_id, Enrollment.status)).all()
    for cid, status, n in rows:
        out[cid][status] = out[cid].get(status, 0) + n
        if status in ("active", "completed"):
            out[cid]["enrolled"] += n
    return out


def to_dict(campaign: Campaign, steps: list[CampaignStep], counts: Mapping[str, int] | None = None,
            stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": campaign.id, "title": campaign.title, "name": campaign.title, "code": campaign.code,
        "description": campaign.description, "type": campaign.type, "visibility": campaign.visibility,
        "status": campaign.status, "start_date": campaign.start_date.isoformat() if campaign.start_date else None,
        "end_date": campaign.end_date.isoformat() if campaign.end_date else None, "capacity": campaign.capacity,
        "owner_id": campaign.owner_id, "status_history": campaign.status_history,
        "steps": [{"id": s.id, "position": s.position, "delay_minutes": s.delay_minutes,
                   "template_id": s.template_id, "subject": s.subject, "body": s.body} for s in steps],
        "contact_count": (counts or {}).get("enrolled", 0), "enrollments": dict(counts or {}),
        "engagement": dict(stats or {}),
        "created_at": campaign.created_at.isoformat(), "updated_at": campaign.updated_at.isoformat(),
    }


def read(session: Session, campaign_id: str) -> dict[str, Any]:
    campaign = get(session, campaign_id)
    return to_dict(campaign, steps_of(session, [campaign.id])[campaign.id],
                   _enrollment_counts(session, [campaign.id])[campaign.id],
                   engagement(session, [campaign.id])[campaign.id])


def list_campaigns(session: Session, filters: Mapping[str, Any], page: int = 1, per_page: int = 50) -> dict:
    query = sa.select(Campaign)
    if filters.get("status"):
        query = query.where(Campaign.status == one_of("status", filters["status"], CAMPAIGN_STATUSES))
    if filters.get("type"):
        query = query.where(Campaign.type == one_of("type", filters["type"], CAMPAIGN_TYPES))
    if filters.get("q"):
        like = f"%{filters['q']}%"
        query = query.where(sa.or_(Campaign.title.ilike(like), Campaign.code.ilike(like),
                                   Campaign.description.ilike(like)))
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = session.execute(query.order_by(Campaign.created_at.desc()).offset((page - 1) * per_page)
                            .limit(per_page)).scalars().all()
    ids = [c.id for c in items]
    steps, counts, stats = steps_of(session, ids), _enrollment_counts(session, ids), engagement(session, ids)
    return {"items": [to_dict(c, steps[c.id], counts[c.id], stats[c.id]) for c in items], "total": total,
            "page": page, "per_page": per_page}


def create(session: Session, caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    _validate(data, partial=False)
    status = data.get("status") or "Draft"
    if status not in ("Draft", "New"):
        raise fail("status", "a new campaign starts as Draft or New")
    check_period(data.get("start_date"), data.get("end_date"))
    if session.execute(sa.select(Campaign.id).where(sa.func.lower(Campaign.code) == str(data["code"]).lower())).first():
        raise Conflict("campaign code already used", {"fields": {"code": ["already exists"]}})
    steps = _steps_from(session, list(data.get("steps") or []))
    campaign = Campaign(title=data["title"].strip(), code=data["code"], description=data.get("description") or "",
                        type=data["type"], visibility=data.get("visibility") or "Internal", status=status,
                        start_date=data.get("start_date"), end_date=data.get("end_date"),
                        capacity=data.get("capacity"), owner_id=caller.user_id,
                        status_history=[{"status": status, "at": utcnow().isoformat(), "by": caller.user_id}])
    session.add(campaign)
    session.flush()
    for step in steps:
        session.add(CampaignStep(campaign_id=campaign.id, **step))
    session.flush()
    session.refresh(campaign)
    return read(session, campaign.id)


def update(session: Session, caller: Caller, campaign_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    campaign = get(session, campaign_id, lock=True)
    _validate(data, partial=True)
    if campaign.status == "Discarded":
        raise Conflict("a discarded campaign cannot change", {"fields": {"status": ["Discarded is final"]}})
    if "code" in data and str(data["code"]).lower() != campaign.code.lower():
        if session.execute(sa.select(Campaign.id).where(
                sa.func.lower(Campaign.code) == str(data["code"]).lower())).first():
            raise Conflict("campaign code already used", {"fields": {"code": ["already exists"]}})
    check_period(data.get("start_date", campaign.start_date), data.get("end_date", campaign.end_date))
    if data.get("capacity") is not None:
        counts = _enrollment_counts(session, [campaign.id])[campaign.id]
        if int(data["capacity"]) < counts["active"]:
            raise fail("capacity", f"below the {counts['active']} contacts already enrolled")
    if any(f in data and data[f] != getattr(campaign, f) for f in ("start_date", "end_date")):
        # a new period re-examines the enrollments it held back (the timer decides again)
        session.execute(sa.update(Enrollment).where(
            Enrollment.campaign_id == campaign.id, Enrollment.status.in_(("active", "ended")),
            Enrollment.hold_reason.in_(("before_start_date", "campaign_ended")))
            .values(status="active", next_due_at=utcnow()))
    for field in ("title", "code", "description", "type", "visibility", "start_date", "end_date", "capacity"):
        if field in data:
            setattr(campaign, field, data[field].strip() if field == "title" else data[field])
    if "steps" in data:
        if campaign.status == "Active":
            raise Conflict("steps of an active campaign cannot be replaced; set it Inactive first",
                           {"fields": {"steps": ["campaign is Active"]}})
        steps = _steps_from(session, list(data["steps"] or []))
        session.execute(sa.delete(CampaignStep).where(CampaignStep.campaign_id == campaign.id))
        session.flush()
        for step in steps:
            session.add(CampaignStep(campaign_id=campaign.id, **step))
    if data.get("status") and data["status"] != campaign.status:
        check_campaign_transition(campaign.status, data["status"])
        campaign.status = data["status"]
        campaign.status_history = [*campaign.status_history,
                                   {"status": data["status"], "at": utcnow().isoformat(), "by": caller.user_id}]
    campaign.updated_at = utcnow()
    session.flush()
    return read(session, campaign.id)


def enroll(session: Session, caller: Caller, contacts: ContactsPort, campaign_id: str, contact_ids: list[str],
           emit: Emit) -> dict[str, Any]:
    """Enroll many contacts; unsubscribed, inactive, unknown and over-capacity ones are refused per contact."""
    campaign = get(session, campaign_id, lock=True)  # the lock serialises capacity checks per campaign
    if campaign.status not in ENROLLABLE_CAMPAIGN_STATUSES:
        raise Conflict(f"only an Active campaign takes enrollments (this one is {campaign.status})",
                       {"fields": {"status": [f"is {campaign.status}"]}, "campaign_id": campaign.id})
    check_enrollable_period(campaign.end_date, cap_window(utcnow())[0])
    ids = list(dict.fromkeys(str(i) for i in contact_ids))
    if not ids:
        raise fail("contact_ids", "no contacts to enroll")
    if len(ids) > MAX_ENROLL:
        raise fail("contact_ids", f"at most {MAX_ENROLL} contacts at once")
    known = contacts_by_id(contacts, ids)
    blocked = suppressed(session, [c.get("email") or "" for c in known.values()], ids)
    existing = dict(session.execute(sa.select(Enrollment.contact_id, Enrollment.status).where(
        Enrollment.campaign_id == campaign.id, Enrollment.contact_id.in_(ids))).all())
    active = session.execute(sa.select(sa.func.count()).where(
        Enrollment.campaign_id == campaign.id, Enrollment.status == "active")).scalar_one()
    steps = steps_of(session, [campaign.id])[campaign.id]
    now = utcnow()
    first_due = now + timedelta(minutes=steps[0].delay_minutes) if steps else None
    results = []
    for contact_id in ids:
        contact = known.get(contact_id)
        reason = None
        if contact is None:
            reason = "contact_not_found"
        elif contact.get("unsubscribed") or contact_id in blocked or (contact.get("email") or "").lower() in blocked:
            reason = "unsubscribed"
        elif contact.get("inactive"):
            reason = "inactive"
        elif existing.get(contact_id) in ("active", "completed"):
            reason = "already_enrolled"
        elif existing.get(contact_id) == "unsubscribed":
            reason = "unsubscribed"
        elif not caller.can_write_owned(contact.get("owner_id")):
            reason = "not_owner"
        elif campaign.capacity is not None and active >= campaign.capacity:
            reason = "capacity_reached"
        if reason:
            results.append({"contact_id": contact_id, "status": "refused", "reason": reason})
            continue
        session.execute(insert(Enrollment).values(
            id=new_id(), campaign_id=campaign.id, contact_id=contact_id, status="active",
            steps_done=0, next_due_at=first_due, enrolled_by=caller.user_id, enrolled_at=now,
        ).on_conflict_do_update(constraint="uq_enrollments_campaign_contact",
                                set_={"status": "active", "steps_done": 0, "next_due_at": first_due,
                                      "enrolled_by": caller.user_id, "enrolled_at": now, "left_at": None,
                                      "hold_reason": None}))
        active += 1
        emit("campaign_enrolled", {"contact_id": contact_id, "campaign_id": campaign.id,
                                   "campaign_name": campaign.title, "actor_id": caller.user_id})
        results.append({"contact_id": contact_id, "status": "enrolled"})
    enrolled = sum(1 for r in results if r["status"] == "enrolled")
    return {"campaign_id": campaign.id, "enrolled": enrolled, "refused": len(results) - enrolled,
            "results": results}


def unenroll(session: Session, caller: Caller, campaign_id: str, contact_ids: list[str], emit: Emit) -> dict:
    campaign = get(session, campaign_id)
    left = session.execute(sa.update(Enrollment).where(
        Enrollment.campaign_id == campaign.id, Enrollment.contact_id.in_([str(i) for i in contact_ids]),
        Enrollment.status == "active").values(status="removed", left_at=utcnow(), next_due_at=None)
        .returning(Enrollment.contact_id)).scalars().all()
    for contact_id in left:
        emit("campaign_unenrolled", {"contact_id": contact_id, "campaign_id": campaign.id,
                                     "campaign_name": campaign.title, "actor_id": caller.user_id})
    return {"campaign_id": campaign.id, "removed": list(left)}


def list_enrollments(session: Session, campaign_id: str, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    get(session, campaign_id)
    query = sa.select(Enrollment).where(Enrollment.campaign_id == campaign_id)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Enrollment.enrolled_at.desc()).offset((page - 1) * per_page)
                           .limit(per_page)).scalars().all()
    return {"items": [_enrollment_dict(e) for e in rows], "total": total, "page": page, "per_page": per_page}


def _enrollment_dict(e: Enrollment) -> dict[str, Any]:
    return {"id": e.id, "campaign_id": e.campaign_id, "contact_id": e.contact_id, "status": e.status,
            "steps_done": e.steps_done, "next_due_at": e.next_due_at.isoformat() if e.next_due_at else None,
            "enrolled_at": e.enrolled_at.isoformat(), "left_at": e.left_at.isoformat() if e.left_at else None,
            "hold_reason": e.hold_reason}


def contact_campaigns(session: Session, contact_id: str) -> list[dict[str, Any]]:
    """The contact's campaigns with per-contact engagement and progress (steps done of total)."""
    rows = session.execute(sa.select(Enrollment, Campaign).join(Campaign, Campaign.id == Enrollment.campaign_id)
                           .where(Enrollment.contact_id == contact_id)
                           .order_by(Enrollment.enrolled_at.desc())).all()
    ids = [c.id for _, c in rows]
    steps, stats = steps_of(session, ids), engagement(session, ids, contact_id=contact_id)
    return [{**_enrollment_dict(e), "enrollment_status": e.status, "campaign": {
        "id": c.id, "title": c.title, "name": c.title, "code": c.code, "type": c.type, "status": c.status,
        "start_date": c.start_date.isoformat() if c.start_date else None,
        "end_date": c.end_date.isoformat() if c.end_date else None},
        "title": c.title, "type": c.type, "campaign_status": c.status,
        "steps_total": len(steps[c.id]), "progress": f"{e.steps_done}/{len(steps[c.id])}",
        "engagement": stats[c.id]} for e, c in rows]


def run_due_steps(session: Session, limit: int = 500) -> int:
    """Queue the next step for every enrollment that is due (the sender timer sends it).

    A step does not fire outside the campaign period (held until start_date; the enrollment
    ends after end_date) nor beyond the daily send cap (deferred to the reset). The hold is
    recorded in ``hold_reason``; nothing is dropped, and the UNIQUE send key keeps a step to one send.
    """
    now = utcnow()
    due = session.execute(
        sa.select(Enrollment).join(Campaign, Campaign.id == Enrollment.campaign_id)
        .where(Enrollment.status == "active", Enrollment.next_due_at.is_not(None), Enrollment.next_due_at <= now,
               Campaign.status == "Active")
        .order_by(Enrollment.next_due_at).limit(limit).with_for_update(of=Enrollment, skip_locked=True)
    ).scalars().all()
    if not due:
        return 0
    campaign_ids = list({e.campaign_id for e in due})
    steps = steps_of(session, campaign_ids)
    campaigns = {c.id: c for c in session.execute(sa.select(Campaign).where(Campaign.id.in_(campaign_ids))).scalars()}
    today, _ = cap_window(now)
    left: limits.Budget | None = None
    remaining = 0
    for enrollment in due:
        campaign = campaigns[enrollment.campaign_id]
        sequence = steps[enrollment.campaign_id]
        hold = period_hold(campaign.start_date, campaign.end_date, today)
        if hold == "campaign_ended":
            enrollment.status, enrollment.hold_reason, enrollment.next_due_at = "ended", hold, None
            continue
        if hold == "before_start_date":
            enrollment.hold_reason = hold
            enrollment.next_due_at = datetime.combine(campaign.start_date, dt_time(0), UTC)
            continue
        if enrollment.steps_done < len(sequence):
            if left is None:
                left = limits.budget(session)  # locks the day's counter row (A7)
                remaining = left.remaining
            if remaining <= 0:
                enrollment.hold_reason, enrollment.next_due_at = "daily_send_cap", left.resets_at
                continue
            if enqueue_campaign_step(session, campaign, sequence[enrollment.steps_done], enrollment.contact_id):
                remaining -= 1
            enrollment.steps_done += 1
        enrollment.hold_reason = None
        if enrollment.steps_done >= len(sequence):
            enrollment.status, enrollment.next_due_at = "completed", None
        else:
            enrollment.next_due_at = now + timedelta(minutes=sequence[enrollment.steps_done].delay_minutes)
    session.commit()
    return len(due)
