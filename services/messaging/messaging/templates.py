"""Email templates: CRUD with merge-field validation, real open/click rates, preview."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from crm_shared.auth import Caller
from crm_shared.errors import Conflict, NotFound
from messaging import merge
from messaging.models import Email, Template
from messaging.rules import TEMPLATE_CATEGORIES, fail, one_of, rate, utcnow

EDITABLE = ("name", "category", "subject", "body")


def check_merge_fields(data: Mapping[str, Any]) -> None:
    """Unknown merge fields are a 422 that names the field and the bad reference."""
    for field in ("subject", "body"):
        unknown = merge.unknown_fields(data.get(field) or "")
        if unknown:
            raise fail(field, f"unknown merge field(s): {', '.join('{' + u + '}' for u in unknown)}; "
                              f"allowed: {', '.join('{' + f + '}' for f in merge.MERGE_FIELDS)}")


def _validate(data: Mapping[str, Any], partial: bool) -> None:
    for field in EDITABLE:
        if field not in data:
            if not partial:
                raise fail(field, "is required")
            continue
        if not isinstance(data[field], str) or not data[field].strip():
            raise fail(field, "must be a non-empty string")
    if "category" in data:
        one_of("category", data["category"], TEMPLATE_CATEGORIES)
    if len(data.get("name") or "") > 120:
        raise fail("name", "at most 120 characters")
    if len(data.get("subject") or "") > 255:
        raise fail("subject", "at most 255 characters")
    check_merge_fields(data)


def stats(session: Session, template_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Sent, opened, clicked counts and rates per template from the real send records."""
    if not template_ids:
        return {}
    delivered = Email.sent_at.is_not(None)
    rows = session.execute(
        sa.select(Email.template_id,
                  sa.func.count().filter(delivered),
                  sa.func.count().filter(Email.opened_at.is_not(None)),
                  sa.func.count().filter(Email.clicked_at.is_not(None)),
                  sa.func.count().filter(Email.replied_at.is_not(None)))
        .where(Email.template_id.in_(template_ids), Email.direction == "outbound")
        .group_by(Email.template_id)).all()
    out = {tid: {"sent": 0, "opened": 0, "clicked": 0, "replied": 0} for tid in template_ids}
    for tid, sent, opened, clicked, replied in rows:
        out[tid] = {"sent": sent, "opened": opened, "clicked": clicked, "replied": replied}
    for item in out.values():
        item["open_rate"] = rate(item["opened"], item["sent"])
        item["click_rate"] = rate(item["clicked"], item["sent"])
    return out


def to_dict(template: Template, stat: Mapping[str, Any] | None = None) -> dict[str, Any]:
    stat = stat or {"sent": 0, "opened": 0, "clicked": 0, "open_rate": 0.0, "click_rate": 0.0}
    return {"id": template.id, "name": template.name, "category": template.category,
            "subject": template.subject, "body": template.body,
            "merge_fields": merge.referenced_fields(template.subject + "\n" + template.body),
            "open_rate": stat["open_rate"], "click_rate": stat["click_rate"],
            "sent_count": stat["sent"], "opened_count": stat["opened"], "clicked_count": stat["clicked"],
            "created_by": template.created_by, "created_at": template.created_at.isoformat(),
            "updated_at": template.updated_at.isoformat()}


def get(session: Session, template_id: str) -> Template:
    template = session.get(Template, template_id)
    if template is None:
        raise NotFound("template not found", {"template_id": template_id})
    return template


def _name_taken(session: Session, name: str, exclude_id: str | None = None) -> None:
    query = sa.select(Template.id).where(sa.func.lower(Template.name) == name.lower())
    if exclude_id:
        query = query.where(Template.id != exclude_id)
    if session.execute(query).first():
        raise Conflict("a template with this name exists", {"fields": {"name": ["already exists"]}})


def create(session: Session, caller: Caller, data: Mapping[str, Any]) -> dict[str, Any]:
    _validate(data, partial=False)
    _name_taken(session, data["name"])
    template = Template(name=data["name"].strip(), category=data["category"], subject=data["subject"],
                        body=data["body"], created_by=caller.user_id)
    session.add(template)
    session.flush()
    session.refresh(template)
    return to_dict(template)


def update(session: Session, template_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    template = get(session, template_id)
    _validate(data, partial=True)
    if "name" in data:
        _name_taken(session, data["name"], exclude_id=template_id)
    for field in EDITABLE:
        if field in data:
            setattr(template, field, data[field].strip() if field == "name" else data[field])
    template.updated_at = utcnow()
    session.flush()
    return to_dict(template, stats(session, [template.id])[template.id])


def delete(session: Session, template_id: str) -> None:
    session.delete(get(session, template_id))
    session.flush()


def read(session: Session, template_id: str) -> dict[str, Any]:
    template = get(session, template_id)
    return to_dict(template, stats(session, [template.id])[template.id])


def list_templates(session: Session, category: str | None = None, q: str | None = None,
                   page: int = 1, per_page: int = 50) -> dict[str, Any]:
    query = sa.select(Template)
    if category:
        query = query.where(Template.category == one_of("category", category, TEMPLATE_CATEGORIES))
    if q:
        like = f"%{q}%"
        query = query.where(sa.or_(Template.name.ilike(like), Template.subject.ilike(like)))
    total = session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = session.execute(query.order_by(Template.category, Template.name)
                            .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    stat = stats(session, [t.id for t in items])
    return {"items": [to_dict(t, stat[t.id]) for t in items], "total": total, "page": page, "per_page": per_page}


def preview(template_subject: str, template_body: str, contact: Mapping[str, Any], sender_name: str,
            sender_email: str, subject: str | None = None, body: str | None = None) -> dict[str, Any]:
    """What the contact would receive; subject and body may be edited before sending."""
    subject_src = subject if subject is not None else template_subject
    body_src = body if body is not None else template_body
    check_merge_fields({"subject": subject_src, "body": body_src})
    values = merge.contact_values(contact, sender_name, sender_email)
    rendered_subject, rendered_body = merge.render_message(subject_src, body_src, values)
    missing = [f for f in merge.referenced_fields(subject_src + "\n" + body_src) if not values.get(f)]
    return {"subject": rendered_subject, "body": rendered_body,
            "to": {"contact_id": contact.get("id"), "email": contact.get("email"),
                   "name": values["full_name"]},
            "from": {"name": sender_name, "email": sender_email},
            "merge_values": {f: values.get(f, "") for f in merge.referenced_fields(subject_src + "\n" + body_src)},
            "missing_fields": missing, "unsubscribed": bool(contact.get("unsubscribed"))}
