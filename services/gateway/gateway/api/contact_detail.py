"""The contact detail aggregate: every service asked in parallel with a short timeout.

Parts whose service is down or slow are named in ``unavailable``; the answer
is 404 only when the contact itself does not exist. This collects the
pending calls itself rather than through ``gateway.rpc.fan_out`` because a
domain error of one part (e.g. scoring has no score yet: NotFound) must make
that part null, not fail the whole view as ``fan_out`` does.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from crm_shared.errors import CrmError, ServiceUnavailable
from crm_shared.rpc import RemoteError
from gateway.auth import READ, require
from gateway.http import doc
from gateway.rpc import call_async

bp = Blueprint("contact_detail", __name__, url_prefix="/api/v1")


def detail_calls(contact_id: str) -> dict[str, tuple[str, str, tuple, dict]]:
    """``{part: (service, method, args, kwargs)}`` per docs/DEVELOPING.md "Contact detail aggregate"."""
    return {
        "contact": ("contacts", "get_contact", (contact_id,), {}),
        "notes": ("contacts", "list_notes", (contact_id,), {"page": 1, "per_page": 20}),
        "activity": ("contacts", "list_activity", (contact_id,), {"page": 1, "per_page": 20}),
        "score": ("scoring", "get_score", (contact_id,), {}),
        "hot_lead_alert": ("scoring", "get_hot_lead_alert", (contact_id,), {}),
        "segments": ("segments", "contact_memberships", (contact_id,), {}),
        "campaigns": ("messaging", "contact_campaigns", (contact_id,), {}),
        "communications": ("messaging", "list_communications", (contact_id,), {"page": 1, "per_page": 25}),
        "follow_ups": ("messaging", "contact_follow_ups", (contact_id,), {}),
    }


def gather(calls: dict[str, tuple[str, str, tuple, dict]], timeout: float) -> tuple[dict[str, Any], list[str],
                                                                                      dict[str, CrmError]]:
    """(results, unavailable parts, domain errors by part); every call shares one deadline."""
    pending = {}
    unavailable: list[str] = []
    for part, (service, method, args, kwargs) in calls.items():
        try:
            pending[part] = call_async(service, method, *args, timeout=timeout, **kwargs)
        except ServiceUnavailable:
            unavailable.append(part)
    results: dict[str, Any] = {}
    errors: dict[str, CrmError] = {}
    for part, waiting in pending.items():
        try:
            results[part] = waiting.result()
        except ServiceUnavailable:
            unavailable.append(part)
        except CrmError as exc:
            errors[part] = exc
        except RemoteError:  # a bug in one service must not break the whole view
            unavailable.append(part)
    return results, unavailable, errors


@bp.get("/contacts/<contact_id>/detail")
@require(*READ)
@doc("Contact detail aggregate: contact, score, hot lead alert, segments, campaigns, communications, "
     "activity, notes, follow-ups; `unavailable` names parts whose service did not answer", tags=["contacts"])
def contact_detail(contact_id: str):
    calls = detail_calls(contact_id)
    results, unavailable, errors = gather(calls, current_app.config.get("DETAIL_TIMEOUT", 1.5))
    if "contact" in errors:  # NotFound -> 404; any other domain error of the core part as it is
        raise errors["contact"]
    body: dict[str, Any] = {part: results.get(part) for part in calls}
    body["unavailable"] = [part for part in calls if part in unavailable]
    return jsonify(body)
