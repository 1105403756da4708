"""GDPR erasure (RELIABILITY G1): admin only, erases at once across every service (docs/gdpr.md).

The contacts service deletes the contact and pseudonymizes its audit
entries in one transaction, then publishes ``contact_erased``; scoring,
segments, messaging and imports erase their copies when they receive it.
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from gateway.auth import ADMIN_ONLY, require
from gateway.http import doc
from gateway.rpc import call

bp = Blueprint("gdpr", __name__, url_prefix="/api/v1")


@bp.post("/contacts/<contact_id>/erase")
@require(*ADMIN_ONLY)
@doc("Erase a contact's personal data in every service (GDPR); only a keyed hash stays on the suppression list",
     tags=["gdpr"])
def erase_contact(contact_id: str):
    return jsonify(call("contacts", "erase_contact", contact_id, timeout=30))
