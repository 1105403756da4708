"""Database-wide duplicate groups (seed 000 §4.1), found by the imports matcher over all contacts.

Merging a group goes through ``POST /api/v1/contacts/merge`` (contacts).
"""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import fields, validate

from gateway.auth import READ, require
from gateway.http import PageQuery, doc, load_query
from gateway.rpc import call

bp = Blueprint("duplicates", __name__, url_prefix="/api/v1")


class DuplicatesQuery(PageQuery):
    match_type = fields.String(validate=validate.OneOf(("exact", "email", "phone", "name_company", "fuzzy")))
    refresh = fields.Boolean(load_default=False)


@bp.get("/duplicates")
@require(*READ)
@doc("Duplicate contact groups with match type and confidence (scan runs in the background)",
     query=DuplicatesQuery, tags=["contacts"])
def list_duplicates():
    q = load_query(DuplicatesQuery)
    return jsonify(call("imports", "find_duplicates", q.get("match_type"), q["page"], q["per_page"],
                        q["refresh"]))
