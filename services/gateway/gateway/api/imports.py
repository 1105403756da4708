"""CSV imports (API.md "Imports"): upload, mapping, review, commit, cancel, undo, reports, history.

The gateway only checks the request (size, file field, mapping JSON) and
hands the bytes to the imports service; parsing, validation and matching run
in the imports service and its Celery workers.
"""
from __future__ import annotations

import base64
import json

from flask import Blueprint, Response, jsonify, request
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from crm_shared.errors import BadRequest, PayloadTooLarge, ValidationFailed
from gateway.auth import READ, WRITE, require
from gateway.http import PageQuery, doc, json_body, load_query
from gateway.rpc import call

bp = Blueprint("imports", __name__, url_prefix="/api/v1")

MAX_FILE_BYTES = 10 * 1024 * 1024
ACCEPTED_EXTENSIONS = (".csv", ".txt", ".tsv", "")
MATCH_TYPES = ("exact", "email", "phone", "name_company", "fuzzy")


class ImportOut(Schema):
    id = fields.String()
    status = fields.String()
    step = fields.Integer()
    stage = fields.String()
    progress = fields.Integer()
    message = fields.String()
    mapping = fields.Dict()
    summary = fields.Dict(allow_none=True)


class DuplicatesQuery(PageQuery):
    match_type = fields.String(validate=validate.OneOf(MATCH_TYPES))
    decision = fields.String(validate=validate.OneOf(("merge", "skip", "review", "pending")))


class RowsQuery(PageQuery):
    outcome = fields.String(validate=validate.OneOf(("create", "merge", "skip", "error")))


class HistoryQuery(PageQuery):
    mine = fields.Boolean(load_default=False)


class CommitIn(Schema):
    unresolved = fields.String(validate=validate.OneOf(("merge", "skip", "review")), allow_none=True)


def _read_upload() -> tuple[str, bytes]:
    """The uploaded file's name and bytes, refused with 413 above 10 MB (also for chunked bodies)."""
    if request.content_length is not None and request.content_length > MAX_FILE_BYTES + 64 * 1024:
        raise PayloadTooLarge("the file is larger than 10 MB",
                              {"fields": {"file": ["larger than 10 MB"]}, "limit_bytes": MAX_FILE_BYTES})
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge("the file is larger than 10 MB",
                              {"fields": {"file": ["larger than 10 MB"]}, "limit_bytes": MAX_FILE_BYTES}) from exc
    if upload is None:
        raise ValidationFailed("a CSV file is required", {"fields": {"file": ["missing: send it as multipart "
                                                                             "form field 'file'"]}})
    name = (upload.filename or "contacts.csv").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if extension not in ACCEPTED_EXTENSIONS:
        raise ValidationFailed("only CSV files are accepted",
                               {"fields": {"file": [f"'{extension}' files are not accepted; save it as .csv"]}})
    data = upload.stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge("the file is larger than 10 MB",
                              {"fields": {"file": ["larger than 10 MB"]}, "limit_bytes": MAX_FILE_BYTES})
    if not data:
        raise ValidationFailed("the file is empty", {"fields": {"file": ["the file is empty"]}})
    return name, data


def _mapping_field() -> dict | None:
    raw = request.form.get("mapping")
    if raw in (None, ""):
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed("mapping is not valid JSON", {"fields": {"mapping": ["not valid JSON"]}}) from exc
    if not isinstance(value, dict):
        raise ValidationFailed("mapping must be a JSON object", {"fields": {"mapping": ["must be an object"]}})
    return value


@bp.post("/imports")
@require(*WRITE)
@doc("Upload a CSV file to import (multipart field `file`, optional `mapping` JSON)", response=ImportOut,
     status=202, tags=["imports"])
def create_import():
    name, data = _read_upload()
    column_map = _mapping_field()
    result = call("imports", "create_import", name, base64.b64encode(data).decode("ascii"), column_map,
                  timeout=60)
    return jsonify(result), 200 if result.get("duplicate_upload") else 202


@bp.get("/imports")
@require(*READ)
@doc("Import history: who, when, file, source and result", query=HistoryQuery, tags=["imports"])
def list_imports():
    query = load_query(HistoryQuery)
    return jsonify(call("imports", "list_imports", query["page"], query["per_page"], query["mine"]))


@bp.get("/imports/template.csv")
@require(*READ)
@doc("Sample CSV template with every supported column", tags=["imports"])
def template():
    body = call("imports", "template_csv")
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="contacts-template.csv"'})


@bp.get("/imports/fields")
@require(*READ)
@doc("Fields a column can map to, with the header synonyms recognised", tags=["imports"])
def mapping_fields():
    return jsonify(call("imports", "mapping_fields"))


@bp.get("/imports/matching-rules")
@require(*READ)
@doc("Duplicate matching rules (match types, confidences, fuzzy thresholds)", tags=["imports"])
def get_rules():
    return jsonify(call("imports", "get_matching_rules"))


@bp.put("/imports/matching-rules")
@require("admin", "marketing")
@doc("Change duplicate matching rules (used by new imports and duplicate scans)", tags=["imports"])
def set_rules():
    return jsonify(call("imports", "set_matching_rules", json_body()))


@bp.get("/imports/<import_id>")
@require(*READ)
@doc("Status, step (1-5), stage, progress, mapping and summary", response=ImportOut, tags=["imports"])
def get_import(import_id: str):
    return jsonify(call("imports", "get_import", import_id))


@bp.put("/imports/<import_id>/mapping")
@require(*WRITE)
@doc("Change the column -> field mapping; processing restarts with it", tags=["imports"])
def set_mapping(import_id: str):
    body = json_body()
    column_map = body["mapping"] if isinstance(body.get("mapping"), dict) else body
    if not column_map:
        raise ValidationFailed("mapping is required", {"fields": {"mapping": ["required"]}})
    return jsonify(call("imports", "set_mapping", import_id, column_map))


@bp.get("/imports/<import_id>/duplicates")
@require(*READ)
@doc("Possible duplicates with both records, match type and confidence", query=DuplicatesQuery,
     tags=["imports"])
def list_duplicates(import_id: str):
    q = load_query(DuplicatesQuery)
    return jsonify(call("imports", "list_duplicates", import_id, q.get("match_type"), q.get("decision"),
                        q["page"], q["per_page"]))


@bp.post("/imports/<import_id>/duplicates/resolve")
@require(*WRITE)
@doc("Decide merge, skip or review per pair, or for all pairs of a match type", tags=["imports"])
def resolve(import_id: str):
    body = json_body()
    unknown = set(body) - {"decisions", "match_type", "action"}
    if unknown:
        raise BadRequest("unknown fields in request body", {"fields": {k: ["unknown field"] for k in unknown}})
    return jsonify(call("imports", "resolve_duplicates", import_id, body))


@bp.get("/imports/<import_id>/rows")
@require(*READ)
@doc("What commit will do (or did) to each row: create, merge (with changes), skip or error",
     query=RowsQuery, tags=["imports"])
def list_rows(import_id: str):
    q = load_query(RowsQuery)
    return jsonify(call("imports", "list_rows", import_id, q.get("outcome"), q["page"], q["per_page"]))


@bp.post("/imports/<import_id>/commit")
@require(*WRITE)
@doc("Import the reviewed rows (in batches, in the background)", body=CommitIn, response=ImportOut,
     status=202, tags=["imports"])
def commit(import_id: str):
    body = json_body()
    unknown = set(body) - {"unresolved"}
    if unknown:
        raise BadRequest("unknown fields in request body", {"fields": {k: ["unknown field"] for k in unknown}})
    errors = CommitIn().validate(body)
    if errors:
        raise ValidationFailed("Validation failed", {"fields": errors})
    return jsonify(call("imports", "commit_import", import_id, body.get("unresolved"))), 202


@bp.post("/imports/<import_id>/cancel")
@require(*WRITE)
@doc("Cancel an import before commit", response=ImportOut, tags=["imports"])
def cancel(import_id: str):
    return jsonify(call("imports", "cancel_import", import_id))


@bp.post("/imports/<import_id>/undo")
@require(*WRITE)
@doc("Undo a completed import (within 7 days)", response=ImportOut, tags=["imports"])
def undo(import_id: str):
    return jsonify(call("imports", "undo_import", import_id, timeout=120))


@bp.get("/imports/<import_id>/errors.csv")
@require(*READ)
@doc("Error report: row, field, value, error type, message, suggested fix", tags=["imports"])
def errors_csv(import_id: str):
    body = call("imports", "errors_csv", import_id, timeout=30)
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'})
