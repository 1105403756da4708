"""Segments (API.md "Segments"): definitions, preview, templates, members, a contact's memberships.

Criteria are checked by the segments service (``crm_shared.criteria``), whose
422 names the bad part, e.g. ``criteria.all[1].op``. Marketing and admin
manage segments; sales add contacts and remove their own manual additions;
everyone reads.
"""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from gateway.auth import ADMIN_ONLY, MARKETING, READ, WRITE, require
from gateway.http import PageQuery, doc, load_body, load_query, page_envelope
from gateway.rpc import call

bp = Blueprint("segments", __name__, url_prefix="/api/v1")

LONG = 60.0          # a criteria change re-evaluates every contact
REBUILD = 600.0      # re-reading every contact from the contacts service
FILTER_LIMIT = 10000


class SegmentIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))
    color = fields.String(validate=validate.Regexp(r"^#[0-9A-Fa-f]{6}$", error="a hex colour like #2563EB"))
    kind = fields.String(validate=validate.OneOf(["dynamic", "static"]))
    criteria = fields.Dict(allow_none=True)
    template_id = fields.String(validate=validate.Length(min=1, max=64))


class SegmentFromTemplateIn(SegmentIn):
    name = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def _needs_name_or_template(self, data: dict, **_: object) -> None:
        if not data.get("name") and not data.get("template_id"):
            raise ValidationError("required unless template_id is given", "name")


class SegmentPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))
    color = fields.String(validate=validate.Regexp(r"^#[0-9A-Fa-f]{6}$", error="a hex colour like #2563EB"))
    kind = fields.String(validate=validate.OneOf(["dynamic", "static"]))
    criteria = fields.Dict(allow_none=True)


class SegmentOut(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    color = fields.String()
    kind = fields.String()
    criteria = fields.Dict(allow_none=True)
    criteria_display = fields.String()
    status = fields.String()
    member_count = fields.Integer()
    manual_count = fields.Integer()
    not_qualifying_count = fields.Integer()
    created_at = fields.String()
    updated_at = fields.String()
    refreshed_at = fields.String(allow_none=True)


class SegmentListQuery(PageQuery):
    q = fields.String(validate=validate.Length(max=100))
    kind = fields.String(validate=validate.OneOf(["dynamic", "static"]))


class SegmentPreviewIn(Schema):
    criteria = fields.Dict(required=True)
    sample_size = fields.Integer(load_default=10, validate=validate.Range(min=0, max=50))


class SegmentPreviewOut(Schema):
    count = fields.Integer()
    sample = fields.List(fields.Dict())
    criteria = fields.Dict()


class SegmentTemplateIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))
    color = fields.String(validate=validate.Regexp(r"^#[0-9A-Fa-f]{6}$", error="a hex colour like #2563EB"))
    criteria = fields.Dict()
    segment_id = fields.String(validate=validate.Length(min=1, max=64))

    @validates_schema
    def _source(self, data: dict, **_: object) -> None:
        if not data.get("segment_id") and not data.get("criteria"):
            raise ValidationError("give criteria or the segment_id to save as a template", "criteria")
        if not data.get("segment_id") and not data.get("name"):
            raise ValidationError("required", "name")


class SegmentSaveAsTemplateIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=500))


class SegmentMembersIn(Schema):
    contact_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                              validate=validate.Length(min=1, max=FILTER_LIMIT))
    filters = fields.Dict()

    @validates_schema
    def _one_source(self, data: dict, **_: object) -> None:
        if bool(data.get("contact_ids")) == ("filters" in data):
            raise ValidationError("give either contact_ids or filters (a contact-list filter)", "contact_ids")


class SegmentMembersOutIn(Schema):
    contact_ids = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                              validate=validate.Length(min=1, max=FILTER_LIMIT))


class SegmentMembersQuery(PageQuery):
    manual = fields.Boolean()
    qualifies = fields.Boolean()


class ContactSegmentsQuery(Schema):
    include_available = fields.Boolean(load_default=False)


def _page(items: list, query: dict) -> dict:
    start = (query["page"] - 1) * query["per_page"]
    return page_envelope(items[start:start + query["per_page"]], len(items), query["page"], query["per_page"])


@bp.get("/segments")
@require(*READ)
@doc("Segments with true member counts", query=SegmentListQuery, tags=["segments"])
def list_segments():
    query = load_query(SegmentListQuery)
    return jsonify(_page(call("segments", "list_segments", query.get("q"), query.get("kind")), query))


@bp.post("/segments")
@require(*MARKETING)
@doc("Create a segment (dynamic criteria, static manual, or from a template)", body=SegmentFromTemplateIn,
     response=SegmentOut, status=201, tags=["segments"])
def create_segment():
    body = load_body(SegmentFromTemplateIn)
    return jsonify(call("segments", "create_segment", body, timeout=LONG)), 201


@bp.post("/segments/preview")
@require(*READ)
@doc("Count and sample of contacts meeting criteria, before saving", body=SegmentPreviewIn, response=SegmentPreviewOut,
     tags=["segments"])
def preview():
    body = load_body(SegmentPreviewIn)
    return jsonify(call("segments", "preview", body["criteria"], body["sample_size"], timeout=LONG))


@bp.post("/segments/refresh")
@require(*MARKETING)
@doc("Run the daily full refresh of every dynamic segment now", tags=["segments"])
def refresh_all():
    return jsonify(call("segments", "refresh_all", timeout=REBUILD))


@bp.post("/segments/rebuild-projection")
@require(*ADMIN_ONLY)
@doc("Rebuild the segments service's contact projection from the contacts service", tags=["segments"])
def rebuild_projection():
    return jsonify(call("segments", "rebuild_projection", timeout=REBUILD))


@bp.get("/segments/templates")
@require(*READ)
@doc("Segment templates: the seed's three built-ins and saved ones", tags=["segments"])
def list_templates():
    items = call("segments", "list_templates")
    return jsonify(page_envelope(items, len(items), 1, max(len(items), 1)))


@bp.post("/segments/templates")
@require(*MARKETING)
@doc("Save criteria (or a segment's criteria) as a template", body=SegmentTemplateIn, status=201, tags=["segments"])
def save_template():
    return jsonify(call("segments", "save_template", load_body(SegmentTemplateIn))), 201


@bp.delete("/segments/templates/<template_id>")
@require(*MARKETING)
@doc("Delete a saved template (built-ins stay)", tags=["segments"])
def delete_template(template_id: str):
    return jsonify(call("segments", "delete_template", template_id))


@bp.get("/segments/<segment_id>")
@require(*READ)
@doc("One segment", response=SegmentOut, tags=["segments"])
def get_segment(segment_id: str):
    return jsonify(call("segments", "get_segment", segment_id))


@bp.patch("/segments/<segment_id>")
@require(*MARKETING)
@doc("Edit a segment; new criteria re-evaluate every contact", body=SegmentPatch, response=SegmentOut,
     tags=["segments"])
def update_segment(segment_id: str):
    body = load_body(SegmentPatch)
    return jsonify(call("segments", "update_segment", segment_id, body, timeout=LONG))


@bp.delete("/segments/<segment_id>")
@require(*MARKETING)
@doc("Delete a segment and its memberships", tags=["segments"])
def delete_segment(segment_id: str):
    return jsonify(call("segments", "delete_segment", segment_id))


@bp.post("/segments/<segment_id>/refresh")
@require(*MARKETING)
@doc("Re-evaluate one segment over every contact now", tags=["segments"])
def refresh_segment(segment_id: str):
    return jsonify(call("segments", "refresh_segment", segment_id, timeout=LONG))


@bp.post("/segments/<segment_id>/save-as-template")
@require(*MARKETING)
@doc("Save this segment's criteria as a template", body=SegmentSaveAsTemplateIn, status=201, tags=["segments"])
def save_as_template(segment_id: str):
    body = load_body(SegmentSaveAsTemplateIn)
    return jsonify(call("segments", "save_template", {**body, "segment_id": segment_id})), 201


@bp.get("/segments/<segment_id>/members")
@require(*READ)
@doc("Members with manual/qualifies flags and added/updated dates", query=SegmentMembersQuery, tags=["segments"])
def list_members(segment_id: str):
    query = load_query(SegmentMembersQuery)
    return jsonify(call("segments", "list_members", segment_id, query["page"], query["per_page"],
                        query.get("manual"), query.get("qualifies")))


@bp.post("/segments/<segment_id>/members")
@require(*WRITE)
@doc("Add contacts by hand: ids, or every contact a contact-list filter selects", body=SegmentMembersIn,
     tags=["segments"])
def add_members(segment_id: str):
    body = load_body(SegmentMembersIn)
    ids = body.get("contact_ids")
    if ids is None:
        call("segments", "get_segment", segment_id)  # 404 before resolving a large filter
        ids = call("contacts", "resolve_filter_ids", body["filters"], limit=FILTER_LIMIT, timeout=LONG)
        if not ids:
            return jsonify({"segment_id": segment_id, "added": [], "already_member": [], "manual_override": [],
                            "not_found": [], "results": []})
    return jsonify(call("segments", "add_members", segment_id, ids, timeout=LONG))


@bp.delete("/segments/<segment_id>/members")
@require(*WRITE)
@doc("Remove manual additions (the only kind that can be removed)", body=SegmentMembersOutIn, tags=["segments"])
def remove_members(segment_id: str):
    body = load_body(SegmentMembersOutIn)
    return jsonify(call("segments", "remove_members", segment_id, body["contact_ids"]))


@bp.get("/contacts/<contact_id>/segments")
@require(*READ)
@doc("A contact's segment memberships with qualification and manual override", query=ContactSegmentsQuery,
     tags=["segments"])
def contact_segments(contact_id: str):
    query = load_query(ContactSegmentsQuery)
    items = call("segments", "contact_memberships", contact_id)
    body = page_envelope(items, len(items), 1, max(len(items), 1))
    if query["include_available"]:
        body["available"] = call("segments", "contact_segment_options", contact_id)
    return jsonify(body)
