"""Buying signals and the hot-lead alert from events (seed 000 Hot Lead Alert panel)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring import engine, signals
from scoring.model import default_model, validate_model

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
MODEL = validate_model(default_model())


def alert(attrs: dict, events: list, stage: str | None = None) -> dict | None:
    agg = engine.aggregate_events(events, MODEL, NOW)
    result = engine.score_contact(attrs, agg, MODEL, NOW)
    found = signals.buying_signals(events, agg, MODEL, result["engagement_level"], NOW)
    return signals.hot_lead_alert(result, stage, found, events, agg.last_active_at, MODEL, NOW)


def test_signals_carry_counts_and_times():
    events = [("demo_requested", NOW - timedelta(days=1))] + \
        [("pricing_page_visited", NOW - timedelta(hours=h)) for h in (1, 2, 3, 30, 50, 70, 100, 150)]
    panel = alert({"position": "VP of Sales", "industry": "SaaS"}, events)
    labels = [s["label"] for s in panel["signals"]]
    assert labels[0] == "High engagement score (95%)"
    assert "Clicked demo request yesterday" in labels
    assert "Visited pricing page 8x this week" in labels
    assert "Recent activity spike (5 actions in 48hrs)" in labels
    assert panel["priority_action"] == "Schedule demo within 24hrs" and panel["urgency"] == "24h"


def test_no_alert_below_threshold_unless_stage_hot_lead():
    events = [("email_clicked", NOW - timedelta(days=3))]
    assert alert({}, events) is None
    panel = alert({}, events, stage="Hot Lead")
    assert panel["urgency"] == "48h" and panel["triggered_by"] == ["stage is Hot Lead"]
    old = alert({}, [("email_clicked", NOW - timedelta(days=20))], stage="Hot Lead")
    assert old["urgency"] == "1w" and old["priority_action"].endswith("within 1 week")


def test_relative_times():
    assert signals.when(NOW - timedelta(hours=1), NOW) == "today"
    assert signals.when(NOW - timedelta(days=1), NOW) == "yesterday"
    assert signals.when(NOW - timedelta(days=4), NOW) == "this week"
    assert signals.when(datetime(2026, 1, 15, tzinfo=UTC), NOW) == "on Jan 15"


def test_urgency_by_score_band_and_recency():
    assert signals.urgency(95, NOW - timedelta(hours=10), NOW, 90) == "24h"
    assert signals.urgency(95, NOW - timedelta(days=5), NOW, 90) == "48h"
    assert signals.urgency(60, NOW - timedelta(days=5), NOW, 90) == "48h"
    assert signals.urgency(60, NOW - timedelta(days=10), NOW, 90) == "1w"
    assert signals.urgency(60, None, NOW, 90) == "1w"
