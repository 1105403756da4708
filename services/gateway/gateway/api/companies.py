"""Autocomplete of the Add Contact form: companies (one per name, case-insensitively) and tags."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate

from gateway.auth import READ, require
from gateway.http import doc, load_query, page_envelope
from gateway.rpc import call

bp = Blueprint("companies", __name__, url_prefix="/api/v1")


class CompanyQuerySchema(Schema):
    q = fields.String()
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


@bp.get("/companies")
@require(*READ)
@doc("Companies matching q (prefix and typo-tolerant), with contact counts", query=CompanyQuerySchema,
     tags=["contacts"])
def companies():
    query = load_query(CompanyQuerySchema)
    items = call("contacts", "list_companies", query.get("q"), query["limit"])
    return jsonify(page_envelope(items, len(items), 1, query["limit"]))


@bp.get("/contacts/tags")
@require(*READ)
@doc("Tags in use (most used first) and predefined suggestions matching q", query=CompanyQuerySchema,
     tags=["contacts"])
def tags():
    query = load_query(CompanyQuerySchema)
    items = call("contacts", "list_tags", query.get("q"), query["limit"])
    return jsonify(page_envelope(items, len(items), 1, query["limit"]))
