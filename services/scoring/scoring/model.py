"""The scoring model as data: defaults from seed 000/003 and SPEC, validation, free-text matching.

The model is a JSON document an admin edits (``GET|PUT /api/v1/scoring/model``).
Two scorers read it: ``fit_engagement`` (seed 000 tables, the default) and
``weighted`` (seed 003's weighted normalised model); ``active_model`` picks one.
"""
from __future__ import annotations

import copy
import re
import unicodedata
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from crm_shared.errors import ValidationFailed

MODEL_KINDS = ("fit_engagement", "weighted")
EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")

DECISION_MAKER_PHRASES = [
    "ceo", "coo", "cfo", "cto", "cio", "cmo", "cro", "cpo", "cso", "cdo", "chief", "c level",
    "founder", "co founder", "cofounder", "owner", "president", "managing director", "general manager",
    "vp", "svp", "evp", "vice president", "director", "head of", "head", "bu head", "business unit head",
    "partner", "procurement manager", "purchasing manager", "procurement lead", "purchasing lead",
    "head of procurement", "buyer", "procurement director",
]
DECISION_MAKER_EXCLUDE = ["assistant", "intern", "associate director", "product owner", "partner manager",
                          "channel partner", "student"]
INFLUENCER_PHRASES = [
    "manager", "team lead", "lead", "supervisor", "product manager", "program manager", "project manager",
    "product owner", "advisor", "adviser", "consultant", "senior specialist", "specialist", "senior engineer",
    "engineer", "architect", "developer", "analyst", "associate", "junior associate", "coordinator",
    "community", "friend", "ambassador", "assistant", "associate director",
]

INDUSTRY_TIERS = [
    ("utilities_energy", "Utilities & Energy", 20,
     ["utilities", "utility", "energy", "electric", "electricity", "power", "power generation", "water",
      "water treatment", "gas", "oil", "oil and gas", "renewable", "renewables", "solar", "wind"]),
    ("saas_technology", "SaaS / Technology Providers", 20,
     ["saas", "software", "technology", "tech", "information technology", "it", "cloud", "internet",
      "cybersecurity", "ai", "data"]),
    ("financial_services", "Financial Services / Fintech", 20,
     ["financial", "finance", "fintech", "bank", "banking", "insurance", "investment", "payments",
      "capital", "asset management"]),
    ("government", "Government / Public Sector", 20,
     ["government", "public sector", "public administration", "municipal", "federal", "state agency",
      "defense", "defence"]),
    ("healthcare", "Healthcare & Life Sciences", 20,
     ["healthcare", "health", "health care", "medical", "hospital", "pharma", "pharmaceutical",
      "pharmaceuticals", "biotech", "biotechnology", "life sciences"]),
    ("manufacturing", "Manufacturing", 10,
     ["manufacturing", "manufacturer", "industrial", "factory", "automotive", "machinery"]),
    ("professional_services", "Professional Services (Consulting, Agencies)", 10,
     ["professional services", "consulting", "consultancy", "agency", "agencies", "legal", "law",
      "accounting", "marketing agency"]),
    ("real_estate", "Real Estate & Construction", 10,
     ["real estate", "construction", "property", "properties", "architecture"]),
    ("education", "Education & EdTech", 10,
     ["education", "edtech", "school", "university", "college", "training", "e learning", "elearning"]),
    ("retail", "Retail & Consumer Services", 10,
     ["retail", "consumer", "consumer services", "ecommerce", "e commerce", "hospitality", "food"]),
]

# Seed 000 "Engagement Score" plus the events other services send (SPEC decisions).
ENGAGEMENT = {
    "email_opened": {"label": "Opened email", "points": 5, "max_count": 5},
    "email_clicked": {"label": "Clicked email link", "points": 10, "max_count": 5},
    "webinar_attended": {"label": "Attended webinar", "points": 15, "max_count": 3},
    "demo_requested": {"label": "Requested demo / pricing", "points": 40, "max_count": 1},
    "demo_scheduled": {"label": "Scheduled a demo", "points": 40, "max_count": 1},
    "whitepaper_downloaded": {"label": "Downloaded whitepaper", "points": 10, "max_count": 3},
    "pricing_page_visited": {"label": "Visited pricing page", "points": 20, "max_count": 2},
    "subscribed": {"label": "Subscribed", "points": 10, "max_count": 1},
    "page_visited": {"label": "Visited website page", "points": 0, "max_count": 0},
    "email_replied": {"label": "Replied to email", "points": 15, "max_count": 3},
    "call_logged": {"label": "Had a call", "points": 10, "max_count": 3},
    "call_attempted": {"label": "Call attempted, no conversation", "points": 0, "max_count": 0},
    "form_submitted": {"label": "Submitted a form", "points": 5, "max_count": 1},
    "campaign_enrolled": {"label": "Enrolled in campaign", "points": 0, "max_count": 0},
    "email_sent": {"label": "Was sent an email", "points": 0, "max_count": 0},
    "unsubscribed": {"label": "Unsubscribed", "points": -10, "max_count": 1},
}

# Types that show intent ("time untouched" counts from the last of these; seed 003).
ACTIVE_INTEREST = ["email_clicked", "email_replied", "demo_requested", "demo_scheduled", "pricing_page_visited",
                   "whitepaper_downloaded", "webinar_attended", "form_submitted", "call_logged", "page_visited",
                   "email_opened"]

WEIGHTED_CRITERIA = [
    # key, label, group, info, eval, max, weight (seed 003 "Default Values Table")
    ("contact_name", "Contacts", "fit", 5, 0, 5, 4),
    ("email", "Primary Email Address", "fit", 5, 0, 5, 5),
    ("phone", "Phone Number", "fit", 3, 0, 3, 3),
    ("location", "Location", "fit", 2, 3, 5, 3),
    ("job_title", "Job Title", "fit", 2, 3, 5, 3),
    ("lead_source", "Lead Source", "fit", 1, 2, 3, 2),
    ("company_name", "Company Name", "fit", 3, 0, 3, 3),
    ("company_size", "Company Size", "fit", 1, 3, 4, 3),
    ("annual_revenue", "Annual Revenue", "fit", 1, 4, 5, 2),
    ("industry", "Industry", "fit", 2, 5, 7, 4),
    ("authority", "Authority", "fit", 0, 10, 10, 5),
    ("engagement_level", "Engagement Level", "engagement", 10, 0, 10, 3),
    ("page_viewed", "Page Viewed", "engagement", 2, 3, 5, 2),
    ("page_revisits", "Page Revisits", "engagement", 3, 0, 3, 1),
    ("clicks", "Clicks", "engagement", 3, 0, 3, 1),
    ("element_clicked", "Element Clicked", "engagement", 2, 3, 5, 2),
    ("email_open_rate", "Email Open Rate", "engagement", 1, 5, 6, 2),
    ("email_response_rate", "Email Response Rate", "engagement", 1, 5, 6, 2),
    ("quote_request", "Quote Request", "engagement", 5, 5, 10, 5),
    ("download_catalog", "Download Catalog Click", "engagement", 2, 2, 4, 2),
    ("time_untouched", "Time Untouched", "engagement", 0, -10, -10, 2),
]
WEIGHTED_KEYS = tuple(c[0] for c in WEIGHTED_CRITERIA)


def default_model() -> dict[str, Any]:
    """The model in force before an admin changes anything."""
    return {
        "active_model": "fit_engagement",
        "recency_days": 90,
        "engagement_ceiling": 100,
        "hot_threshold": 90,
        "rescore_interval_hours": 4,
        "pricing_url_patterns": ["/pricing", "/plans"],
        "roles": {
            "tiers": [
                {"key": "decision_maker", "label": "Decision maker role", "points": 20,
                 "phrases": list(DECISION_MAKER_PHRASES), "exclude": list(DECISION_MAKER_EXCLUDE)},
                {"key": "influencer", "label": "Influencer role", "points": 10,
                 "phrases": list(INFLUENCER_PHRASES), "exclude": []},
            ],
            "otherwise": -10,
            "unknown": 0,
        },
        "industries": {
            "tiers": [{"key": k, "label": label, "points": p, "phrases": list(ph), "exclude": []}
                      for k, label, p, ph in INDUSTRY_TIERS],
            "otherwise": -10,
            "unknown": 0,
        },
        "engagement": copy.deepcopy(ENGAGEMENT),
        "active_interest_types": list(ACTIVE_INTEREST),
        "derived": {
            "multiple_visits_week": {"label": "Multiple visits in a week", "points": 15, "min_visits": 2,
                                     "window_days": 7,
                                     "visit_types": ["page_visited", "pricing_page_visited"]},
            "activity_spike": {"label": "Activity spike in 48 h", "points": 0, "min_events": 4,
                               "window_hours": 48},
        },
        "weighted": {
            "criteria": [{"key": k, "label": label, "group": g, "information_points": i,
                          "evaluation_points": e, "max_points": m, "weight": w}
                         for k, label, g, i, e, m, w in WEIGHTED_CRITERIA],
            "target_countries": ["US", "USA", "United States", "Canada", "United Kingdom", "UK", "Germany",
                                 "United Arab Emirates", "Saudi Arabia"],
            "high_value_sources": ["Referral", "Webinar", "Web Form", "Event"],
            "untouched_penalty_days": [30, 90],
        },
    }


# -- validation of an admin's change ----------------------------------------------------
class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TierSchema(_Strict):
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$"))
    label = fields.String(required=True, validate=validate.Length(min=1, max=120))
    points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    phrases = fields.List(fields.String(validate=validate.Length(min=1, max=80)), required=True,
                          validate=validate.Length(min=1, max=500))
    exclude = fields.List(fields.String(validate=validate.Length(min=1, max=80)), load_default=list)


class TierTableSchema(_Strict):
    tiers = fields.List(fields.Nested(TierSchema), required=True, validate=validate.Length(min=1, max=50))
    otherwise = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    unknown = fields.Integer(load_default=0, validate=validate.Range(min=-100, max=100))


class EngagementTypeSchema(_Strict):
    label = fields.String(required=True, validate=validate.Length(min=1, max=120))
    points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    max_count = fields.Integer(required=True, validate=validate.Range(min=0, max=1000))


class VisitsSchema(_Strict):
    label = fields.String(required=True)
    points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    min_visits = fields.Integer(required=True, validate=validate.Range(min=2, max=1000))
    window_days = fields.Integer(required=True, validate=validate.Range(min=1, max=90))
    visit_types = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


class SpikeSchema(_Strict):
    label = fields.String(required=True)
    points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    min_events = fields.Integer(required=True, validate=validate.Range(min=2, max=1000))
    window_hours = fields.Integer(required=True, validate=validate.Range(min=1, max=720))


class DerivedSchema(_Strict):
    multiple_visits_week = fields.Nested(VisitsSchema, required=True)
    activity_spike = fields.Nested(SpikeSchema, required=True)


class CriterionSchema(_Strict):
    key = fields.String(required=True, validate=validate.OneOf(WEIGHTED_KEYS))
    label = fields.String(required=True)
    group = fields.String(required=True, validate=validate.OneOf(("fit", "engagement")))
    information_points = fields.Integer(required=True, validate=validate.Range(min=0, max=100))
    evaluation_points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    max_points = fields.Integer(required=True, validate=validate.Range(min=-100, max=100))
    weight = fields.Integer(required=True, validate=validate.Range(min=0, max=5))


class WeightedSchema(_Strict):
    criteria = fields.List(fields.Nested(CriterionSchema), required=True, validate=validate.Length(min=1))
    target_countries = fields.List(fields.String(), load_default=list)
    high_value_sources = fields.List(fields.String(), load_default=list)
    untouched_penalty_days = fields.List(fields.Integer(validate=validate.Range(min=1, max=3650)),
                                         validate=validate.Length(equal=2), load_default=lambda: [30, 90])


class ModelSchema(_Strict):
    active_model = fields.String(required=True, validate=validate.OneOf(MODEL_KINDS))
    recency_days = fields.Integer(required=True, validate=validate.Range(min=1, max=3650))
    engagement_ceiling = fields.Integer(required=True, validate=validate.Range(min=1, max=10000))
    hot_threshold = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    rescore_interval_hours = fields.Float(required=True, validate=validate.Range(min=0.01, max=24 * 30))
    pricing_url_patterns = fields.List(fields.String(validate=validate.Length(min=1, max=200)), load_default=list)
    roles = fields.Nested(TierTableSchema, required=True)
    industries = fields.Nested(TierTableSchema, required=True)
    engagement = fields.Dict(keys=fields.String(), values=fields.Nested(EngagementTypeSchema), required=True)
    active_interest_types = fields.List(fields.String(), required=True)
    derived = fields.Nested(DerivedSchema, required=True)
    weighted = fields.Nested(WeightedSchema, required=True)

    @validates_schema
    def _event_types(self, data: dict, **_: Any) -> None:
        bad = [k for k in data.get("engagement", {}) if not EVENT_TYPE_RE.match(k)]
        if bad:
            raise ValidationError({k: ["event type must be lower_snake_case"] for k in bad}, "engagement")
        known = set(data.get("engagement", {}))
        unknown = [t for t in data.get("active_interest_types", []) if t not in known]
        if unknown:
            raise ValidationError([f"unknown event type '{t}'" for t in unknown], "active_interest_types")
        visit_unknown = [t for t in data["derived"]["multiple_visits_week"]["visit_types"] if t not in known]
        if visit_unknown:
            raise ValidationError({"multiple_visits_week": {"visit_types": [
                f"unknown event type '{t}'" for t in visit_unknown]}}, "derived")


def merge_change(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """Top-level parts in ``change`` replace those of ``current``; then the whole is validated."""
    if not isinstance(change, dict) or not change:
        raise ValidationFailed("Validation failed", {"fields": {"model": ["send at least one part to change"]}})
    allowed = set(ModelSchema().fields)
    unknown = sorted(k for k in change if k not in allowed and k not in ("version", "note"))
    if unknown:
        raise ValidationFailed("Validation failed", {"fields": {k: ["unknown field"] for k in unknown}})
    merged = copy.deepcopy(current)
    merged.update({k: v for k, v in change.items() if k in allowed})
    return validate_model(merged)


def validate_model(doc: dict[str, Any]) -> dict[str, Any]:
    try:
        return ModelSchema().load(doc)
    except ValidationError as exc:
        raise ValidationFailed("Validation failed", {"fields": exc.normalized_messages()}) from exc


# -- free-text matching ------------------------------------------------------------------
_ABBREVIATIONS = {"sr": "senior", "jr": "junior", "mgr": "manager", "dir": "director", "svp": "svp",
                  "vice-president": "vice president"}


def normalize_text(text: str | None) -> str:
    """Lower case, accents and punctuation folded, ``&`` as ``and``: " co founder and cto "."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("&", " and ").replace(".", "")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    words = [_ABBREVIATIONS.get(w, w) for w in text.split()]
    return f" {' '.join(words)} " if words else ""


def _has_phrase(norm: str, phrase: str) -> bool:
    p = normalize_text(phrase)
    return bool(p) and p in norm


def match_tier(text: str | None, table: dict[str, Any]) -> dict[str, Any]:
    """Which tier a free-text position or industry falls into, and why.

    Tiers are tried in order; a tier's ``exclude`` phrases veto it (an
    "Assistant to the CEO" is not a decision maker). Returns
    ``{"tier", "label", "points", "matched"}``; tier is ``other`` or ``unknown``
    when nothing matches or the text is empty.
    """
    norm = normalize_text(text)
    if not norm:
        return {"tier": "unknown", "label": "Not known", "points": table.get("unknown", 0), "matched": None}
    for tier in table["tiers"]:
        if any(_has_phrase(norm, x) for x in tier.get("exclude", [])):
            continue
        for phrase in tier["phrases"]:
            if _has_phrase(norm, phrase):
                return {"tier": tier["key"], "label": tier["label"], "points": tier["points"], "matched": phrase}
    return {"tier": "other", "label": "Other", "points": table["otherwise"], "matched": None}


def known_event_types(model: dict[str, Any]) -> list[str]:
    return sorted(model["engagement"])


def classify_event(model: dict[str, Any], event_type: str, properties: dict[str, Any]) -> str:
    """A page visit whose URL is a pricing page counts as ``pricing_page_visited``."""
    if event_type == "page_visited":
        url = str(properties.get("url") or properties.get("path") or "").lower()
        if any(p.lower() in url for p in model.get("pricing_url_patterns", []) if p):
            return "pricing_page_visited"
    return event_type
