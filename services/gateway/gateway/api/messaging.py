"""Messaging over HTTP (API.md "Messaging"): templates, sending, inbound mail, history, calls, follow-ups.

Campaigns are in ``campaigns.py`` and the public tracking links in ``tracking.py``.
Views validate the body and hand it to the messaging service; the service
checks roles and ownership again (RELIABILITY A1).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway.auth import ADMIN_ONLY, READ, WRITE, require, require_api_key_or
from gateway.http import PageQuery, doc, load_body, load_query
from gateway.rpc import call

bp = Blueprint("messaging", __name__, url_prefix="/api/v1")

MARKETING_ROLES = ("admin", "marketing")
CATEGORIES = ("Onboarding", "Sales", "Marketing")
CALL_STATUSES = ("Completed", "No Answer", "Busy", "Voicemail", "Rescheduled", "Scheduled")
FOLLOW_UP_TYPES = ("email", "call", "task", "meeting", "reminder")
PRIORITIES = ("low", "medium", "high", "urgent")


def jsonable(value: Any) -> Any:
    """Dates become ISO strings for the RPC (JSON) boundary."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


# -- schemas --------------------------------------------------------------------
class TemplateIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=255))
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000))


class TemplateOut(Schema):
    id = fields.String()
    name = fields.String()
    category = fields.String()
    subject = fields.String()
    body = fields.String()
    merge_fields = fields.List(fields.String())
    open_rate = fields.Float()
    click_rate = fields.Float()
    sent_count = fields.Integer()


class TemplateQuery(PageQuery):
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    q = fields.String(validate=validate.Length(max=200))


class PreviewIn(Schema):
    contact_id = fields.String(required=True)
    subject = fields.String(validate=validate.Length(min=1, max=255))
    body = fields.String(validate=validate.Length(min=1, max=100_000))


class PreviewOut(Schema):
    subject = fields.String()
    body = fields.String()
    to = fields.Dict()
    from_ = fields.Dict(data_key="from")


class SendIn(Schema):
    contact_ids = fields.List(fields.String(), validate=validate.Length(min=1, max=10_000))
    filter = fields.Dict()
    template_id = fields.String()
    subject = fields.String(validate=validate.Length(min=1, max=255))
    body = fields.String(validate=validate.Length(min=1, max=100_000))
    send_at = fields.AwareDateTime()

    @validates_schema
    def recipients(self, data: dict, **_: Any) -> None:
        if not data.get("contact_ids") and data.get("filter") is None:
            raise ValidationError("give contact_ids or a filter", "contact_ids")
        if not data.get("template_id") and not (data.get("subject") and data.get("body")):
            raise ValidationError("give a template_id or a subject and body", "template_id")


class SendResult(Schema):
    job_id = fields.String()
    total = fields.Integer()
    queued = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Dict())


class InboundIn(Schema):
    raw = fields.String(validate=validate.Length(max=5_000_000))
    from_email = fields.Email()
    to_email = fields.String(validate=validate.Length(max=254))
    subject = fields.String(validate=validate.Length(max=998))
    body = fields.String(validate=validate.Length(max=1_000_000))
    message_id = fields.String(validate=validate.Length(max=255))
    in_reply_to = fields.String(validate=validate.Length(max=255))
    references = fields.String(validate=validate.Length(max=5000))
    contact_id = fields.String()
    received_at = fields.AwareDateTime()

    @validates_schema
    def source(self, data: dict, **_: Any) -> None:
        if not data.get("raw") and not data.get("from_email"):
            raise ValidationError("give the raw message or from_email", "from_email")


class CommunicationsQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=200))
    type = fields.String(validate=validate.OneOf(("email", "call")))
    q = fields.String(validate=validate.Length(max=200))
    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    direction = fields.String(validate=validate.OneOf(("inbound", "outbound")))
    status = fields.String(validate=validate.Length(max=20))


class FollowUpSpec(Schema):
    type = fields.String(required=True, validate=validate.OneOf(FOLLOW_UP_TYPES))
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=5000))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    due_at = fields.AwareDateTime(required=True)
    remind_before_minutes = fields.Integer(validate=validate.Range(min=0, max=7 * 24 * 60))
    template_id = fields.String()
    assigned_to = fields.String()


class CallIn(Schema):
    contact_id = fields.String(required=True)
    purpose = fields.String(required=True)
    status = fields.String(validate=validate.OneOf(CALL_STATUSES))
    scheduled_at = fields.AwareDateTime()
    occurred_at = fields.AwareDateTime()
    duration_s = fields.Integer(validate=validate.Range(min=0, max=8 * 3600))
    notes = fields.String(validate=validate.Length(max=1000))
    outcome = fields.String(validate=validate.Length(max=255))
    participants = fields.List(fields.String(validate=validate.Length(max=200)), validate=validate.Length(max=20))
    direction = fields.String(validate=validate.OneOf(("inbound", "outbound")))
    follow_up = fields.Nested(FollowUpSpec)


class CallPatch(CallIn):
    contact_id = fields.String(dump_only=True)
    purpose = fields.String()


class CallQuery(PageQuery):
    contact_id = fields.String()
    status = fields.String(validate=validate.OneOf(CALL_STATUSES))


class FollowUpIn(FollowUpSpec):
    contact_id = fields.String()


class FollowUpPatch(Schema):
    status = fields.String(validate=validate.OneOf(("open", "done", "cancelled")))
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=5000))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    due_at = fields.AwareDateTime()
    remind_before_minutes = fields.Integer(validate=validate.Range(min=0, max=7 * 24 * 60))
    assigned_to = fields.String()


class FollowUpQuery(PageQuery):
    due = fields.String(validate=validate.OneOf(("overdue", "today", "week", "upcoming", "reminded")))
    assigned_to = fields.String()
    status = fields.String(validate=validate.OneOf(("open", "done", "cancelled")))
    type = fields.String(validate=validate.OneOf(FOLLOW_UP_TYPES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    contact_id = fields.String()


class ConsentIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("granted", "withdrawn")))
    source = fields.String(required=True, validate=validate.OneOf((
        "web_form", "double_opt_in", "event", "import", "verbal", "email", "phone", "letter", "manual")))
    text_version = fields.String(required=True, validate=validate.Length(min=1, max=40))


class UnsubscribeIn(Schema):
    source = fields.String(load_default="manual", validate=validate.OneOf(("manual", "phone", "letter", "email")))


# -- templates ------------------------------------------------------------------
@bp.get("/templates")
@require(*READ)
@doc("Email templates with their real open and click rates", query=TemplateQuery, tags=["messaging"])
def list_templates():
    query = load_query(TemplateQuery)
    filters = {k: query[k] for k in ("category", "q") if k in query}
    return jsonify(call("messaging", "list_templates", filters, query["page"], query["per_page"]))


@bp.post("/templates")
@require(*MARKETING_ROLES)
@doc("Create a template (unknown merge fields are a 422)", body=TemplateIn, response=TemplateOut, status=201,
     tags=["messaging"])
def create_template():
    return jsonify(call("messaging", "create_template", load_body(TemplateIn))), 201


@bp.get("/templates/<template_id>")
@require(*READ)
@doc("A template", response=TemplateOut, tags=["messaging"])
def get_template(template_id: str):
    return jsonify(call("messaging", "get_template", template_id))


@bp.patch("/templates/<template_id>")
@require(*MARKETING_ROLES)
@doc("Change a template", body=TemplateIn, response=TemplateOut, tags=["messaging"])
def update_template(template_id: str):
    return jsonify(call("messaging", "update_template", template_id, load_body(TemplateIn, partial=True)))


@bp.delete("/templates/<template_id>")
@require(*MARKETING_ROLES)
@doc("Delete a template", status=204, tags=["messaging"])
def delete_template(template_id: str):
    call("messaging", "delete_template", template_id)
    return "", 204


@bp.post("/templates/<template_id>/preview")
@require(*READ)
@doc("The template rendered for a contact (subject and body may be edited first)", body=PreviewIn,
     response=PreviewOut, tags=["messaging"])
def preview_template(template_id: str):
    body = load_body(PreviewIn)
    return jsonify(call("messaging", "preview_template", template_id, body["contact_id"], body.get("subject"),
                        body.get("body")))


# -- sending and inbound -----------------------------------------------------------
@bp.post("/emails")
@require(*WRITE)
@doc("Send to contacts (ids or a contacts filter); queued and sent in the background", body=SendIn,
     response=SendResult, status=202, tags=["messaging"])
def send_emails():
    body = jsonable(load_body(SendIn))
    return jsonify(call("messaging", "send_emails", body, timeout=30)), 202


class SendCapIn(Schema):
    cap = fields.Integer(required=True, allow_none=True, validate=validate.Range(min=0, max=10_000_000))


@bp.get("/emails/daily-cap")
@require(*READ)
@doc("The organisation's daily send cap: cap, claimed and queued today, remaining, resets_at",
     tags=["messaging"])
def send_cap():
    return jsonify(call("messaging", "send_cap"))


@bp.put("/emails/daily-cap")
@require(*ADMIN_ONLY)
@doc("Change the daily send cap (null: back to CRM_DAILY_SEND_CAP)", body=SendCapIn, tags=["messaging"])
def set_send_cap():
    return jsonify(call("messaging", "set_send_cap", load_body(SendCapIn)["cap"]))


@bp.get("/emails/jobs/<job_id>")
@require(*READ)
@doc("Per-recipient status of a send", tags=["messaging"])
def send_job(job_id: str):
    return jsonify(call("messaging", "get_send_job", job_id))


@bp.post("/emails/inbound")
@require_api_key_or(*WRITE)
@doc("Log a received email or delivery report (threaded by In-Reply-To, then subject)", body=InboundIn,
     status=201, tags=["messaging"])
def inbound_email():
    return jsonify(call("messaging", "inbound", jsonable(load_body(InboundIn)))), 201


@bp.get("/contacts/<contact_id>/communications")
@require(*READ)
@doc("Emails and calls of a contact, newest first, 25 a page", query=CommunicationsQuery, tags=["messaging"])
def communications(contact_id: str):
    query = load_query(CommunicationsQuery)
    filters = jsonable({k: query[key] for key, k in (("from_", "from"), ("to", "to"), ("direction", "direction"),
                                                     ("status", "status")) if key in query})
    return jsonify(call("messaging", "list_communications", contact_id, query["page"], query["per_page"],
                        query.get("type"), query.get("q"), filters))


@bp.post("/contacts/<contact_id>/unsubscribe")
@require(*WRITE)
@doc("Record that a contact asked to receive no more email", body=UnsubscribeIn, tags=["messaging"])
def unsubscribe_contact(contact_id: str):
    body = load_body(UnsubscribeIn)
    return jsonify(call("messaging", "unsubscribe_contact", contact_id, body["source"]))


@bp.get("/contacts/<contact_id>/consents")
@require(*READ)
@doc("Consent records of a contact (time, source, text version)", tags=["messaging"])
def consents(contact_id: str):
    items = call("messaging", "list_consents", contact_id)
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})


@bp.post("/contacts/<contact_id>/consents")
@require(*WRITE)
@doc("Record a marketing consent given or withdrawn (time, source, consent-text version)", body=ConsentIn,
     status=201, tags=["messaging"])
def record_consent(contact_id: str):
    return jsonify(call("messaging", "record_consent", contact_id, load_body(ConsentIn))), 201


# -- calls -------------------------------------------------------------------------
@bp.get("/call-purposes")
@require(*READ)
@doc("Call purposes with script and quick tips", tags=["messaging"])
def call_purposes():
    items = call("messaging", "call_purposes")
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": len(items)})


@bp.post("/calls")
@require(*WRITE)
@doc("Log or schedule a call (notes up to 1000 characters)", body=CallIn, status=201, tags=["messaging"])
def log_call():
    return jsonify(call("messaging", "log_call", jsonable(load_body(CallIn)))), 201


@bp.patch("/calls/<call_id>")
@require(*WRITE)
@doc("Log the outcome of a scheduled call, or correct a logged one", body=CallPatch, tags=["messaging"])
def update_call(call_id: str):
    return jsonify(call("messaging", "update_call", call_id, jsonable(load_body(CallPatch, partial=True))))


@bp.get("/calls")
@require(*READ)
@doc("Calls, newest first", query=CallQuery, tags=["messaging"])
def list_calls():
    query = load_query(CallQuery)
    return jsonify(call("messaging", "list_calls", query.get("contact_id"), query.get("status"), query["page"],
                        query["per_page"]))


# -- follow-ups --------------------------------------------------------------------
@bp.get("/follow-ups")
@require(*READ)
@doc("Follow-ups; due=overdue|today|week|upcoming|reminded, assigned_to=me|<user id>", query=FollowUpQuery,
     tags=["messaging"])
def list_follow_ups():
    query = load_query(FollowUpQuery)
    filters = {k: v for k, v in query.items() if k not in ("page", "per_page")}
    return jsonify(call("messaging", "list_follow_ups", filters, query["page"], query["per_page"]))


@bp.post("/follow-ups")
@require(*WRITE)
@doc("Create a follow-up (email, call, task, meeting, reminder)", body=FollowUpIn, status=201, tags=["messaging"])
def create_follow_up():
    return jsonify(call("messaging", "create_follow_up", jsonable(load_body(FollowUpIn)))), 201


@bp.patch("/follow-ups/<follow_up_id>")
@require(*WRITE)
@doc("Mark done or cancelled, move, reprioritise or reassign a follow-up", body=FollowUpPatch,
     tags=["messaging"])
def update_follow_up(follow_up_id: str):
    return jsonify(call("messaging", "update_follow_up", follow_up_id, jsonable(load_body(FollowUpPatch))))


@bp.get("/contacts/<contact_id>/follow-ups")
@require(*READ)
@doc("Follow-ups of a contact", tags=["messaging"])
def contact_follow_ups(contact_id: str):
    items = call("messaging", "contact_follow_ups", contact_id)
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})

