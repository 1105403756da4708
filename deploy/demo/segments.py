"""Demo segments: the seed's three examples, two more, and a hand-picked static list.

Runs after the contacts part (ORDER 40): the contacts' events have filled the
segments projection by then, and a rebuild makes sure of it before the
segments are created, so their member counts are right from the start.
Loading twice changes nothing (segments are matched by name).
"""
from __future__ import annotations

from typing import Any

from crm_shared.rpc import RpcClient

ORDER = 40

SEGMENTS: list[dict[str, Any]] = [
    {"template_id": "high-value-prospects", "name": "High Value Prospects"},
    {"template_id": "product-champions", "name": "Product Champions"},
    {"template_id": "enterprise-leads", "name": "Enterprise Leads"},
    {"name": "Recently Engaged", "color": "#0891B2",
     "description": "Opened an email or attended a webinar in the last 30 days.",
     "criteria": {"any": [{"field": "last_email_opened_at", "op": "within_days", "value": 30},
                          {"field": "event.webinar_attended", "op": "within_days", "value": 30}]}},
    {"name": "Webinar & Event Leads Not Yet Customers", "color": "#EA580C",
     "description": "Came from a webinar or event and are not customers yet.",
     "criteria": {"all": [{"field": "channel", "op": "in", "value": ["Webinar", "Event"]},
                          {"field": "stage", "op": "not_in", "value": ["Customer", "Lost"]}]}},
    {"name": "Board Dinner Invitees", "kind": "static", "color": "#DB2777",
     "description": "Hand-picked guests for the quarterly customer board dinner."},
]


def load(rpc: RpcClient, context: dict) -> None:
    ctx = context["system_context"]
    try:
        rpc.call("segments", "rebuild_projection", context=ctx, timeout=600)
    except Exception as exc:  # contacts may have no demo part yet; events keep the projection anyway
        print(f"demo data: segments projection rebuild skipped ({exc})", flush=True)
    existing = {s["name"].lower(): s for s in rpc.call("segments", "list_segments", context=ctx)}
    created: dict[str, dict[str, Any]] = {}
    for definition in SEGMENTS:
        segment = existing.get(definition["name"].lower())
        if segment is None:
            segment = rpc.call("segments", "create_segment", definition, context=ctx, timeout=120)
        created[segment["name"]] = segment
    static = created["Board Dinner Invitees"]
    if static["member_count"] == 0:
        top = rpc.call("segments", "preview", {"all": [{"field": "email", "op": "exists", "value": True}]}, 5,
                       context=ctx)["sample"]
        if top:
            rpc.call("segments", "add_members", static["id"], [c["id"] for c in top], context=ctx)
    context["segments"] = created
