"""Contacts: list/search, create/edit/delete, KPIs, bulk actions, CSV export, merge, activity, audit.

The views validate HTTP input (unknown fields 400, bad types 422) and call
the contacts service, which applies the field rules and the role/ownership
rules itself (RELIABILITY A1). ``segment_id`` is resolved here through
segments.member_ids, so the list answers 503 quickly when segments is down.
"""
from __future__ import annotations

import os

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, fields, validate

from crm_shared.errors import ValidationFailed
from gateway import ratelimit
from gateway.auth import ADMIN_ONLY, READ, WRITE, require
from gateway.http import doc, load_body, load_query, page_envelope
from gateway.rpc import call

bp = Blueprint("contacts", __name__, url_prefix="/api/v1")

EXPORT_QUOTA_DEFAULT = 20
BULK_ACTIONS = ("add_tags", "remove_tags", "set_stage", "assign_owner", "delete", "add_to_segment",
                "add_to_campaign")
_Str = fields.String
_List = fields.List


class ContactAddressSchema(Schema):
    street = _Str(allow_none=True)
    city = _Str(allow_none=True)
    state = _Str(allow_none=True)
    zip = _Str(allow_none=True)
    country = _Str(allow_none=True)


class ContactSocialSchema(Schema):
    linkedin = _Str(allow_none=True)
    twitter = _Str(allow_none=True)
    facebook = _Str(allow_none=True)
    instagram = _Str(allow_none=True)
    skype = _Str(allow_none=True)


class ContactInSchema(Schema):
    """Writable contact fields (API.md); server-owned ones (score, timestamps, created_by...) are a 400."""

    first_name = _Str(allow_none=True)
    last_name = _Str(allow_none=True)
    email = _Str(allow_none=True)
    emails = _List(_Str(), allow_none=True)
    phone = _Str(allow_none=True)
    phones = _List(_Str(), allow_none=True)
    company = _Str(allow_none=True)
    position = _Str(allow_none=True)
    department = _Str(allow_none=True)
    industry = _Str(allow_none=True)
    company_size = fields.Raw(allow_none=True, metadata={"type": "integer"})
    annual_revenue = fields.Raw(allow_none=True, metadata={"type": "integer"})
    owner_id = _Str(allow_none=True)
    stage = _Str(allow_none=True)
    type = _Str(allow_none=True)
    channel = _Str(allow_none=True)
    address = fields.Nested(ContactAddressSchema, allow_none=True)
    tags = _List(_Str(), allow_none=True)
    social = fields.Nested(ContactSocialSchema, allow_none=True)
    notes = _Str(allow_none=True)
    custom_fields = fields.Dict(keys=_Str(), allow_none=True)


class ContactUpdateSchema(ContactInSchema):
    expected_version = fields.Integer(load_default=None, allow_none=True)


class ContactOutSchema(ContactInSchema):
    id = _Str()
    name = _Str()
    score = fields.Integer()
    inactive = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_contact_at = fields.DateTime(allow_none=True)
    owner_name = _Str(allow_none=True)
    phone_display = _Str(allow_none=True)
    unsubscribed = fields.Boolean()
    source = _Str()
    created_by = _Str(allow_none=True)


class ContactListQuerySchema(Schema):
    q = _Str()
    stage = _List(_Str())
    company = _List(_Str())
    score_min = fields.Integer(validate=validate.Range(min=0, max=100))
    score_max = fields.Integer(validate=validate.Range(min=0, max=100))
    channel = _List(_Str())
    type = _List(_Str())
    tag = _List(_Str())
    owner_id = _List(_Str())
    created_from = _Str()
    created_to = _Str()
    segment_id = _Str()
    import_id = _Str()
    inactive_days = fields.Integer(validate=validate.Range(min=1, max=36500))
    inactive = fields.Boolean()
    sort = _Str()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ContactFilterSchema(ContactListQuerySchema):
    """A filter given in a body (bulk over a whole filter); paging does not apply."""

    ids = _List(_Str())


class ContactBulkSchema(Schema):
    action = _Str(required=True, validate=validate.OneOf(BULK_ACTIONS))
    ids = _List(_Str(), validate=validate.Length(min=1, max=10000))
    filters = fields.Nested(ContactFilterSchema)
    tags = _List(_Str())
    stage = _Str()
    owner_id = _Str()
    segment_id = _Str()
    campaign_id = _Str()


class ContactMergeSchema(Schema):
    primary_id = _Str(required=True)
    duplicate_ids = _List(_Str(), required=True, validate=validate.Length(min=1, max=20))
    fields = fields.Dict(keys=_Str(), values=_Str(), load_default=dict)


class ContactKpiQuerySchema(Schema):
    period = _Str(load_default="all", validate=validate.OneOf(("all", "this_month", "last_month")))


class ContactKpiSchema(Schema):
    total_contacts = fields.Integer()
    hot_leads = fields.Integer()
    avg_score = fields.Integer()
    companies = fields.Integer()


class ContactActivityQuerySchema(Schema):
    type = _List(_Str())
    user_id = _Str()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class ContactAuditQuerySchema(Schema):
    entity_id = _Str()
    action = _Str()
    actor_id = _Str()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def service_filters(query: dict) -> dict:
    """List query -> contacts filters; ``segment_id`` becomes the segment's member ids."""
    filters = {k: val for k, val in query.items() if k not in ("page", "per_page", "sort")}
    segment_id = filters.pop("segment_id", None)
    if segment_id:
        members = [str(i) for i in call("segments", "member_ids", segment_id) or []]
        wanted = set(filters.get("ids") or members)
        filters["ids"] = [i for i in members if i in wanted]
    return filters


@bp.get("/contacts")
@require(*READ)
@doc("List and search contacts (50 per page)", query=ContactListQuerySchema, tags=["contacts"])
def list_contacts():
    query = load_query(ContactListQuerySchema)
    result = call("contacts", "list_contacts", service_filters(query), query["page"], query["per_page"],
                  query.get("sort"))
    return jsonify(page_envelope(result["items"], result["total"], result["page"], result["per_page"],
                                 total_capped=result.get("total_capped", False)))


@bp.post("/contacts")
@require(*WRITE)
@doc("Add a contact", body=ContactInSchema, response=ContactOutSchema, status=201, tags=["contacts"])
def create_contact():
    body = load_body(ContactInSchema)
    return jsonify(call("contacts", "create_contact", body)), 201


@bp.get("/contacts/kpis")
@require(*READ)
@doc("KPI cards: total contacts, hot leads, average score, companies", query=ContactKpiQuerySchema,
     response=ContactKpiSchema, tags=["contacts"])
def contact_kpis():
    query = load_query(ContactKpiQuerySchema)
    return jsonify(call("contacts", "contact_kpis", query["period"]))


def _count_export() -> None:
    """Every CSV download counts towards one hourly per-user quota (A5), whatever it exports."""
    quota = int(os.environ.get("CRM_EXPORT_HOURLY_QUOTA", EXPORT_QUOTA_DEFAULT))
    ratelimit.hit(f"export-user:{g.caller.user_id}", limit=quota, window_seconds=3600)


def _csv_download(result: dict, filename: str) -> Response:
    """The contacts service's export result as an uncached attachment with its row counts in headers."""
    response = Response(result["csv"], mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Export-Rows"] = str(result["rows"])
    response.headers["X-Export-Matched"] = str(result["matched"])
    response.headers["X-Export-Truncated"] = "true" if result["truncated"] else "false"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/contacts/export.csv")
@require(*READ)
@doc("Export the filtered list as CSV (at most 1000 rows a download)", query=ContactListQuerySchema,
     tags=["contacts"])
def export_contacts():
    query = load_query(ContactListQuerySchema)
    _count_export()
    result = call("contacts", "export_contacts", service_filters(query), query.get("sort"), timeout=30)
    return _csv_download(result, "contacts.csv")


def _missing(field: str, reason: str = "required for this action") -> ValidationFailed:
    return ValidationFailed("Validation failed", {"fields": {field: [reason]}})


@bp.post("/contacts/bulk")
@require(*WRITE)
@doc("Bulk action over selected ids or a whole filter; per-id results", body=ContactBulkSchema, tags=["contacts"])
def bulk_action():
    body = load_body(ContactBulkSchema)
    ids, filters = body.get("ids"), body.get("filters")
    if (ids is None) == (filters is None):
        raise _missing("ids", "give either ids or filters")
    if filters is not None:
        filters = service_filters({k: val for k, val in filters.items() if k not in ("page", "per_page")})
    action = body["action"]
    if action in ("add_to_segment", "add_to_campaign"):
        return jsonify(_delegated(action, body, ids, filters))
    args = {k: body[k] for k in ("tags", "stage", "owner_id") if k in body}
    needed = {"add_tags": "tags", "remove_tags": "tags", "set_stage": "stage", "assign_owner": "owner_id"}
    if action in needed and needed[action] not in args:
        raise _missing(needed[action])
    return jsonify(call("contacts", "bulk_action", action, ids, filters, args, timeout=60))


def _delegated(action: str, body: dict, ids: list[str] | None, filters: dict | None) -> dict:
    """Add to segment / campaign: the owning service does it; contacts says which ids exist."""
    target_field, service, method = (("segment_id", "segments", "add_members") if action == "add_to_segment"
                                     else ("campaign_id", "messaging", "enroll"))
    if not body.get(target_field):
        raise _missing(target_field)
    if ids is None:
        ids = call("contacts", "resolve_filter_ids", filters, 10000)
    found = {c["id"] for c in call("contacts", "get_contacts", list(ids), timeout=30)}
    existing = [i for i in dict.fromkeys(ids) if i in found]
    outcome = call(service, method, body[target_field], existing, timeout=30) if existing else None
    results = [{"id": i, "ok": i in found, **({} if i in found else {"error": "not_found"})}
               for i in dict.fromkeys(ids)]
    ok = sum(1 for r in results if r["ok"])
    return {"action": action, "results": results, "ok": ok, "failed": len(results) - ok,
            "service_result": outcome}


@bp.post("/contacts/merge")
@require(*WRITE)
@doc("Merge duplicates into a primary contact (chosen values win, everything else kept)",
     body=ContactMergeSchema, response=ContactOutSchema, tags=["contacts"])
def merge_contacts():
    body = load_body(ContactMergeSchema)
    return jsonify(call("contacts", "merge_contacts", body["primary_id"], body["duplicate_ids"], body["fields"]))


@bp.get("/contacts/<contact_id>")
@require(*READ)
@doc("One contact", response=ContactOutSchema, tags=["contacts"])
def get_contact(contact_id: str):
    return jsonify(call("contacts", "get_contact", contact_id))


@bp.patch("/contacts/<contact_id>")
@require(*WRITE)
@doc("Edit a contact (sales: only contacts they own)", body=ContactUpdateSchema, response=ContactOutSchema,
     tags=["contacts"])
def update_contact(contact_id: str):
    body = load_body(ContactUpdateSchema, partial=True)
    expected = body.pop("expected_version", None)
    return jsonify(call("contacts", "update_contact", contact_id, body, expected))


@bp.delete("/contacts/<contact_id>")
@require(*WRITE)
@doc("Delete a contact", tags=["contacts"])
def delete_contact(contact_id: str):
    call("contacts", "delete_contact", contact_id)
    return "", 204


@bp.get("/contacts/<contact_id>/activity")
@require(*READ)
@doc("Activity timeline, newest first; filter by type, from, to, user_id", query=ContactActivityQuerySchema,
     tags=["contacts"])
def contact_activity(contact_id: str):
    query = load_query(ContactActivityQuerySchema)
    result = call("contacts", "list_activity", contact_id, query["page"], query["per_page"],
                  query.get("type"), request.args.get("from"), request.args.get("to"), query.get("user_id"))
    return jsonify(result)


@bp.get("/contacts/<contact_id>/activity.csv")
@require(*READ)
@doc("Export the filtered activity timeline as CSV, newest first (at most 1000 rows a download)",
     query=ContactActivityQuerySchema, tags=["contacts"])
def export_contact_activity(contact_id: str):
    query = load_query(ContactActivityQuerySchema)
    _count_export()
    result = call("contacts", "export_activity", contact_id, query.get("type"), request.args.get("from"),
                  request.args.get("to"), query.get("user_id"), timeout=30)
    return _csv_download(result, "activity.csv")


@bp.get("/contacts/<contact_id>/stage-history")
@require(*READ)
@doc("Every stage change: who, when, from, to", tags=["contacts"])
def stage_history(contact_id: str):
    items = call("contacts", "stage_history", contact_id)
    return jsonify(page_envelope(items, len(items), 1, max(len(items), 1)))


@bp.get("/audit")
@require(*ADMIN_ONLY)
@doc("The audit log (admins only)", query=ContactAuditQuerySchema, tags=["audit"])
def audit_log():
    query = load_query(ContactAuditQuerySchema)
    return jsonify(call("contacts", "list_audit", query.get("entity_id"), query.get("action"),
                        query.get("actor_id"), query["page"], query["per_page"]))


@bp.get("/audit/verify")
@require(*ADMIN_ONLY)
@doc("Check the audit log's hash chain", tags=["audit"])
def audit_verify():
    return jsonify(call("contacts", "verify_audit", timeout=60))
