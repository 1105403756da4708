"""Demo messaging data (idempotent): the three ready-made templates, the seed's two campaigns with
some enrollments, Sarah Johnson's communication history from seed 000 §8, calls and follow-ups.

Runs after contacts, scoring and segments (ORDER 50). Every create carries a
fixed idempotency key, so loading twice changes nothing.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_shared.errors import Conflict
from crm_shared.rpc import RpcClient

ORDER = 50

TEMPLATES = [
    {"name": "Welcome Email", "category": "Onboarding",
     "subject": "Welcome to the team, {first_name}!",
     "body": "Hi {first_name},\n\nwelcome aboard! We are glad {company_name} chose to work with us.\n"
             "Your getting-started guide is here: https://example.com/getting-started\n\n"
             "If anything is unclear, just reply to this email.\n\n{sender_name}\n{sender_email}"},
    {"name": "Follow-up Email", "category": "Sales",
     "subject": "Following up, {first_name}",
     "body": "Hi {first_name},\n\nthanks again for your time. As {position} at {company_name} you mentioned a few "
             "priorities; here is a short summary of how we help: https://example.com/summary\n\n"
             "Would a 20-minute call next week work for you?\n\n{sender_name}\n{sender_email}"},
    {"name": "Product Demo", "category": "Marketing",
     "subject": "{first_name}, see the product in action",
     "body": "Hi {first_name},\n\nteams like {company_name} use our platform to find and prioritise their best "
             "leads. Book a personal demo here: https://example.com/demo\n\n{sender_name}"},
]

def _day(offset_days: int) -> str:
    """Demo periods are relative to the load, so the campaigns are running (an ended one takes no enrollments)."""
    return (datetime.now(UTC).date() + timedelta(days=offset_days)).isoformat()


CAMPAIGNS = [
    {"title": "Q1 Product Launch Campaign", "code": "Q1-LAUNCH", "type": "Email Sequence",
     "description": "Launch sequence for the Q1 release: announcement, demo invitation, follow-up.",
     "visibility": "Internal", "start_date": _day(-30), "end_date": _day(60), "capacity": 1250,
     "steps": [{"template": "Product Demo", "delay_days": 1}, {"template": "Follow-up Email", "delay_days": 3}]},
    {"title": "Enterprise Outreach Campaign", "code": "ENT-OUTREACH", "type": "Cold Outreach",
     "description": "Outreach to enterprise accounts (1000+ employees).",
     "visibility": "Internal", "start_date": _day(-15), "end_date": _day(90), "capacity": 450,
     "steps": [{"template": "Follow-up Email", "delay_days": 2}]},
]

SARAH = "sarah.johnson@techcorp.com"


def _ctx(base: dict, key: str) -> dict:
    return {**base, "idempotency_key": f"demo-messaging:{key}"}


def _templates(rpc: RpcClient, ctx: dict) -> dict[str, dict]:
    existing = {t["name"]: t for t in rpc.call("messaging", "list_templates", {}, 1, 200, context=ctx)["items"]}
    for template in TEMPLATES:
        if template["name"] not in existing:
            existing[template["name"]] = rpc.call("messaging", "create_template", template,
                                                  context=_ctx(ctx, f"template:{template['name']}"))
    return existing


def _campaigns(rpc: RpcClient, ctx: dict, templates: dict[str, dict]) -> dict[str, dict]:
    existing = {c["code"]: c for c in rpc.call("messaging", "list_campaigns", {}, 1, 200, context=ctx)["items"]}
    for spec in CAMPAIGNS:
        if spec["code"] in existing:
            continue
        data = {k: v for k, v in spec.items() if k != "steps"}
        data["status"] = "New"
        data["steps"] = [{"template_id": templates[s["template"]]["id"], "delay_days": s["delay_days"]}
                         for s in spec["steps"]]
        created = rpc.call("messaging", "create_campaign", data, context=_ctx(ctx, f"campaign:{spec['code']}"))
        existing[spec["code"]] = rpc.call("messaging", "update_campaign", created["id"], {"status": "Active"},
                                          context=ctx)
    return existing


def _sarah_history(rpc: RpcClient, ctx: dict, sarah: dict, users: dict) -> None:
    """Seed 000 §8: demo follow-up (opened), her reply (inbound), a completed discovery call."""
    sender = users.get("sales@demo.crm", {})
    now = datetime.now(UTC)
    first = rpc.call("messaging", "record_email", {
        "contact_id": sarah["id"], "direction": "outbound", "status": "opened",
        "subject": "Product Demo Follow-up", "from_email": sender.get("email", "sales@demo.crm"), "to_email": SARAH,
        "body": "Hi Sarah,\n\nthank you for joining the product demo. As discussed, here are the enterprise "
                "security features and the rollout plan for 500+ users.\n\nSam",
        "occurred_at": (now - timedelta(days=5)).isoformat()}, context=_ctx(ctx, "sarah:email:1"))
    rpc.call("messaging", "record_email", {
        "contact_id": sarah["id"], "direction": "inbound", "status": "replied", "reply_to_email_id": first["id"],
        "subject": "Re: Product Demo Follow-up", "from_email": SARAH, "to_email": sender.get("email", ""),
        "body": "Thanks Sam, this looks great. Can we talk pricing for the enterprise package this week?",
        "occurred_at": (now - timedelta(days=4)).isoformat()}, context=_ctx(ctx, "sarah:email:2"))
    rpc.call("messaging", "log_call", {
        "contact_id": sarah["id"], "purpose": "Discovery Call", "status": "Completed", "duration_s": 900,
        "participants": ["John Smith"], "outcome": "Interested in the enterprise package",
        "notes": "Initial contact made. Very responsive and engaged during the call. 500+ users, needs "
                 "advanced security features.",
        "occurred_at": (now - timedelta(days=6)).isoformat(),
        "follow_up": {"type": "call", "title": "Pricing call with Sarah", "priority": "high",
                      "due_at": (now + timedelta(days=1)).isoformat()}},
        context=_ctx(ctx, "sarah:call:1"))


def load(rpc: RpcClient, context: dict) -> None:
    ctx = context["system_context"]
    templates = _templates(rpc, ctx)
    campaigns = _campaigns(rpc, ctx, templates)
    contacts: dict[str, dict] = context.get("contacts") or {}
    if not contacts:
        page = rpc.call("contacts", "list_contacts", {}, 1, 200, None, context=ctx)
        contacts = {c["email"]: c for c in page["items"]}
    users = context.get("users") or {u["email"]: u for u in rpc.call("contacts", "list_users", context=ctx)}
    people = sorted(contacts.values(), key=lambda c: c["email"])
    launch, outreach = campaigns["Q1-LAUNCH"], campaigns["ENT-OUTREACH"]
    active = [c for c in people if not c.get("inactive") and not c.get("unsubscribed")]
    for campaign, chosen in ((launch, active[:40]), (outreach, [c for c in active if (c.get("company_size") or 0)
                                                                >= 1000][:15] or active[40:55])):
        ids = [c["id"] for c in chosen]
        if SARAH in contacts and campaign is launch:
            ids.append(contacts[SARAH]["id"])
        if ids:
            try:
                rpc.call("messaging", "enroll", campaign["id"], ids, context=_ctx(ctx, f"enroll:{campaign['code']}"))
            except Conflict:
                pass  # the campaign was moved out of Active by hand since the last load
    if SARAH in contacts:
        _sarah_history(rpc, ctx, contacts[SARAH], users)
    due = datetime.now(UTC)
    for n, person in enumerate(active[:8]):
        owner = person.get("owner_id")
        rpc.call("messaging", "create_follow_up", {
            "contact_id": person["id"], "type": ("email", "call", "task", "meeting")[n % 4],
            "title": f"Follow up with {person['first_name']} {person['last_name']}",
            "priority": ("high", "medium", "urgent", "low")[n % 4],
            "due_at": (due + timedelta(hours=6 * n - 12)).isoformat(), "assigned_to": owner,
            **({"template_id": templates["Follow-up Email"]["id"]} if n % 4 == 0 else {})},
            context=_ctx(ctx, f"follow-up:{person['email']}"))
        if n % 2 == 0:
            rpc.call("messaging", "log_call", {
                "contact_id": person["id"], "purpose": ("Product Demo", "Follow-up Call", "Negotiation")[n % 3],
                "status": ("Completed", "No Answer", "Voicemail")[n % 3],
                "duration_s": 600 if n % 3 == 0 else None, "notes": "Demo data call.",
                "occurred_at": (due - timedelta(days=n + 1)).isoformat()}, context=_ctx(ctx, f"call:{person['email']}"))
    print(f"demo data: {len(templates)} templates, {len(campaigns)} campaigns", flush=True)
