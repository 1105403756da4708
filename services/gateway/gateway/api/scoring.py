"""Scores, engagement events and the scoring model (API.md "Scoring and automation")."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway.auth import ADMIN_ONLY, READ, WRITE, require, require_api_key_or
from gateway.http import PageQuery, doc, load_body, load_query
from gateway.rpc import call

bp = Blueprint("scoring", __name__, url_prefix="/api/v1")


class EngagementEventIn(Schema):
    contact_id = fields.String(validate=validate.Length(min=1, max=64))
    email = fields.Email()
    type = fields.String(required=True, validate=validate.Length(min=1, max=60))
    occurred_at = fields.String(validate=validate.Length(min=1, max=64))
    properties = fields.Dict(load_default=dict)

    @validates_schema
    def _who(self, data: dict, **_: object) -> None:
        if not data.get("contact_id") and not data.get("email"):
            raise ValidationError("contact_id or email is required", "contact_id")


class ScoreItem(Schema):
    category = fields.String()
    key = fields.String()
    label = fields.String()
    points = fields.Float()
    detail = fields.String()


class ScoreOut(Schema):
    score = fields.Integer()
    fit = fields.Integer()
    engagement = fields.Integer()
    engagement_level = fields.Float()
    breakdown = fields.List(fields.Nested(ScoreItem))
    signals = fields.List(fields.Dict())
    history = fields.List(fields.Dict())


class ModelIn(Schema):
    """Send the whole model or only the parts to change; the service validates every part."""

    active_model = fields.String()
    recency_days = fields.Raw()
    engagement_ceiling = fields.Raw()
    hot_threshold = fields.Raw()
    rescore_interval_hours = fields.Raw()
    pricing_url_patterns = fields.Raw()
    roles = fields.Raw()
    industries = fields.Raw()
    engagement = fields.Raw()
    active_interest_types = fields.Raw()
    derived = fields.Raw()
    weighted = fields.Raw()
    note = fields.String(validate=validate.Length(max=300))
    version = fields.Integer()


@bp.get("/contacts/<contact_id>/score")
@require(*READ)
@doc("A contact's score with the breakdown of every point, signals and history", response=ScoreOut,
     tags=["scoring"])
def contact_score(contact_id: str):
    return jsonify(call("scoring", "get_score", contact_id))


@bp.get("/contacts/<contact_id>/hot-lead-alert")
@require(*READ)
@doc("The hot-lead alert (null unless score >= 90 or stage Hot Lead)", tags=["scoring"])
def hot_lead_alert(contact_id: str):
    return jsonify({"hot_lead_alert": call("scoring", "get_hot_lead_alert", contact_id)})


@bp.get("/contacts/<contact_id>/engagement-events")
@require(*READ)
@doc("A contact's engagement events, newest first", query=PageQuery, tags=["scoring"])
def contact_engagement(contact_id: str):
    q = load_query(PageQuery)
    return jsonify(call("scoring", "list_engagement_events", contact_id, q["page"], q["per_page"]))


@bp.post("/engagement-events")
@require_api_key_or(*WRITE)
@doc("Record an engagement event (bearer token, or X-API-Key for website tracking)", body=EngagementEventIn,
     status=201, tags=["scoring"])
def record_engagement():
    body = load_body(EngagementEventIn)
    return jsonify(call("scoring", "record_engagement", body)), 201


@bp.get("/scoring/model")
@require(*READ)
@doc("The scoring model in force (versioned)", tags=["scoring"])
def get_model():
    return jsonify(call("scoring", "get_model"))


@bp.put("/scoring/model")
@require(*ADMIN_ONLY)
@doc("Change the scoring model: a new version, then everyone is rescored", body=ModelIn, tags=["scoring"])
def put_model():
    body = load_body(ModelIn)
    return jsonify(call("scoring", "update_model", body))


@bp.get("/scoring/model/versions")
@require(*READ)
@doc("Earlier versions of the scoring model", tags=["scoring"])
def model_versions():
    items = call("scoring", "model_history")
    return jsonify({"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)})


@bp.post("/scoring/rescore")
@require(*ADMIN_ONLY)
@doc("Rescore every contact now (the service also does this every 4 hours)", tags=["scoring"])
def rescore_all():
    return jsonify(call("scoring", "rescore_all", "manual full rescore", timeout=600))


@bp.post("/scoring/rebuild-projection")
@require(*ADMIN_ONLY)
@doc("Reload the contacts scoring projects from the contacts service, then rescore", tags=["scoring"])
def rebuild_projection():
    return jsonify(call("scoring", "rebuild_projection", timeout=600))
