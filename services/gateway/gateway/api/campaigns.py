"""Campaigns over HTTP: seed 002's entity and workflow, enrollment, and a contact's campaigns."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway.api.messaging import jsonable
from gateway.auth import READ, WRITE, require
from gateway.http import PageQuery, doc, load_body, load_query
from gateway.rpc import call

bp = Blueprint("campaigns", __name__, url_prefix="/api/v1")

MARKETING_ROLES = ("admin", "marketing")
TYPES = ("Email Sequence", "Cold Outreach", "Event Follow-up", "Referral", "Promotion", "Greetings")
STATUSES = ("Draft", "New", "Active", "Inactive", "Discarded")


class StepIn(Schema):
    delay_minutes = fields.Integer(validate=validate.Range(min=0, max=525_600))
    delay_hours = fields.Integer(validate=validate.Range(min=0, max=8760))
    delay_days = fields.Integer(validate=validate.Range(min=0, max=365))
    template_id = fields.String()
    subject = fields.String(validate=validate.Length(min=1, max=255))
    body = fields.String(validate=validate.Length(min=1, max=100_000))


class CampaignIn(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$",
                                                                  error="1 to 40 letters, digits, '-' or '_'"))
    description = fields.String(validate=validate.Length(max=5000))
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    visibility = fields.String(validate=validate.OneOf(("Private", "Internal", "Public")))
    status = fields.String(validate=validate.OneOf(STATUSES))
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=10_000_000))
    steps = fields.List(fields.Nested(StepIn), validate=validate.Length(max=20))

    @validates_schema(skip_on_field_errors=False)
    def period(self, data: dict, **_: Any) -> None:
        if data.get("start_date") and data.get("end_date") and data["end_date"] < data["start_date"]:
            raise ValidationError("must not be before start_date", "end_date")


class CampaignOut(Schema):
    id = fields.String()
    title = fields.String()
    code = fields.String()
    type = fields.String()
    status = fields.String()
    contact_count = fields.Integer()
    engagement = fields.Dict()
    steps = fields.List(fields.Dict())


class CampaignQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(STATUSES))
    type = fields.String(validate=validate.OneOf(TYPES))
    q = fields.String(validate=validate.Length(max=200))


class EnrollIn(Schema):
    contact_ids = fields.List(fields.String(), validate=validate.Length(min=1, max=10_000))
    filter = fields.Dict()

    @validates_schema
    def who(self, data: dict, **_: Any) -> None:
        if not data.get("contact_ids") and data.get("filter") is None:
            raise ValidationError("give contact_ids or a filter", "contact_ids")


class UnenrollIn(Schema):
    contact_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=10_000))


@bp.get("/campaigns")
@require(*READ)
@doc("Campaigns with contact counts and engagement", query=CampaignQuery, tags=["campaigns"])
def list_campaigns():
    query = load_query(CampaignQuery)
    filters = {k: query[k] for k in ("status", "type", "q") if k in query}
    return jsonify(call("messaging", "list_campaigns", filters, query["page"], query["per_page"]))


@bp.post("/campaigns")
@require(*MARKETING_ROLES)
@doc("Create a campaign (Draft or New) with its sequence of steps", body=CampaignIn, response=CampaignOut,
     status=201, tags=["campaigns"])
def create_campaign():
    return jsonify(call("messaging", "create_campaign", jsonable(load_body(CampaignIn)))), 201


@bp.get("/campaigns/<campaign_id>")
@require(*READ)
@doc("A campaign", response=CampaignOut, tags=["campaigns"])
def get_campaign(campaign_id: str):
    return jsonify(call("messaging", "get_campaign", campaign_id))


@bp.patch("/campaigns/<campaign_id>")
@require(*MARKETING_ROLES)
@doc("Change a campaign or move it through Draft/New/Active/Inactive/Discarded", body=CampaignIn,
     response=CampaignOut, tags=["campaigns"])
def update_campaign(campaign_id: str):
    return jsonify(call("messaging", "update_campaign", campaign_id,
                        jsonable(load_body(CampaignIn, partial=True))))


@bp.post("/campaigns/<campaign_id>/enroll")
@require(*WRITE)
@doc("Enroll contacts (ids or a contacts filter); refusals are listed per contact", body=EnrollIn,
     tags=["campaigns"])
def enroll(campaign_id: str):
    body = load_body(EnrollIn)
    return jsonify(call("messaging", "enroll", campaign_id, body.get("contact_ids"), body.get("filter"),
                        timeout=30))


@bp.post("/campaigns/<campaign_id>/unenroll")
@require(*MARKETING_ROLES)
@doc("Take contacts out of a campaign", body=UnenrollIn, tags=["campaigns"])
def unenroll(campaign_id: str):
    return jsonify(call("messaging", "unenroll", campaign_id, load_body(UnenrollIn)["contact_ids"]))


@bp.get("/campaigns/<campaign_id>/enrollments")
@require(*READ)
@doc("Contacts enrolled in a campaign", query=PageQuery, tags=["campaigns"])
def enrollments(campaign_id: str):
    query = load_query(PageQuery)
    return jsonify(call("messaging", "list_enrollments", campaign_id, query["page"], query["per_page"]))


@bp.get("/contacts/<contact_id>/campaigns")
@require(*READ)
@doc("A contact's campaigns with engagement and progress", tags=["campaigns"])
def contact_campaigns(contact_id: str):
    items = call("messaging", "contact_campaigns", contact_id)
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})
