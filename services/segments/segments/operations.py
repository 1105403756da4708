"""Segment definitions, templates and manual membership: the business rules, no nameko.

Who may do what (SPEC "Permissions"): marketing and admin manage segments and
templates; sales may add contacts to segments and remove the manual
additions they made themselves; every role reads.
"""
from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_shared.auth import ADMIN, MARKETING, SALES, Caller
from crm_shared.criteria import validate_criteria
from crm_shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from segments import membership
from segments.display import describe
from segments.models import ContactProjection, Segment, SegmentMember, SegmentTemplate

MAX_SEGMENTS = 50
NAME_MAX = 100
DESCRIPTION_MAX = 500
MAX_MEMBERS_PER_CALL = 10000
MANAGERS = (ADMIN, MARKETING)
ADDERS = (ADMIN, MARKETING, SALES)
COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
PALETTE = ("#2563EB", "#16A34A", "#9333EA", "#EA580C", "#DC2626", "#0891B2", "#CA8A04", "#DB2777")
M = SegmentMember.__table__
P = ContactProjection.__table__

# The seed 000 examples ("Segmentation Rules"), ready to use.
BUILTIN_TEMPLATES: tuple[dict[str, Any], ...] = (
    {"id": "high-value-prospects", "name": "High Value Prospects",
     "description": "AI score above 80 at companies with more than 100 employees.", "color": "#16A34A",
     "criteria": {"all": [{"field": "score", "op": "gt", "value": 80},
                          {"field": "company_size", "op": "gt", "value": 100}]}},
    {"id": "product-champions", "name": "Product Champions",
     "description": "Engagement above 70% and a demo requested.", "color": "#9333EA",
     "criteria": {"all": [{"field": "engagement_level", "op": "gt", "value": 70},
                          {"field": "demo_requested", "op": "eq", "value": True}]}},
    {"id": "enterprise-leads", "name": "Enterprise Leads",
     "description": "C-Level contacts at companies with more than 1000 employees.", "color": "#2563EB",
     "criteria": {"all": [{"field": "company_size", "op": "gt", "value": 1000},
                          {"field": "position", "op": "eq", "value": "C-Level"}]}},
)


def organization_id() -> str:
    """One organisation per deployment for now; the column lets several share a database later."""
    return os.environ.get("CRM_ORGANIZATION_ID", "default")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _fail(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed("Validation failed", {"fields": {field: [reason]}})


def _color_for(name: str) -> str:
    return PALETTE[int(hashlib.sha1(name.lower().encode()).hexdigest(), 16) % len(PALETTE)]


# -- input -----------------------------------------------------------------
def clean_definition(data: dict[str, Any], partial: bool = False, current: Segment | None = None) -> dict[str, Any]:
    """Validate name/description/color/kind/criteria; errors name the field (criteria parts by path)."""
    allowed = {"name", "description", "color", "kind", "criteria", "template_id"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationFailed("Unknown fields", {"fields": {k: ["unknown field"] for k in unknown}})
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail("name", "required")
        if len(name.strip()) > NAME_MAX:
            raise _fail("name", f"at most {NAME_MAX} characters")
        out["name"] = name.strip()
    if "description" in data:
        description = data.get("description") or ""
        if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
            raise _fail("description", f"text of at most {DESCRIPTION_MAX} characters")
        out["description"] = description.strip()
    if data.get("color") is not None:
        if not isinstance(data["color"], str) or not COLOR_RE.match(data["color"]):
            raise _fail("color", "a hex colour like #2563EB")
        out["color"] = data["color"].upper()
    kind = data.get("kind", current.kind if current else None)
    if kind is None:
        kind = "static" if data.get("criteria") is None else "dynamic"
    if kind not in ("dynamic", "static"):
        raise _fail("kind", "dynamic or static")
    if "kind" in data or not partial:
        out["kind"] = kind
    if kind == "dynamic":
        if "criteria" in data or not partial or (current is not None and current.kind != "dynamic"):
            if data.get("criteria") is None:
                raise _fail("criteria", "required for a dynamic segment")
            out["criteria"] = validate_criteria(data["criteria"])
    elif data.get("criteria") is not None:
        raise _fail("criteria", "a static segment has manual members only; leave criteria out")
    elif current is not None and current.kind == "dynamic":
        out["criteria"] = None
    return out


# -- output ----------------------------------------------------------------
def _counts(session: Session, segment_ids: list[str]) -> dict[str, dict[str, int]]:
    if not segment_ids:
        return {}
    rows = session.execute(
        sa.select(M.c.segment_id, sa.func.count().label("total"),
                  sa.func.count().filter(M.c.manual.is_(True)).label("manual"),
                  sa.func.count().filter(M.c.qualifies.is_(False)).label("not_qualifying"))
        .where(M.c.segment_id.in_(segment_ids)).group_by(M.c.segment_id)).all()
    return {r.segment_id: {"member_count": r.total, "manual_count": r.manual,
                           "not_qualifying_count": r.not_qualifying} for r in rows}


def segment_to_dict(segment: Segment, counts: dict[str, int] | None = None) -> dict[str, Any]:
    counts = counts or {"member_count": 0, "manual_count": 0, "not_qualifying_count": 0}
    return {
        "id": segment.id, "name": segment.name, "description": segment.description, "color": segment.color,
        "kind": segment.kind, "criteria": segment.criteria,
        "criteria_display": describe(segment.criteria) if segment.criteria else "Manual members",
        "status": "Active", "template_id": segment.template_id, "created_by": segment.created_by,
        "created_at": _iso(segment.created_at), "updated_at": _iso(segment.updated_at),
        "refreshed_at": _iso(segment.refreshed_at), **counts,
    }


def _get(session: Session, segment_id: str, lock: bool = False) -> Segment:
    query = sa.select(Segment).where(Segment.id == str(segment_id), Segment.organization_id == organization_id())
    if lock:
        query = query.with_for_update()
    segment = session.scalar(query)
    if segment is None:
        raise NotFound("segment not found", {"segment_id": segment_id})
    return segment


def get_segment(session: Session, segment_id: str) -> dict[str, Any]:
    segment = _get(session, segment_id)
    return segment_to_dict(segment, _counts(session, [segment.id]).get(segment.id))


def list_segments(session: Session, q: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(Segment).where(Segment.organization_id == organization_id()).order_by(Segment.name)
    if q:
        query = query.where(Segment.name.ilike(f"%{q.replace('%', '').replace('_', '')}%"))
    if kind:
        query = query.where(Segment.kind == kind)
    segments = list(session.scalars(query))
    counts = _counts(session, [s.id for s in segments])
    return [segment_to_dict(s, counts.get(s.id)) for s in segments]


# -- definitions -----------------------------------------------------------
def create_segment(session: Session, caller: Caller, data: dict[str, Any]) -> tuple[Segment, dict[str, Any]]:
    """Create (from scratch or a template) and populate; at most 50 per organisation (seed 000)."""
    caller.require(*MANAGERS)
    data = dict(data)
    template_id = data.get("template_id")
    if template_id:
        template = get_template(session, template_id)
        data.setdefault("name", template["name"])
        data.setdefault("description", template["description"])
        data.setdefault("color", template["color"])
        data.setdefault("criteria", template["criteria"])
    clean = clean_definition(data)
    org = organization_id()
    # Serialise creations per organisation so two concurrent requests cannot both take the 50th slot.
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"segments:{org}"))))
    count = session.scalar(sa.select(sa.func.count()).select_from(Segment).where(Segment.organization_id == org))
    if count >= MAX_SEGMENTS:
        raise Conflict(f"an organisation can have at most {MAX_SEGMENTS} segments; delete one first",
                       {"limit": MAX_SEGMENTS, "count": count, "code": "segment_limit_reached"})
    _check_name_free(session, clean["name"])
    segment = Segment(organization_id=org, name=clean["name"], description=clean.get("description", ""),
                      color=clean.get("color") or _color_for(clean["name"]), kind=clean["kind"],
                      criteria=clean.get("criteria"), template_id=template_id or None, created_by=caller.user_id)
    session.add(segment)
    session.flush()
    refresh = membership.refresh_segment(session, segment)
    session.refresh(segment)
    return segment, refresh.as_dict()


def _check_name_free(session: Session, name: str, except_id: str | None = None) -> None:
    query = sa.select(Segment.id).where(Segment.organization_id == organization_id(),
                                        sa.func.lower(Segment.name) == name.lower())
    if except_id:
        query = query.where(Segment.id != except_id)
    if session.scalar(query) is not None:
        raise Conflict("a segment with this name already exists", {"fields": {"name": ["already in use"]}})


def update_segment(session: Session, caller: Caller, segment_id: str,
                   data: dict[str, Any]) -> tuple[Segment, dict[str, Any] | None]:
    """Edit a segment; new criteria (or a kind change) re-evaluate every contact at once."""
    caller.require(*MANAGERS)
    segment = _get(session, segment_id, lock=True)
    clean = clean_definition(data, partial=True, current=segment)
    if "name" in clean:
        _check_name_free(session, clean["name"], except_id=segment.id)
    for key, value in clean.items():
        setattr(segment, key, value)
    segment.updated_at = _now()
    session.flush()
    refresh = None
    if "criteria" in clean or "kind" in clean:
        if segment.kind == "static":
            # Former dynamic members that nobody added by hand leave; manual ones qualify by definition.
            gone = session.execute(M.delete().where(M.c.segment_id == segment.id, M.c.manual.is_(False))
                                   .returning(M.c.contact_id)).scalars().all()
            session.execute(M.update().where(M.c.segment_id == segment.id).values(qualifies=True))
            for contact_id in gone:
                membership.Change(segment.id, segment.name, contact_id, membership.LEFT).publish(session)
            refresh = {"segment_id": segment.id, "joined": 0, "left": len(gone), "qualifies": 0,
                       "no_longer_qualifies": 0}
        else:
            refresh = membership.refresh_segment(session, segment).as_dict()
    session.refresh(segment)
    return segment, refresh


def delete_segment(session: Session, caller: Caller, segment_id: str) -> dict[str, Any]:
    caller.require(*MANAGERS)
    segment = _get(session, segment_id, lock=True)  # an already-deleted segment is a NotFound (404)
    left = membership.remove_segment(session, segment, caller.user_id)  # one `left` event per member
    session.execute(sa.delete(Segment).where(Segment.id == segment.id))
    session.expunge(segment)
    return {"id": segment_id, "deleted": True, "left": left}


def refresh(session: Session, caller: Caller, segment_id: str) -> dict[str, Any]:
    caller.require(*MANAGERS)
    return membership.refresh_segment(session, _get(session, segment_id, lock=True)).as_dict()


# -- templates -------------------------------------------------------------
def _template_dict(data: dict[str, Any], builtin: bool) -> dict[str, Any]:
    return {"id": data["id"], "name": data["name"], "description": data.get("description", ""),
            "color": data["color"], "criteria": data["criteria"], "criteria_display": describe(data["criteria"]),
            "builtin": builtin, "created_by": data.get("created_by"), "created_at": data.get("created_at")}


def list_templates(session: Session) -> list[dict[str, Any]]:
    saved = session.scalars(sa.select(SegmentTemplate).where(SegmentTemplate.organization_id == organization_id())
                            .order_by(SegmentTemplate.name))
    return [_template_dict(t, True) for t in BUILTIN_TEMPLATES] + [
        _template_dict({"id": t.id, "name": t.name, "description": t.description, "color": t.color,
                        "criteria": t.criteria, "created_by": t.created_by, "created_at": _iso(t.created_at)}, False)
        for t in saved]


def get_template(session: Session, template_id: str) -> dict[str, Any]:
    for template in list_templates(session):
        if template["id"] == str(template_id):
            return template
    raise NotFound("template not found", {"template_id": template_id})


def save_template(session: Session, caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    """Save criteria as a template: from a segment (``segment_id``) or given directly."""
    caller.require(*MANAGERS)
    data = dict(data)
    unknown = sorted(set(data) - {"name", "description", "color", "criteria", "segment_id"})
    if unknown:
        raise ValidationFailed("Unknown fields", {"fields": {k: ["unknown field"] for k in unknown}})
    if data.get("segment_id"):
        segment = _get(session, data.pop("segment_id"))
        if segment.kind != "dynamic":
            raise _fail("segment_id", "only a dynamic segment's criteria can become a template")
        data.setdefault("name", segment.name)
        data.setdefault("description", segment.description)
        data.setdefault("color", segment.color)
        data.setdefault("criteria", segment.criteria)
    data.pop("segment_id", None)
    clean = clean_definition({**data, "kind": "dynamic"})
    names = {t["name"].lower() for t in list_templates(session)}
    if clean["name"].lower() in names:
        raise Conflict("a template with this name already exists", {"fields": {"name": ["already in use"]}})
    template = SegmentTemplate(organization_id=organization_id(), name=clean["name"],
                               description=clean.get("description", ""),
                               color=clean.get("color") or _color_for(clean["name"]),
                               criteria=clean["criteria"], created_by=caller.user_id)
    session.add(template)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("a template with this name already exists", {"fields": {"name": ["already in use"]}}) from exc
    return get_template(session, template.id)


def delete_template(session: Session, caller: Caller, template_id: str) -> dict[str, Any]:
    caller.require(*MANAGERS)
    if any(t["id"] == template_id for t in BUILTIN_TEMPLATES):
        raise Forbidden("built-in templates cannot be deleted", {"template_id": template_id})
    deleted = session.execute(sa.delete(SegmentTemplate).where(
        SegmentTemplate.id == template_id, SegmentTemplate.organization_id == organization_id())).rowcount
    if not deleted:
        raise NotFound("template not found", {"template_id": template_id})
    return {"id": template_id, "deleted": True}


# -- members ---------------------------------------------------------------
def clean_ids(contact_ids: Any, field: str = "contact_ids") -> list[str]:
    if not isinstance(contact_ids, list) or not contact_ids:
        raise _fail(field, "a non-empty list of contact ids")
    if len(contact_ids) > MAX_MEMBERS_PER_CALL:
        raise _fail(field, f"at most {MAX_MEMBERS_PER_CALL} ids per call")
    ids: list[str] = []
    for value in contact_ids:
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise _fail(field, "ids are non-empty strings")
        ids.append(str(value).strip())
    return list(dict.fromkeys(ids))


def add_members(session: Session, caller: Caller, segment_id: str, contact_ids: Any,
                known: set[str]) -> tuple[dict[str, Any], list[membership.Change]]:
    """Manual additions (seed "Manual Override": allowed even when the contact does not qualify).

    ``known`` are the ids the caller verified exist (projection or contacts service).
    """
    caller.require(*ADDERS)
    ids = clean_ids(contact_ids)
    segment = _get(session, segment_id)
    missing = [i for i in ids if i not in known]
    wanted = [i for i in ids if i in known]
    existing = {r.contact_id: r for r in session.execute(
        sa.select(M).where(M.c.segment_id == segment.id, M.c.contact_id.in_(wanted)))} if wanted else {}
    stamp = _now()
    fresh = [i for i in wanted if i not in existing]
    verdicts = membership.qualifications(session, [segment], fresh)  # one query for all the new members
    added, already, overridden, changes = [], [], [], []
    for contact_id in wanted:
        row = existing.get(contact_id)
        if row is not None and row.manual:
            already.append(contact_id)
            continue
        if row is not None:
            session.execute(M.update().where(M.c.segment_id == segment.id, M.c.contact_id == contact_id)
                            .values(manual=True, added_by=caller.user_id, updated_at=stamp))
            already.append(contact_id)
            continue
        qualifies = verdicts[contact_id].get(segment.id, True)
        session.execute(insert(M).values(segment_id=segment.id, contact_id=contact_id, manual=True,
                                         qualifies=qualifies, added_by=caller.user_id, added_at=stamp,
                                         updated_at=stamp).on_conflict_do_nothing())
        added.append(contact_id)
        if not qualifies:
            overridden.append(contact_id)
        changes.append(membership.Change(segment.id, segment.name, contact_id, membership.JOINED, manual=True,
                                         actor_id=caller.user_id))
    for change in changes:
        change.publish(session)
    results = ([{"contact_id": i, "status": "added", "qualifies": i not in overridden} for i in added] +
               [{"contact_id": i, "status": "already_member"} for i in already] +
               [{"contact_id": i, "status": "not_found"} for i in missing])
    return {"segment_id": segment.id, "added": added, "already_member": already, "manual_override": overridden,
            "not_found": missing, "results": results}, changes


def remove_members(session: Session, caller: Caller, segment_id: str,
                   contact_ids: Any) -> tuple[dict[str, Any], list[membership.Change]]:
    """Only manual additions can be removed (seed: "Only available for manual additions").

    A manual member that also meets the criteria keeps its automatic
    membership: only the manual flag goes. Sales remove only what they added.
    """
    caller.require(*ADDERS)
    ids = clean_ids(contact_ids)
    segment = _get(session, segment_id)
    rows = {r.contact_id: r for r in session.execute(
        sa.select(M).where(M.c.segment_id == segment.id, M.c.contact_id.in_(ids)).with_for_update())}
    removed, kept, refused, not_member, changes = [], [], [], [], []
    for contact_id in ids:
        row = rows.get(contact_id)
        if row is None:
            not_member.append(contact_id)
        elif not row.manual:
            refused.append({"contact_id": contact_id, "reason": "not a manual addition: it meets the criteria"})
        elif caller.role == SALES and row.added_by != caller.user_id:
            refused.append({"contact_id": contact_id, "reason": "sales may remove only their own additions"})
        elif segment.kind == "dynamic" and row.qualifies:
            session.execute(M.update().where(M.c.segment_id == segment.id, M.c.contact_id == contact_id)
                            .values(manual=False, added_by=None, updated_at=_now()))
            kept.append(contact_id)
        else:
            session.execute(M.delete().where(M.c.segment_id == segment.id, M.c.contact_id == contact_id))
            removed.append(contact_id)
            changes.append(membership.Change(segment.id, segment.name, contact_id, membership.LEFT, manual=True,
                                             actor_id=caller.user_id))
    if refused and not removed and not kept:
        raise Conflict("only manual additions can be removed", {"refused": refused, "not_member": not_member})
    for change in changes:
        change.publish(session)
    return {"segment_id": segment.id, "removed": removed, "kept_qualifying": kept, "refused": refused,
            "not_member": not_member}, changes


def list_members(session: Session, segment_id: str, page: int = 1, per_page: int = 50,
                 manual: bool | None = None, qualifies: bool | None = None) -> dict[str, Any]:
    segment = _get(session, segment_id)
    per_page = max(1, min(int(per_page), 200))
    page = max(1, int(page))
    conditions = [M.c.segment_id == segment.id]
    if manual is not None:
        conditions.append(M.c.manual.is_(manual))
    if qualifies is not None:
        conditions.append(M.c.qualifies.is_(qualifies))
    total = session.scalar(sa.select(sa.func.count()).select_from(M).where(*conditions))
    rows = session.execute(
        sa.select(M.c.contact_id, M.c.manual, M.c.qualifies, M.c.added_by, M.c.added_at, M.c.updated_at,
                  *[col for col in membership.SAMPLE_COLUMNS if col.name != "contact_id"])
        .select_from(M.outerjoin(P, P.c.contact_id == M.c.contact_id)).where(*conditions)
        .order_by(M.c.added_at.desc(), M.c.contact_id).limit(per_page).offset((page - 1) * per_page)
    ).mappings().all()
    items = [{**membership.contact_summary(r), "contact_id": r["contact_id"], "manual": r["manual"],
              "qualifies": r["qualifies"], "manual_override": r["manual"] and not r["qualifies"],
              "added_by": r["added_by"], "added_at": _iso(r["added_at"]), "updated_at": _iso(r["updated_at"])}
             for r in rows]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def member_ids(session: Session, segment_id: str) -> list[str]:
    segment = _get(session, segment_id)
    return list(session.scalars(sa.select(M.c.contact_id).where(M.c.segment_id == segment.id)
                                .order_by(M.c.contact_id)))


def contact_memberships(session: Session, contact_id: str) -> list[dict[str, Any]]:
    """The contact's segments for the detail view's Segments tab (qualification, override, dates, counts)."""
    rows = session.execute(
        sa.select(Segment, M.c.manual, M.c.qualifies, M.c.added_at, M.c.updated_at)
        .join(M, M.c.segment_id == Segment.id)
        .where(M.c.contact_id == str(contact_id), Segment.organization_id == organization_id())
        .order_by(Segment.name)).all()
    counts = _counts(session, [r[0].id for r in rows])
    return [{"segment_id": seg.id, "name": seg.name, "description": seg.description, "color": seg.color,
             "kind": seg.kind, "criteria_display": describe(seg.criteria) if seg.criteria else "Manual members",
             "manual": manual, "qualifies": qualifies, "manual_override": manual and not qualifies,
             "added_at": _iso(added_at), "updated_at": _iso(updated_at),
             "member_count": counts.get(seg.id, {}).get("member_count", 0)}
            for seg, manual, qualifies, added_at, updated_at in rows]


def contact_segment_options(session: Session, contact_id: str) -> list[dict[str, Any]]:
    """Every segment with whether the contact is in it and whether it qualifies ("Add to Segment" modal)."""
    segments = list(session.scalars(sa.select(Segment).where(Segment.organization_id == organization_id())
                                    .order_by(Segment.name)))
    verdict = membership.qualification(session, segments, str(contact_id))
    rows = {r.segment_id: r for r in session.execute(sa.select(M).where(M.c.contact_id == str(contact_id)))}
    return [{"segment_id": s.id, "name": s.name, "color": s.color, "kind": s.kind,
             "qualifies": s.kind == "dynamic" and verdict.get(s.id, False),
             "member": s.id in rows, "manual": bool(rows[s.id].manual) if s.id in rows else False}
            for s in segments]


