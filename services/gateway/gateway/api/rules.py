"""Automation rules (seed 003 rule builder): CRUD, preview on past data, run log, run now."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate

from gateway.auth import ADMIN_ONLY, READ, require
from gateway.http import PageQuery, doc, load_body, load_query
from gateway.rpc import call

bp = Blueprint("rules", __name__, url_prefix="/api/v1")


class RuleIn(Schema):
    """The shape of a rule; the scoring service checks each part and names what is wrong."""

    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=2000))
    trigger = fields.Dict()
    criteria = fields.Raw(allow_none=True)
    actions = fields.List(fields.Dict())
    priority = fields.Raw()
    blocking = fields.Boolean()
    mode = fields.Dict()
    sunset_at = fields.String(allow_none=True)
    enabled = fields.Boolean()


class RulePreviewIn(RuleIn):
    days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=365))
    sample_size = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10000))


class RuleRunsQuery(PageQuery):
    outcome = fields.String(validate=validate.OneOf(("success", "partial", "failed")))


@bp.get("/rules")
@require(*READ)
@doc("Automation rules in priority order, each with its performance", query=PageQuery, tags=["rules"])
def list_rules():
    q = load_query(PageQuery)
    return jsonify(call("scoring", "list_rules", q["page"], q["per_page"]))


@bp.post("/rules")
@require(*ADMIN_ONLY)
@doc("Create a rule", body=RuleIn, status=201, tags=["rules"])
def create_rule():
    return jsonify(call("scoring", "create_rule", load_body(RuleIn))), 201


@bp.post("/rules/preview")
@require(*READ)
@doc("Apply a rule to past data without acting: who it would have hit and with which actions", body=RulePreviewIn,
     tags=["rules"])
def preview_rule():
    body = load_body(RulePreviewIn)
    days, sample = body.pop("days"), body.pop("sample_size")
    return jsonify(call("scoring", "preview_rule", body, days, sample, timeout=60))


@bp.get("/rules/<rule_id>")
@require(*READ)
@doc("One rule with its performance", tags=["rules"])
def get_rule(rule_id: str):
    return jsonify(call("scoring", "get_rule", rule_id))


@bp.patch("/rules/<rule_id>")
@require(*ADMIN_ONLY)
@doc("Change a rule (e.g. enabled=false switches it off)", body=RuleIn, tags=["rules"])
def update_rule(rule_id: str):
    return jsonify(call("scoring", "update_rule", rule_id, load_body(RuleIn, partial=True)))


@bp.delete("/rules/<rule_id>")
@require(*ADMIN_ONLY)
@doc("Delete a rule (the default rule can only be switched off)", tags=["rules"])
def delete_rule(rule_id: str):
    call("scoring", "delete_rule", rule_id)
    return "", 204


@bp.get("/rules/<rule_id>/runs")
@require(*READ)
@doc("The run log of a rule: contact, actions and outcome of each run", query=RuleRunsQuery, tags=["rules"])
def rule_runs(rule_id: str):
    q = load_query(RuleRunsQuery)
    return jsonify(call("scoring", "rule_runs", rule_id, q["page"], q["per_page"], q.get("outcome")))


@bp.post("/rules/<rule_id>/run")
@require(*ADMIN_ONLY)
@doc("Run a rule now over every contact (time-since rules: those past the threshold)", tags=["rules"])
def run_rule(rule_id: str):
    return jsonify(call("scoring", "run_rule", rule_id, timeout=120))
