"""The scoring model and scorers as plain functions (seed 000 tables, SPEC decisions, seed 003 formula)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_shared.errors import ValidationFailed
from scoring import engine
from scoring.model import classify_event, default_model, match_tier, merge_change, normalize_text, validate_model

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MODEL = validate_model(default_model())


def ev(kind: str, **delta: float) -> tuple[str, datetime]:
    return kind, NOW - timedelta(**delta)


def score(attrs: dict, events: list, model: dict = MODEL) -> dict:
    return engine.score_contact(attrs, engine.aggregate_events(events, model, NOW), model, NOW)


@pytest.mark.parametrize(("position", "tier"), [
    ("CEO", "decision_maker"), ("Chief Operating Officer", "decision_maker"), ("Co-Founder & CTO", "decision_maker"),
    ("VP of Sales", "decision_maker"), ("V.P. Marketing", "decision_maker"), ("Director, IT", "decision_maker"),
    ("Head of Procurement", "decision_maker"), ("BU Head", "decision_maker"),
    ("Procurement Manager", "decision_maker"), ("Purchasing Manager", "decision_maker"),
    ("Sales Manager", "influencer"), ("Marketing Manager", "influencer"), ("Team Lead", "influencer"),
    ("Product Manager", "influencer"), ("Program Manager", "influencer"), ("Advisor", "influencer"),
    ("Consultant", "influencer"), ("Senior Specialist", "influencer"), ("Sr. Engineer", "influencer"),
    ("Junior Associate", "influencer"), ("Assistant to the CEO", "influencer"), ("Product Owner", "influencer"),
    ("Barista", "other"), ("", "unknown"), (None, "unknown"),
])
def test_positions_fall_into_seed_tiers(position, tier):
    assert match_tier(position, MODEL["roles"])["tier"] == tier


@pytest.mark.parametrize(("industry", "points"), [
    ("Utilities", 20), ("Electric Power", 20), ("Oil & Gas", 20), ("SaaS", 20), ("Software", 20),
    ("Financial Services", 20), ("Fintech", 20), ("Public Sector", 20), ("Healthcare", 20), ("Biotech", 20),
    ("Manufacturing", 10), ("Consulting", 10), ("Marketing Agency", 10), ("Real Estate", 10), ("EdTech", 10),
    ("Retail", 10), ("Agriculture", -10), (None, 0),
])
def test_industries_score_their_tier(industry, points):
    assert match_tier(industry, MODEL["industries"])["points"] == points


def test_normalize_text_folds_punctuation_accents_and_abbreviations():
    assert normalize_text("Co-Founder & CTO") == " co founder and cto "
    assert normalize_text("Sr. Directeur Général") == " senior directeur general "


@pytest.mark.parametrize(("kind", "points"), [
    ("email_opened", 5), ("email_clicked", 10), ("webinar_attended", 15), ("demo_requested", 40),
    ("demo_scheduled", 40), ("whitepaper_downloaded", 10), ("pricing_page_visited", 20), ("subscribed", 10),
    ("unsubscribed", 0), ("page_visited", 0),
])
def test_each_engagement_type_scores_its_points(kind, points):
    assert score({}, [ev(kind, hours=1)])["score"] == points


def test_multiple_visits_within_a_week_adds_15():
    two_in_week = score({}, [ev("page_visited", days=1), ev("page_visited", days=6)])
    assert two_in_week["score"] == 15
    apart = score({}, [ev("page_visited", days=1), ev("page_visited", days=9)])
    assert apart["score"] == 0


def test_events_outside_the_window_do_not_count():
    assert score({}, [ev("demo_requested", days=91)])["score"] == 0
    assert score({}, [ev("demo_requested", days=89)])["score"] == 40
    future = score({}, [("demo_requested", NOW + timedelta(days=1))])
    assert future["score"] == 0


def test_caps_per_type_and_clamp_explained():
    result = score({"position": "CEO", "industry": "SaaS"},
                   [ev("email_opened", hours=h) for h in range(1, 9)] + [ev("demo_requested", hours=1),
                                                                         ev("demo_requested", hours=2)])
    opened = next(b for b in result["breakdown"] if b["key"] == "email_opened")
    assert opened["points"] == 25 and opened["count"] == 8
    assert result["score"] == 100
    assert sum(b["points"] for b in result["breakdown"]) == 100
    assert next(b for b in result["breakdown"] if b["key"] == "clamp")["points"] == -5


def test_negative_fit_floors_at_zero():
    result = score({"position": "Barista", "industry": "Agriculture"}, [])
    assert (result["score"], result["fit"]) == (0, -20)
    assert sum(b["points"] for b in result["breakdown"]) == 0


def test_engagement_level_is_relative_to_ceiling_and_capped():
    assert score({}, [ev("demo_requested", hours=1)])["engagement_level"] == 40.0
    model = validate_model({**default_model(), "engagement_ceiling": 50})
    assert score({}, [ev("demo_requested", hours=1), ev("webinar_attended", hours=1)], model)[
        "engagement_level"] == 100.0


def test_weighted_model_follows_the_seed_formula():
    model = validate_model({**default_model(), "active_model": "weighted"})
    attrs = {"first_name": "A", "email": "a@b.c", "position": "CEO", "industry": "SaaS"}
    result = score(attrs, [ev("demo_requested", hours=1)], model)
    criteria = model["weighted"]["criteria"]
    max_total = sum(c["max_points"] * c["weight"] for c in criteria if c["max_points"] > 0)
    achieved = sum(b["achieved"] * b["weight"] for b in result["breakdown"] if b["key"] != "clamp")
    assert result["normalised"] == pytest.approx(100.0 * achieved / max_total, abs=0.01)
    assert result["score"] == round(result["normalised"])
    assert result["fit"] + result["engagement"] == result["score"]
    untouched = score({"created_at": NOW - timedelta(days=100)}, [], model)
    penalty = next(b for b in untouched["breakdown"] if b["key"] == "time_untouched")
    assert penalty["achieved"] == -10


def test_model_changes_are_validated_naming_the_part():
    with pytest.raises(ValidationFailed) as err:
        merge_change(MODEL, {"recency_days": 0})
    assert "recency_days" in err.value.details["fields"]
    with pytest.raises(ValidationFailed) as err:
        merge_change(MODEL, {"engagement": {"Bad Type": {"label": "x", "points": 1, "max_count": 1}},
                             "active_interest_types": []})
    assert "engagement" in err.value.details["fields"]
    with pytest.raises(ValidationFailed) as err:
        merge_change(MODEL, {"colour": "red"})
    assert "colour" in err.value.details["fields"]
    changed = merge_change(MODEL, {"hot_threshold": 85})
    assert changed["hot_threshold"] == 85 and changed["roles"] == MODEL["roles"]


def test_pricing_urls_classify_as_pricing_visits():
    assert classify_event(MODEL, "page_visited", {"url": "https://acme.test/Pricing"}) == "pricing_page_visited"
    assert classify_event(MODEL, "page_visited", {"url": "/blog"}) == "page_visited"


def test_numbers_only_scorer_agrees_with_the_explained_one():
    import json
    import random

    rng = random.Random(5)
    tables = (json.dumps(MODEL["roles"], sort_keys=True), json.dumps(MODEL["industries"], sort_keys=True))
    kinds = list(MODEL["engagement"])
    for _ in range(300):
        events = [ev(rng.choice(kinds), hours=rng.uniform(0, 24 * 100)) for _ in range(rng.randint(0, 15))]
        attrs = {"position": rng.choice(["CEO", "Engineer", "Barista", None]),
                 "industry": rng.choice(["SaaS", "Retail", "Agriculture", None])}
        agg = engine.aggregate_events(events, MODEL, NOW)
        full = engine.score_contact(attrs, agg, MODEL, NOW)
        quick = engine.quick_fit_engagement(attrs["position"], attrs["industry"], agg.counts, agg.multiple_visits,
                                            agg.events_in_spike_window, MODEL, tables)
        assert quick == (full["score"], full["fit"], full["engagement"], full["engagement_level"])
