"""Demo engagement and automation rules: real events behind the scores and hot-lead alerts.

Runs after the contacts part (ORDER 30). David Thompson and Sarah Johnson get
the buying signals of seed 000's Hot Lead Alert panel (demo request yesterday,
pricing page 8x this week, activity spike); other contacts get a varied,
deterministic mix of opens, clicks, visits and webinars. Loading twice changes
nothing: every event carries a fixed idempotency key and rules are matched by name.
"""
from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_shared.rpc import RpcClient

ORDER = 30
BATCH = 500

HOT = {
    "d.thompson@futuretech.net": [("demo_requested", {"days": 1}, {"element": "demo-request"}),
                                  ("webinar_attended", {"days": 9}, {"webinar": "Grid analytics live"})]
    + [("pricing_page_visited", {"hours": h}, {"url": "/pricing"}) for h in (2, 5, 9, 20, 30, 44, 70, 120)],
    "sarah.johnson@techcorp.com": [("demo_scheduled", {"days": 2}, {"when": "next Tuesday"}),
                                   ("whitepaper_downloaded", {"days": 6}, {"title": "Security at scale"}),
                                   ("email_clicked", {"hours": 20}, {"url": "/enterprise"}),
                                   ("email_opened", {"hours": 21}, {})]
    + [("pricing_page_visited", {"hours": h}, {"url": "/pricing"}) for h in (3, 12, 26, 40, 96)],
    "m.chen@innovatetech.io": [("demo_scheduled", {"days": 7}, {}), ("email_opened", {"days": 8}, {})],
    "emily.r@growthco.com": [("email_opened", {"days": 12}, {}), ("email_clicked", {"days": 12}, {}),
                             ("subscribed", {"days": 40}, {"list": "newsletter"})],
}
COMMON = [("email_opened", 2.5), ("email_clicked", 1), ("page_visited", 1.5), ("webinar_attended", 0.4),
          ("whitepaper_downloaded", 0.3), ("pricing_page_visited", 0.4), ("subscribed", 0.3), ("demo_requested", 0.1)]

RULES: list[dict[str, Any]] = [
    {"name": "New lead needs outreach",
     "description": "Seed 003 example: untouched for 24 h, from a website form or a trade show.",
     "trigger": {"type": "time_since_event", "event": "last_activity", "hours": 24},
     "criteria": {"all": [{"field": "stage", "op": "eq", "value": "New"},
                          {"any": [{"field": "channel", "op": "eq", "value": "Web Form"},
                                   {"field": "channel", "op": "eq", "value": "Event"}]}]},
     "actions": [{"type": "set_stage", "stage": "Nurturing"},
                 {"type": "create_follow_up", "follow_up_type": "email", "title": "Send the welcome email",
                  "due_in_hours": 24, "priority": "high"}],
     "priority": "high", "blocking": False, "mode": {"type": "one_time"}},
    {"name": "Demo request: book the demo",
     "trigger": {"type": "event", "event_types": ["demo_requested"]},
     "actions": [{"type": "create_follow_up", "follow_up_type": "call", "title": "Schedule the requested demo",
                  "due_in_hours": 24, "priority": "urgent"},
                 {"type": "notify_owner", "message": "Demo requested: schedule it within 24 hours"}],
     "priority": 2, "blocking": False, "mode": {"type": "periodic", "every_minutes": 1440}},
    {"name": "Tag pricing page interest",
     "trigger": {"type": "event", "event_types": ["pricing_page_visited"]},
     "actions": [{"type": "add_tag", "tags": ["Pricing Interest"]}],
     "priority": 5, "blocking": False, "mode": {"type": "one_time"}},
    {"name": "Weekly nurture review",
     "description": "Every Tuesday at 10:00 UTC: low-engagement nurturing leads get a tag for the review.",
     "trigger": {"type": "schedule", "weekday": 1, "at": "10:00"},
     "criteria": {"all": [{"field": "stage", "op": "eq", "value": "Nurturing"},
                          {"field": "engagement_level", "op": "lt", "value": 20}]},
     "actions": [{"type": "add_tag", "tags": ["Needs Nurture"]}],
     "priority": 6, "blocking": False, "mode": {"type": "periodic"}},
    {"name": "Cold lead re-engagement cycle",
     "description": "Seed 003 in-cycle example: a nurture email every 3 days for 2 weeks.",
     "trigger": {"type": "stage_change", "to": "Cold Lead"},
     "actions": [{"type": "create_follow_up", "follow_up_type": "email", "title": "Re-engagement email",
                  "due_in_hours": 0, "priority": "medium"}],
     "priority": 7, "blocking": False, "mode": {"type": "in_cycle", "every_minutes": 4320, "for_days": 14}},
]


def _rng(email: str) -> random.Random:
    return random.Random(int(hashlib.sha256(email.encode()).hexdigest()[:12], 16))


def _events_for(email: str, now: datetime) -> list[tuple[str, datetime, dict[str, Any]]]:
    if email in HOT:
        return [(kind, now - timedelta(**delta), props) for kind, delta, props in HOT[email]]
    rng = _rng(email)
    if rng.random() < 0.45:
        return []
    events = []
    for kind, mean in COMMON:
        for _ in range(int(rng.expovariate(1 / mean) + 0.5)):
            props = {"url": rng.choice(["/blog/grid", "/product", "/case-studies"])} if kind == "page_visited" else {}
            events.append((kind, now - timedelta(days=rng.uniform(0, 120)), props))
    return events[:12]


def _contacts(rpc: RpcClient, ctx: dict) -> list[dict[str, Any]]:
    items, after = [], None
    while True:
        page = rpc.call("contacts", "iter_contacts", after_id=after, limit=1000, context=ctx)
        items += page["items"]
        after = page.get("next_after_id")
        if not after:
            return items


def load(rpc: RpcClient, context: dict) -> None:
    """Past engagement first, then the rules: the rules act on what happens from now on."""
    ctx = context["system_context"]  # contacts' events filled the projection; a missing one is fetched
    now = datetime.now(UTC)
    events = []
    for contact in _contacts(rpc, ctx):
        email = str(contact.get("email") or "").lower()
        events += [{"contact_id": contact["id"], "type": kind, "occurred_at": at.isoformat(), "properties": props}
                   for kind, at, props in _events_for(email, now)]
    recorded = 0
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        key = "demo-events:" + hashlib.sha256("|".join(f"{e['contact_id']}:{e['type']}" for e in chunk)
                                               .encode()).hexdigest()[:32]
        result = rpc.call("scoring", "record_engagement_batch", chunk, context={**ctx, "idempotency_key": key},
                          timeout=600)
        recorded += result["recorded"]
    existing = {r["name"] for r in rpc.call("scoring", "list_rules", 1, 200, context=ctx)["items"]}
    for rule in RULES:
        if rule["name"] not in existing:
            rpc.call("scoring", "create_rule", rule, context={**ctx, "idempotency_key": f"demo-rule:{rule['name']}"})
    print(f"demo data: {recorded} engagement events, {len(RULES)} rules", flush=True)
