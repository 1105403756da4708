"""Notes on a contact: list/search, add, edit (with history), delete (seed 000 "Note Permissions")."""
from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate

from gateway.auth import READ, WRITE, require
from gateway.http import doc, load_body, load_query
from gateway.rpc import call

bp = Blueprint("notes", __name__, url_prefix="/api/v1")


class ContactNoteInSchema(Schema):
    text = fields.String(required=True)
    type = fields.String(load_default="general")
    tags = fields.List(fields.String(), load_default=list)


class ContactNoteUpdateSchema(Schema):
    text = fields.String()
    type = fields.String()
    tags = fields.List(fields.String())


class ContactNoteQuerySchema(Schema):
    q = fields.String()
    type = fields.String()
    tag = fields.String()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


@bp.get("/contacts/<contact_id>/notes")
@require(*READ)
@doc("Notes of a contact, newest first; q searches the text", query=ContactNoteQuerySchema, tags=["notes"])
def list_notes(contact_id: str):
    query = load_query(ContactNoteQuerySchema)
    return jsonify(call("contacts", "list_notes", contact_id, query["page"], query["per_page"], query.get("q"),
                        query.get("type"), query.get("tag")))


@bp.post("/contacts/<contact_id>/notes")
@require(*WRITE)
@doc("Add a note (types: general, sales, call, marketing, support, technical)", body=ContactNoteInSchema,
     status=201, tags=["notes"])
def add_note(contact_id: str):
    body = load_body(ContactNoteInSchema)
    return jsonify(call("contacts", "add_note", contact_id, body)), 201


@bp.patch("/notes/<note_id>")
@require(*WRITE)
@doc("Edit a note (author, contact owner or admin); the previous text is kept", body=ContactNoteUpdateSchema,
     tags=["notes"])
def update_note(note_id: str):
    body = load_body(ContactNoteUpdateSchema, partial=True)
    return jsonify(call("contacts", "update_note", note_id, body))


@bp.delete("/notes/<note_id>")
@require(*WRITE)
@doc("Delete a note (author or admin)", tags=["notes"])
def delete_note(note_id: str):
    call("contacts", "delete_note", note_id)
    return "", 204


@bp.get("/notes/<note_id>/history")
@require(*READ)
@doc("A note's edit history, newest first", tags=["notes"])
def note_history(note_id: str):
    return jsonify(call("contacts", "note_history", note_id))
