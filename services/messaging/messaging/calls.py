"""Calls (purposes with scripts, scheduling, logging) and follow-ups with reminders."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.auth import Caller
from crm_shared.errors import Forbidden, NotFound
from messaging.models import Call, FollowUp, Template
from messaging.rules import (
    CALL_PURPOSES,
    FOLLOW_UP_PRIORITIES,
    FOLLOW_UP_STATUSES,
    FOLLOW_UP_TYPES,
    fail,
    one_of,
    utcnow,
    validate_call,
)

Emit = Callable[[str, dict[str, Any]], None]
REMIND_BEFORE_MAX = 7 * 24 * 60


def purposes() -> list[dict[str, Any]]:
    return [dict(p) for p in CALL_PURPOSES]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def call_dict(call: Call, follow_ups: list[FollowUp] | None = None) -> dict[str, Any]:
    minutes = round((call.duration_s or 0) / 60)
    return {"id": call.id, "contact_id": call.contact_id, "purpose": call.purpose, "status": call.status,
            "direction": call.direction, "scheduled_at": _iso(call.scheduled_at),
            "occurred_at": _iso(call.occurred_at), "duration_s": call.duration_s,
            "duration_label": f"{minutes} min call" if call.duration_s else None,
            "participants": call.participants, "notes": call.notes, "outcome": call.outcome,
            "user_id": call.user_id, "user_name": call.user_name, "created_at": _iso(call.created_at),
            "follow_ups": [follow_up_dict(f) for f in follow_ups or []]}


def follow_up_dict(f: FollowUp) -> dict[str, Any]:
    now = utcnow()
    return {"id": f.id, "contact_id": f.contact_id, "type": f.type, "title": f.title,
            "description": f.description, "priority": f.priority, "status": f.status, "due_at": _iso(f.due_at),
            "remind_at": _iso(f.remind_at), "reminded_at": _iso(f.reminded_at),
            "overdue": f.status == "open" and f.due_at < now, "assigned_to": f.assigned_to,
            "template_id": f.template_id, "call_id": f.call_id, "created_by": f.created_by,
            "created_at": _iso(f.created_at), "completed_at": _iso(f.completed_at)}


def _event(call: Call, actor_id: str | None) -> dict[str, Any]:
    return {"contact_id": call.contact_id, "call_id": call.id, "purpose": call.purpose, "status": call.status,
            "duration_s": call.duration_s, "actor_id": actor_id}


def log_call(session: Session, caller: Caller, contact: Mapping[str, Any], data: Mapping[str, Any],
             emit: Emit) -> dict[str, Any]:
    """Log a call (or schedule one); a follow-up from the outcome is created with it."""
    caller.require_owner(contact.get("owner_id"))
    valid = validate_call(data)
    call = Call(contact_id=str(contact["id"]), user_id=caller.user_id, user_name=caller.name or "", **valid)
    session.add(call)
    session.flush()
    follow_ups = []
    spec = data.get("follow_up")
    if spec is None and valid["status"] == "Rescheduled":
        spec = {"type": "call", "title": f"{valid['purpose']} (rescheduled)", "due_at": valid["scheduled_at"],
                "priority": "medium"}
    if spec:
        follow_ups.append(_new_follow_up(session, caller, {**spec, "contact_id": call.contact_id,
                                                            "call_id": call.id}))
    emit("call_scheduled" if call.status == "Scheduled" else "call_logged", _event(call, caller.user_id))
    session.flush()
    return call_dict(call, follow_ups)


def get_call(session: Session, call_id: str) -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("call not found", {"call_id": call_id})
    return call


def update_call(session: Session, caller: Caller, contact: Mapping[str, Any], call_id: str,
                data: Mapping[str, Any], emit: Emit) -> dict[str, Any]:
    """Log the outcome of a scheduled call, or correct a logged one."""
    caller.require_owner(contact.get("owner_id"))
    call = get_call(session, call_id)
    was = call.status
    merged = {"purpose": call.purpose, "status": call.status, "notes": call.notes, "duration_s": call.duration_s,
              "participants": call.participants, "outcome": call.outcome, "direction": call.direction,
              "scheduled_at": call.scheduled_at if data.get("status") in (None, "Scheduled", "Rescheduled") else None,
              "occurred_at": None if was == "Scheduled" else call.occurred_at}
    merged.update({k: v for k, v in data.items() if k != "follow_up"})
    valid = validate_call(merged)
    for key, value in valid.items():
        setattr(call, key, value)
    follow_ups = []
    if data.get("follow_up"):
        follow_ups.append(_new_follow_up(session, caller, {**data["follow_up"], "contact_id": call.contact_id,
                                                            "call_id": call.id}))
    if call.status != "Scheduled" and (was == "Scheduled" or was != call.status):
        emit("call_logged", _event(call, caller.user_id))
    session.flush()
    existing = session.execute(sa.select(FollowUp).where(FollowUp.call_id == call.id)).scalars().all()
    return call_dict(call, list(existing))


def list_calls(session: Session, contact_id: str | None = None, status: str | None = None,
               page: int = 1, per_page: int = 50) -> dict[str, Any]:
    query = sa.select(Call)
    if contact_id:
        query = query.where(Call.contact_id == contact_id)
    if status:
        query = query.where(Call.status == status)
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Call.occurred_at.desc()).offset((page - 1) * per_page)
                           .limit(per_page)).scalars().all()
    ups = follow_ups_of_calls(session, [c.id for c in rows])
    return {"items": [call_dict(c, ups.get(c.id, [])) for c in rows], "total": total, "page": page,
            "per_page": per_page}


def follow_ups_of_calls(session: Session, call_ids: list[str]) -> dict[str, list[FollowUp]]:
    out: dict[str, list[FollowUp]] = {}
    if call_ids:
        for f in session.execute(sa.select(FollowUp).where(FollowUp.call_id.in_(call_ids))
                                 .order_by(FollowUp.due_at)).scalars():
            out.setdefault(f.call_id, []).append(f)
    return out


# -- follow-ups ---------------------------------------------------------------
def _new_follow_up(session: Session, caller: Caller, data: Mapping[str, Any]) -> FollowUp:
    kind = one_of("type", data.get("type"), FOLLOW_UP_TYPES)
    priority = one_of("priority", data.get("priority") or "medium", FOLLOW_UP_PRIORITIES)
    due_at = data.get("due_at")
    if not isinstance(due_at, datetime):
        raise fail("due_at", "is required (ISO 8601 with a timezone)")
    remind_before = int(data.get("remind_before_minutes") or 0)
    if not 0 <= remind_before <= REMIND_BEFORE_MAX:
        raise fail("remind_before_minutes", f"between 0 and {REMIND_BEFORE_MAX}")
    template_id = data.get("template_id")
    template = session.get(Template, template_id) if template_id else None
    if template_id and template is None:
        raise fail("template_id", "unknown template")
    if template is not None and kind != "email":
        raise fail("template_id", "only an email follow-up uses a template")
    title = (data.get("title") or (template.name if template else f"{kind.capitalize()} follow-up")).strip()
    if len(title) > 200:
        raise fail("title", "at most 200 characters")
    follow_up = FollowUp(contact_id=data.get("contact_id"), type=kind, title=title,
                         description=data.get("description") or "", priority=priority, status="open",
                         due_at=due_at, remind_at=due_at - timedelta(minutes=remind_before),
                         assigned_to=data.get("assigned_to") or caller.user_id, template_id=template_id,
                         call_id=data.get("call_id"), created_by=caller.user_id)
    session.add(follow_up)
    session.flush()
    return follow_up


def create_follow_up(session: Session, caller: Caller, contact: Mapping[str, Any] | None,
                     data: Mapping[str, Any]) -> dict[str, Any]:
    if contact is not None:
        caller.require_owner(contact.get("owner_id"))
    else:
        caller.require("admin", "marketing", "sales")
    return follow_up_dict(_new_follow_up(session, caller, data))


def get_follow_up(session: Session, follow_up_id: str) -> FollowUp:
    f = session.get(FollowUp, follow_up_id)
    if f is None:
        raise NotFound("follow-up not found", {"follow_up_id": follow_up_id})
    return f


def update_follow_up(session: Session, caller: Caller, follow_up_id: str, data: Mapping[str, Any]) -> dict:
    """Done, cancelled, moved or reassigned; the assignee, the creator, marketing and admins may."""
    f = get_follow_up(session, follow_up_id)
    if caller.role not in ("admin", "marketing", "system") and caller.user_id not in (f.assigned_to, f.created_by):
        raise Forbidden("only the assignee or the creator may change this follow-up")
    if "status" in data:
        status = one_of("status", data["status"], FOLLOW_UP_STATUSES)
        f.status = status
        f.completed_at = utcnow() if status in ("done", "cancelled") else None
    if "priority" in data:
        f.priority = one_of("priority", data["priority"], FOLLOW_UP_PRIORITIES)
    for field in ("title", "description", "assigned_to"):
        if field in data and data[field] is not None:
            setattr(f, field, data[field])
    if data.get("due_at") is not None or data.get("remind_before_minutes") is not None:
        before = f.due_at - f.remind_at
        if data.get("remind_before_minutes") is not None:
            minutes = int(data["remind_before_minutes"])
            if not 0 <= minutes <= REMIND_BEFORE_MAX:
                raise fail("remind_before_minutes", f"between 0 and {REMIND_BEFORE_MAX}")
            before = timedelta(minutes=minutes)
        f.due_at = data.get("due_at") or f.due_at
        f.remind_at = f.due_at - before
        f.reminded_at = None  # a moved follow-up reminds again
    session.flush()
    return follow_up_dict(f)


def list_follow_ups(session: Session, caller: Caller, filters: Mapping[str, Any], page: int = 1,
                    per_page: int = 50) -> dict[str, Any]:
    """``due``: overdue | today | week | upcoming; ``assigned_to``: 'me' or a user id."""
    now = utcnow()
    query = sa.select(FollowUp)
    assigned = filters.get("assigned_to")
    if assigned:
        query = query.where(FollowUp.assigned_to == (caller.user_id if assigned == "me" else assigned))
    if filters.get("contact_id"):
        query = query.where(FollowUp.contact_id == filters["contact_id"])
    status = filters.get("status") or ("open" if filters.get("due") else None)
    if status:
        query = query.where(FollowUp.status == one_of("status", status, FOLLOW_UP_STATUSES))
    if filters.get("type"):
        query = query.where(FollowUp.type == one_of("type", filters["type"], FOLLOW_UP_TYPES))
    if filters.get("priority"):
        query = query.where(FollowUp.priority == one_of("priority", filters["priority"], FOLLOW_UP_PRIORITIES))
    due = filters.get("due")
    if due:
        one_of("due", due, ("overdue", "today", "week", "upcoming", "reminded"))
        start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if due == "overdue":
            query = query.where(FollowUp.due_at < now)
        elif due == "today":
            query = query.where(FollowUp.due_at >= start_of_day, FollowUp.due_at < start_of_day + timedelta(days=1))
        elif due == "week":
            query = query.where(FollowUp.due_at < now + timedelta(days=7))
        elif due == "upcoming":
            query = query.where(FollowUp.due_at >= now)
        else:
            query = query.where(FollowUp.reminded_at.is_not(None))
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    priority_order = sa.case({"urgent": 0, "high": 1, "medium": 2, "low": 3}, value=FollowUp.priority)
    rows = session.execute(query.order_by(FollowUp.due_at, priority_order).offset((page - 1) * per_page)
                           .limit(per_page)).scalars().all()
    return {"items": [follow_up_dict(f) for f in rows], "total": total, "page": page, "per_page": per_page}


def send_due_reminders(session: Session, emit: Emit, limit: int = 200) -> int:
    """Emit ``follow_up_due`` once per open follow-up whose reminder time has come."""
    rows = session.execute(sa.select(FollowUp).where(
        FollowUp.status == "open", FollowUp.reminded_at.is_(None), FollowUp.remind_at <= utcnow())
        .order_by(FollowUp.remind_at).limit(limit).with_for_update(skip_locked=True)).scalars().all()
    for f in rows:
        f.reminded_at = utcnow()
        emit("follow_up_due", {"follow_up_id": f.id, "contact_id": f.contact_id, "assigned_to": f.assigned_to,
                               "type": f.type, "title": f.title, "due_at": f.due_at.isoformat(),
                               "details": {"priority": f.priority, "template_id": f.template_id,
                                           "call_id": f.call_id}})
    session.commit()
    return len(rows)
