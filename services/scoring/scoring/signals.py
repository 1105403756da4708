"""Buying signals and the hot-lead alert, from a contact's real events (seed 000 Hot Lead Alert panel)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scoring.engine import Aggregates

HOT_STAGE = "Hot Lead"
URGENCY_TEXT = {"24h": "24hrs", "48h": "48hrs", "1w": "1 week"}
URGENCY_LEVEL = {"24h": "high", "48h": "medium", "1w": "standard"}


def when(at: datetime, now: datetime) -> str:
    """Seed wording for a time: today, yesterday, this week, or the date."""
    days = (now.date() - at.date()).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return "this week"
    return f"on {at.strftime('%b')} {at.day}"


def _signal(kind: str, label: str, icon: str, count: int | None = None, last_at: datetime | None = None,
            timeframe: str | None = None, value: float | None = None) -> dict[str, Any]:
    return {"type": kind, "label": label, "icon": icon, "count": count,
            "last_at": last_at.isoformat() if last_at else None, "timeframe": timeframe, "value": value}


def buying_signals(events: list[tuple[str, datetime]], agg: Aggregates, model: dict[str, Any],
                   level: float, now: datetime) -> list[dict[str, Any]]:
    """Signals with counts and times, strongest first; computed from the events, never invented."""
    week_ago = now - timedelta(days=7)
    by_type: dict[str, list[datetime]] = {}
    for event_type, at in events:
        if at <= now:
            by_type.setdefault(event_type, []).append(at)
    signals: list[dict[str, Any]] = []
    if level >= 50:
        signals.append(_signal("engagement_level", f"High engagement score ({level:g}%)", "arrow_up", value=level))
    for kind, verb, icon in (("demo_requested", "Clicked demo request", "cursor"),
                             ("demo_scheduled", "Scheduled a demo", "calendar")):
        times = by_type.get(kind)
        if times:
            last = max(times)
            if last >= now - timedelta(days=model["recency_days"]):
                signals.append(_signal(kind, f"{verb} {when(last, now)}", icon, count=len(times), last_at=last,
                                       timeframe=when(last, now)))
    pricing = [t for t in by_type.get("pricing_page_visited", []) if t >= week_ago]
    if pricing:
        signals.append(_signal("pricing_page_visited", f"Visited pricing page {len(pricing)}x this week", "eye",
                               count=len(pricing), last_at=max(pricing), timeframe="this week"))
    spike = model["derived"]["activity_spike"]
    if agg.events_in_spike_window >= spike["min_events"]:
        hours = spike["window_hours"]
        signals.append(_signal("activity_spike",
                               f"Recent activity spike ({agg.events_in_spike_window} actions in {hours}hrs)",
                               "activity", count=agg.events_in_spike_window, timeframe=f"{hours}hrs"))
    visits_cfg = model["derived"]["multiple_visits_week"]
    if agg.multiple_visits:
        visits = [t for k in visits_cfg["visit_types"] for t in by_type.get(k, []) if t >= week_ago]
        if pricing and len(visits) == len(pricing):
            return _rest(signals, by_type, now)  # the pricing-page signal already says it, with the count
        label = (f"Visited the website {len(visits)}x this week" if len(visits) >= visits_cfg["min_visits"]
                 else "Multiple website visits within a week")
        signals.append(_signal("multiple_visits_week", label, "eye", count=len(visits) or None,
                               last_at=max(visits) if visits else None, timeframe="this week"))
    return _rest(signals, by_type, now)


def _rest(signals: list[dict[str, Any]], by_type: dict[str, list[datetime]], now: datetime) -> list[dict[str, Any]]:
    """The weaker signals of the last 30 days, after the strong ones."""
    for kind, verb, icon in (("email_replied", "Replied to an email", "mail"),
                             ("webinar_attended", "Attended a webinar", "video"),
                             ("whitepaper_downloaded", "Downloaded a whitepaper", "download"),
                             ("email_clicked", "Clicked an email link", "cursor")):
        recent = [t for t in by_type.get(kind, []) if t >= now - timedelta(days=30)]
        if recent:
            last = max(recent)
            times = f" {len(recent)}x" if len(recent) > 1 else ""
            signals.append(_signal(kind, f"{verb}{times}, last {when(last, now)}", icon, count=len(recent),
                                   last_at=last, timeframe=when(last, now)))
    return signals


def priority_action(events: list[tuple[str, datetime]], now: datetime) -> str:
    """What the owner should do first, from the strongest recent intent."""
    recent = {t for t, at in events if now - timedelta(days=7) <= at <= now}
    if "demo_requested" in recent and "demo_scheduled" not in recent:
        return "Schedule demo"
    if "demo_scheduled" in recent:
        return "Confirm the demo and prepare a tailored agenda"
    if "pricing_page_visited" in recent:
        return "Send a pricing proposal"
    if "email_replied" in recent:
        return "Reply and book a call"
    return "Call to qualify interest"


def urgency(score: int, last_active_at: datetime | None, now: datetime, threshold: int) -> str:
    """SPEC: by score band and recency: hot and active in 48 h -> 24 h; hot or active this week -> 48 h."""
    since = (now - last_active_at) if last_active_at else None
    if score >= threshold and since is not None and since <= timedelta(hours=48):
        return "24h"
    if score >= threshold or (since is not None and since <= timedelta(days=7)):
        return "48h"
    return "1w"


def hot_lead_alert(score: dict[str, Any], stage: str | None, signals: list[dict[str, Any]],
                   events: list[tuple[str, datetime]], last_active_at: datetime | None, model: dict[str, Any],
                   now: datetime) -> dict[str, Any] | None:
    """The alert panel, or None when the contact is neither >= threshold nor in stage Hot Lead."""
    threshold = model["hot_threshold"]
    if score["score"] < threshold and stage != HOT_STAGE:
        return None
    level = urgency(score["score"], last_active_at, now, threshold)
    action = priority_action(events, now)
    reasons = []
    if score["score"] >= threshold:
        reasons.append(f"score {score['score']} >= {threshold}")
    if stage == HOT_STAGE:
        reasons.append("stage is Hot Lead")
    return {"score": score["score"], "signals": signals,
            "priority_action": f"{action} within {URGENCY_TEXT[level]}",
            "action": action, "urgency": level, "urgency_level": URGENCY_LEVEL[level],
            "triggered_by": reasons}
