"""Demo contacts: the seed 000 §8 samples among ~300 varied, realistic contacts (idempotent: upsert by email).

Generated from a fixed random seed so every run produces the same people;
some have had no activity for 30+ days (the light-yellow rows), some carry
notes. Owners are the demo users.
"""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from crm_shared.rpc import RpcClient

ORDER = 20
COUNT = 300
BATCH = 50

SAMPLES = [
    {"first_name": "David", "last_name": "Thompson", "position": "CEO", "company": "FutureTech Industries",
     "email": "d.thompson@futuretech.net", "phone": "+1 (555) 321-0987", "stage": "Hot Lead", "score": 92,
     "industry": "Technology", "type": "Prospect", "channel": "Webinar", "company_size": 850,
     "tags": ["Enterprise", "Decision Maker"], "last_contact_days": 1,
     "notes_list": [{"text": "Clicked the demo request yesterday; visited pricing 8 times this week.",
                     "type": "sales", "tags": ["demo", "pricing"]}]},
    {"first_name": "Emily", "last_name": "Rodriguez", "position": "Marketing Director", "company": "GrowthCo",
     "email": "emily.r@growthco.com", "phone": "+1 (555) 456-7690", "stage": "Nurturing", "score": 78,
     "industry": "Marketing Services", "type": "Prospect", "channel": "Newsletter", "company_size": 120,
     "tags": ["Newsletter"], "last_contact_days": 12,
     "notes_list": [{"text": "Opened and clicked the January newsletter.", "type": "marketing", "tags": []}]},
    {"first_name": "Michael", "last_name": "Chen", "position": "CTO", "company": "InnovateTech",
     "email": "m.chen@innovatetech.io", "phone": "+1 (555) 987-6543", "stage": "Qualified", "score": 87,
     "industry": "Software", "type": "Partner", "channel": "Referral", "company_size": 1500,
     "tags": ["Technical Buyer"], "last_contact_days": 7,
     "notes_list": [{"text": "Demo scheduled, pricing discussed.", "type": "call", "tags": ["demo"]}]},
    {"first_name": "Sarah", "last_name": "Johnson", "position": "VP of Sales", "company": "TechCorp Solutions",
     "email": "sarah.johnson@techcorp.com", "phone": "+1 (555) 123-4567", "stage": "Hot Lead", "score": 95,
     "industry": "Technology", "type": "Customer", "channel": "Event", "company_size": 2300,
     "tags": ["Enterprise", "Champion"], "last_contact_days": 2,
     "notes_list": [{"text": "Interested in enterprise package. Mentioned they have 500+ users and need "
                             "advanced security features.", "type": "sales", "tags": ["enterprise"]},
                    {"text": "Initial contact made. Very responsive and engaged during the call.",
                     "type": "call", "tags": []}]},
]

FIRST = ["James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sofia", "Mateo", "Chloe",
         "Arjun", "Priya", "Kenji", "Yuki", "Fatima", "Omar", "Lena", "Jonas", "Aisha", "Diego", "Hannah", "Ravi",
         "Grace", "Tom", "Isabel", "Marco", "Elena", "Samuel", "Nora", "Felix", "Zara", "Hugo", "Amara", "Leo"]
LAST = ["Smith", "Garcia", "Müller", "Kim", "Patel", "Nguyen", "Rossi", "Silva", "Kowalski", "Andersen",
        "O'Brien", "Dubois", "Tanaka", "Okafor", "Haddad", "Novak", "Jensen", "Moreau", "Fischer", "Lopez",
        "Santos", "Ivanova", "Walsh", "Costa", "Brennan", "Lindqvist", "Mensah", "Sato", "Bauer", "Ferreira"]
COMPANIES = [
    ("Brightline Energy", "Energy", 420), ("Northwind Logistics", "Logistics", 1300), ("Helios Solar", "Energy", 95),
    ("Vertex Health", "Healthcare", 2600), ("BluePeak Software", "Software", 310), ("Cobalt Manufacturing",
                                                                                  "Manufacturing", 4100),
    ("Greenfield Utilities", "Utilities", 5200), ("Apex Financial", "Financial Services", 780),
    ("Lumen Retail", "Retail", 150), ("Orbit Telecom", "Telecommunications", 9800), ("Summit Education",
                                                                                     "Education", 60),
    ("Riverstone Construction", "Construction", 540), ("Nimbus Cloud", "Software", 45), ("Atlas Insurance",
                                                                                        "Insurance", 3300),
    ("Crescent Hospitality", "Hospitality", 210), ("Pioneer Agritech", "Agriculture", 130),
    ("Quantum Analytics", "Technology", 75), ("Harbor Water Works", "Utilities", 680),
    ("Sterling Legal", "Legal", 40), ("Evergreen Foods", "Food & Beverage", 1900),
]
POSITIONS = ["CEO", "CFO", "CTO", "COO", "VP of Operations", "VP of Sales", "Head of Procurement",
             "Energy Manager", "Facilities Director", "Marketing Manager", "IT Director", "Operations Manager",
             "Sustainability Lead", "Purchasing Specialist", "Plant Manager", "Account Executive", "Analyst",
             "Founder", "Product Manager", "Office Manager"]
DEPARTMENTS = ["Executive", "Operations", "Finance", "IT", "Marketing", "Procurement", "Facilities", "Sales"]
STAGES = ["New", "Nurturing", "Qualified", "Hot Lead", "Cold Lead", "Customer", "Lost", "Unqualified", "Recycled",
          "Not Interested"]
STAGE_WEIGHTS = [18, 22, 14, 6, 10, 12, 5, 5, 4, 4]
TYPES = ["Prospect", "Partner", "Investor", "Customer", "Lead", "Vendor"]
TYPE_WEIGHTS = [40, 10, 4, 18, 24, 4]
CHANNELS = ["Webinar", "Newsletter", "Web Form", "Event", "Referral", "Import", "Social Media", "Cold Outreach"]
TAGS = ["Enterprise", "SMB", "Decision Maker", "Influencer", "Newsletter", "Webinar 2025", "Champion",
        "Budget Approved", "Renewal", "Trade Show", "High Priority", "Technical Buyer"]
UTILITY_TYPES = ["Electric", "Natural Gas", "Water", "Solar", "Multi-utility"]
CHALLENGES = ["Rising energy costs", "Compliance reporting", "Legacy systems", "Scaling operations",
              "Data visibility"]
CITIES = [("Austin", "TX", "US"), ("Denver", "CO", "US"), ("Boston", "MA", "US"), ("Seattle", "WA", "US"),
          ("Toronto", "ON", "CA"), ("London", "", "GB"), ("Berlin", "", "DE"), ("Chicago", "IL", "US")]
NOTE_TEXTS = [("Asked for a follow-up call next week about pricing tiers.", "sales"),
              ("Discovery call: current vendor contract ends in Q3.", "call"),
              ("Downloaded the efficiency whitepaper.", "marketing"),
              ("Reported an issue with invoice export; resolved.", "support"),
              ("Needs SSO and an on-premise connector.", "technical"),
              ("Met at the trade show booth, interested in a pilot.", "general")]


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def generate(owner_ids: list[str], count: int = COUNT, seed: int = 20) -> list[dict]:
    """The demo contacts as ``upsert_contacts`` items (the four seed samples first)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    items = []
    for sample in SAMPLES:
        item = {k: v for k, v in sample.items() if k != "last_contact_days"}
        touched = now - timedelta(days=sample["last_contact_days"])
        item.update(owner_id=owner_ids[len(items) % len(owner_ids)], last_contact_at=touched.isoformat(),
                    last_activity_at=touched.isoformat(), created_at=(now - timedelta(days=60)).isoformat())
        items.append(item)
    seen = {i["email"] for i in items}
    while len(items) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company, industry, size = rng.choice(COMPANIES)
        email = f"{_slug(first)}.{_slug(last)}@{_slug(company)}.com"
        if email in seen:
            email = f"{_slug(first)}.{_slug(last)}{len(items)}@{_slug(company)}.com"
        seen.add(email)
        position = rng.choice(POSITIONS)
        stage = rng.choices(STAGES, STAGE_WEIGHTS)[0]
        created = now - timedelta(days=rng.randint(0, 420), hours=rng.randint(0, 23))
        inactive = rng.random() < 0.25
        last_days = rng.randint(31, 200) if inactive else rng.randint(0, 29)
        touched = max(created, now - timedelta(days=last_days))
        city, state, country = rng.choice(CITIES)
        custom = {}
        if rng.random() < 0.4:
            custom = {"utility_type": rng.choice(UTILITY_TYPES), "biggest_challenge": rng.choice(CHALLENGES),
                      "subscribed": rng.choice(["yes", "no"]), "schedule_demo": rng.choice(["yes", "no", "no"])}
        item = {
            "first_name": first, "last_name": last, "email": email,
            "phone": f"+1 ({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            "company": company, "position": position, "department": rng.choice(DEPARTMENTS), "industry": industry,
            "company_size": size, "annual_revenue": size * rng.randint(80, 400) * 1000,
            "stage": stage, "type": rng.choices(TYPES, TYPE_WEIGHTS)[0], "channel": rng.choice(CHANNELS),
            "owner_id": rng.choice(owner_ids), "tags": rng.sample(TAGS, rng.randint(0, 3)),
            "address": {"city": city, "state": state, "country": country} if state else {"city": city,
                                                                                         "country": country},
            "social": {"linkedin": f"https://www.linkedin.com/in/{_slug(first)}-{_slug(last)}-{len(items)}"},
            "custom_fields": custom,
            "score": max(0, min(100, int(rng.gauss(55, 20)) + (30 if stage == "Hot Lead" else 0))),
            "created_at": created.isoformat(), "last_activity_at": touched.isoformat(),
            "last_contact_at": touched.isoformat() if rng.random() < 0.8 else None,
        }
        if item["last_contact_at"] is None:
            del item["last_contact_at"]
        if rng.random() < 0.3:
            text, kind = rng.choice(NOTE_TEXTS)
            item["notes_list"] = [{"text": text, "type": kind, "tags": []}]
        items.append(item)
    return items


def load(rpc: RpcClient, context: dict) -> None:
    system = context["system_context"]
    users = rpc.call("contacts", "list_users", context=system)
    owners = [u["id"] for u in users if u["role"] in ("sales", "marketing")] or [u["id"] for u in users]
    items = generate(owners)
    loaded = []
    for start in range(0, len(items), BATCH):
        loaded += rpc.call("contacts", "upsert_contacts", items[start:start + BATCH], context=system)
    context["contacts"] = {c["email"]: c for c in loaded}
