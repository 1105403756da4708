"""Scores from a contact's attributes and engagement: pure functions, no database.

Both the one-contact path (events loaded in Python) and the bulk rescore
(aggregates computed in SQL) end in ``score_contact`` over the same
``Aggregates``, so a contact scores the same whichever path computed it.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scoring.model import match_tier

# Contact attributes the scorers read (the bulk rescore selects only these).
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "position", "industry",
                  "company_size", "annual_revenue", "channel", "address", "stage", "created_at")


@dataclass
class Aggregates:
    """What the scorers need to know about a contact's engagement, as of ``now``."""

    counts: dict[str, int] = field(default_factory=dict)          # per type, inside the recency window
    last_at: dict[str, datetime] = field(default_factory=dict)    # per type, inside the recency window
    multiple_visits: bool = False
    events_in_spike_window: int = 0
    last_active_at: datetime | None = None                        # any time, active-interest types


def window_start(model: dict[str, Any], now: datetime) -> datetime:
    return now - timedelta(days=model["recency_days"])


def aggregate_events(events: list[tuple[str, datetime]], model: dict[str, Any], now: datetime) -> Aggregates:
    """Aggregates from ``(type, occurred_at)`` pairs (any order; future events ignored)."""
    since = window_start(model, now)
    derived = model["derived"]
    visits_cfg = derived["multiple_visits_week"]
    spike_since = now - timedelta(hours=derived["activity_spike"]["window_hours"])
    active = set(model["active_interest_types"])
    agg = Aggregates()
    visit_times: list[datetime] = []
    for event_type, at in events:
        if at > now:
            continue
        if event_type in active and (agg.last_active_at is None or at > agg.last_active_at):
            agg.last_active_at = at
        if at < since:
            continue
        agg.counts[event_type] = agg.counts.get(event_type, 0) + 1
        if event_type not in agg.last_at or at > agg.last_at[event_type]:
            agg.last_at[event_type] = at
        if at > spike_since:
            agg.events_in_spike_window += 1
        if event_type in visits_cfg["visit_types"]:
            visit_times.append(at)
    agg.multiple_visits = has_visits_within(sorted(visit_times), visits_cfg["min_visits"],
                                            timedelta(days=visits_cfg["window_days"]))
    return agg


def has_visits_within(times: list[datetime], k: int, span: timedelta) -> bool:
    """True when some ``k`` consecutive visits (sorted times) fall within ``span``."""
    return any(times[i] - times[i - k + 1] <= span for i in range(k - 1, len(times)))


@functools.lru_cache(maxsize=20000)
def _tier_cached(text: str, table_json: str) -> dict[str, Any]:
    return match_tier(text, json.loads(table_json))


def tier_for(text: Any, table: dict[str, Any], table_json: str | None = None) -> dict[str, Any]:
    """``match_tier`` with a cache keyed by the table, because positions repeat a lot in bulk rescoring."""
    return dict(_tier_cached(str(text or ""), table_json or json.dumps(table, sort_keys=True)))


def _item(category: str, key: str, label: str, points: float, detail: str, **extra: Any) -> dict[str, Any]:
    return {"category": category, "key": key, "label": label, "points": points, "detail": detail, **extra}


def engagement_level(engagement: float, model: dict[str, Any]) -> float:
    """SPEC: engagement points relative to the ceiling, as a percentage capped to 0-100."""
    level = 100.0 * engagement / model["engagement_ceiling"]
    return round(max(0.0, min(100.0, level)), 1)


def engagement_items(agg: Aggregates, model: dict[str, Any]) -> list[dict[str, Any]]:
    """Seed 000 engagement points: each counted occurrence inside the window, up to ``max_count``."""
    items = []
    days = model["recency_days"]
    for event_type, cfg in model["engagement"].items():
        n = agg.counts.get(event_type, 0)
        counted = min(n, cfg["max_count"])
        if not counted or not cfg["points"]:
            continue
        sign = "+" if cfg["points"] >= 0 else ""
        detail = f"{counted} x {sign}{cfg['points']} (last {days} days"
        detail += f"; {n} occurrences, at most {cfg['max_count']} count)" if n > counted else ")"
        items.append(_item("engagement", event_type, cfg["label"], counted * cfg["points"], detail, count=n,
                           last_at=agg.last_at[event_type].isoformat() if event_type in agg.last_at else None))
    derived = model["derived"]
    visits = derived["multiple_visits_week"]
    if agg.multiple_visits and visits["points"]:
        items.append(_item("engagement", "multiple_visits_week", visits["label"], visits["points"],
                           f"{visits['min_visits']}+ visits within {visits['window_days']} days"))
    spike = derived["activity_spike"]
    if agg.events_in_spike_window >= spike["min_events"] and spike["points"]:
        items.append(_item("engagement", "activity_spike", spike["label"], spike["points"],
                           f"{agg.events_in_spike_window} events in the last {spike['window_hours']} h"))
    return items


def score_fit_engagement(attrs: dict[str, Any], agg: Aggregates, model: dict[str, Any],
                         tables_json: tuple[str, str] | None = None) -> dict[str, Any]:
    """Seed 000 model: fit (role + industry tiers) plus engagement points, clamped to 0-100."""
    roles_json, industries_json = tables_json or (None, None)
    role = tier_for(attrs.get("position"), model["roles"], roles_json)
    industry = tier_for(attrs.get("industry"), model["industries"], industries_json)
    breakdown = [
        _item("fit", "role", f"Role: {role['label']}", role["points"],
              _match_detail(attrs.get("position"), role), tier=role["tier"]),
        _item("fit", "industry", f"Industry: {industry['label']}", industry["points"],
              _match_detail(attrs.get("industry"), industry), tier=industry["tier"]),
    ]
    fit = role["points"] + industry["points"]
    items = engagement_items(agg, model)
    engagement = sum(i["points"] for i in items)
    breakdown.extend(items)
    return _finish(breakdown, fit, engagement, engagement_level(engagement, model))


def _match_detail(text: Any, match: dict[str, Any]) -> str:
    if match["tier"] == "unknown":
        return "not given"
    if match["matched"]:
        return f"'{text}' matches '{match['matched']}'"
    return f"'{text}' matches no listed tier"


def _finish(breakdown: list[dict[str, Any]], fit: float, engagement: float, level: float) -> dict[str, Any]:
    """Clamp to 0-100 and add the clamp itself to the breakdown, so the points always add up."""
    raw = fit + engagement
    score = int(round(max(0, min(100, raw))))
    if round(raw) != score:
        label = "Capped at 100" if raw > 100 else "Floored at 0"
        breakdown.append(_item("adjustment", "clamp", label, score - round(raw), f"raw total {round(raw)}"))
    fit_i = int(round(fit))
    return {"score": score, "fit": fit_i, "engagement": score - fit_i if 0 <= raw <= 100 else int(round(engagement)),
            "engagement_level": level, "breakdown": breakdown}


# -- seed 003 weighted normalised model ---------------------------------------------------
def _scaled(value: float, steps: list[tuple[float, int]]) -> int:
    for threshold, points in steps:
        if value >= threshold:
            return points
    return 0


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def weighted_achieved(key: str, attrs: dict[str, Any], agg: Aggregates, model: dict[str, Any],
                      now: datetime) -> tuple[float, str]:
    """Information + evaluation points a contact achieves on one seed 003 criterion, and why."""
    w = model["weighted"]
    c = agg.counts
    if key == "contact_name":
        has = bool(attrs.get("first_name") or attrs.get("last_name"))
        return (5 if has else 0), ("name known" if has else "no name")
    if key == "email":
        return (5 if attrs.get("email") else 0), ("email known" if attrs.get("email") else "no email")
    if key == "phone":
        return (3 if attrs.get("phone") else 0), ("phone known" if attrs.get("phone") else "no phone")
    if key == "location":
        country = ((attrs.get("address") or {}) if isinstance(attrs.get("address"), dict) else {}).get("country")
        if not country:
            return 0, "no country"
        targets = {t.lower() for t in w["target_countries"]}
        return (5, f"{country}: target region") if str(country).lower() in targets else (2, f"{country}")
    if key == "job_title":
        if not attrs.get("position"):
            return 0, "no job title"
        tier = tier_for(attrs.get("position"), model["roles"])
        relevant = tier["tier"] not in ("other", "unknown")
        return (5 if relevant else 2), f"{attrs['position']}: {tier['label']}"
    if key == "lead_source":
        source = attrs.get("channel")
        if not source:
            return 0, "no source"
        high = {s.lower() for s in w["high_value_sources"]}
        return (3, f"{source}: high-value source") if str(source).lower() in high else (1, str(source))
    if key == "company_name":
        return (3 if attrs.get("company") else 0), ("company known" if attrs.get("company") else "no company")
    if key == "company_size":
        size = _number(attrs.get("company_size"))
        if size is None:
            return 0, "size not known"
        return 1 + _scaled(size, [(1000, 3), (100, 2), (10, 1)]), f"{int(size)} employees"
    if key == "annual_revenue":
        revenue = _number(attrs.get("annual_revenue"))
        if revenue is None:
            return 0, "revenue not known"
        return 1 + _scaled(revenue, [(1e8, 4), (1e7, 3), (1e6, 2), (1, 1)]), f"revenue {revenue:,.0f}"
    if key == "industry":
        if not attrs.get("industry"):
            return 0, "industry not known"
        tier = tier_for(attrs.get("industry"), model["industries"])
        top = max(t["points"] for t in model["industries"]["tiers"])
        if tier["tier"] in ("other", "unknown"):
            return 2, f"{attrs['industry']}: no match"
        return (7, f"{tier['label']}: ideal match") if tier["points"] >= top else (5, f"{tier['label']}: partial")
    if key == "authority":
        tier = tier_for(attrs.get("position"), model["roles"])
        dm = tier["tier"] == model["roles"]["tiers"][0]["key"]
        return (10, "decision maker") if dm else (0, "not a decision maker")
    if key == "engagement_level":
        engagement = sum(i["points"] for i in engagement_items(agg, model))
        level = engagement_level(engagement, model)
        return round(level / 10), f"engagement level {level}%"
    visits = c.get("page_visited", 0) + c.get("pricing_page_visited", 0)
    if key == "page_viewed":
        if not visits:
            return 0, "no page views"
        return (5, "viewed the pricing page") if c.get("pricing_page_visited") else (2, "viewed pages")
    if key == "page_revisits":
        return _scaled(visits, [(5, 3), (3, 2), (2, 1)]), f"{visits} page views"
    if key == "clicks":
        n = c.get("email_clicked", 0)
        return min(n, 3), f"{n} clicks"
    if key == "element_clicked":
        demo = c.get("demo_requested", 0) + c.get("demo_scheduled", 0)
        if demo:
            return 5, "clicked demo request"
        return (2, "clicked links") if c.get("email_clicked") else (0, "no clicks")
    sent = c.get("email_sent", 0)
    if key == "email_open_rate":
        opens = c.get("email_opened", 0)
        if not opens:
            return 0, "no opens"
        rate = 100.0 * opens / sent if sent else 0.0
        return 1 + max(2, _scaled(rate, [(75, 5), (50, 4), (25, 3)])), f"{opens} opens of {sent} sent"
    if key == "email_response_rate":
        replies = c.get("email_replied", 0)
        if not replies:
            return 0, "no replies"
        rate = 100.0 * replies / sent if sent else 0.0
        return 1 + max(2, _scaled(rate, [(75, 5), (50, 4), (25, 3)])), f"{replies} replies of {sent} sent"
    if key == "quote_request":
        n = c.get("demo_requested", 0) + c.get("demo_scheduled", 0)
        return (10, "requested a demo / quote") if n else (0, "no request")
    if key == "download_catalog":
        return (4, "downloaded content") if c.get("whitepaper_downloaded") else (0, "no downloads")
    if key == "time_untouched":
        last = agg.last_active_at or _parse_time(attrs.get("created_at"))
        if last is None:
            return 0, "no activity known"
        days = (now - last).total_seconds() / 86400
        short, long = w["untouched_penalty_days"]
        if days > long:
            return -10, f"untouched {int(days)} days"
        if days > short:
            return -5, f"untouched {int(days)} days"
        return 0, f"untouched {int(days)} days"
    raise KeyError(key)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def score_weighted(attrs: dict[str, Any], agg: Aggregates, model: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Seed 003: LS = sum(points_i * W_i) / sum(MP_i * W_i) * 100 (penalties lower the sum, not the maximum)."""
    criteria = model["weighted"]["criteria"]
    max_total = sum(c["max_points"] * c["weight"] for c in criteria if c["max_points"] > 0) or 1
    breakdown = []
    fit_total = engagement_total = 0.0
    for c in criteria:
        achieved, why = weighted_achieved(c["key"], attrs, agg, model, now)
        lo, hi = min(0, c["max_points"]), max(0, c["max_points"])
        achieved = max(lo, min(hi, achieved))
        contribution = 100.0 * achieved * c["weight"] / max_total
        if c["group"] == "fit":
            fit_total += contribution
        else:
            engagement_total += contribution
        breakdown.append(_item(c["group"], c["key"], c["label"], round(contribution, 2), why, achieved=achieved,
                               max_points=c["max_points"], weight=c["weight"]))
    level = engagement_level(sum(i["points"] for i in engagement_items(agg, model)), model)
    result = _finish(breakdown, fit_total, engagement_total, level)
    result["normalised"] = round(fit_total + engagement_total, 2)
    return result


def quick_fit_engagement(position: Any, industry: Any, counts: dict[str, int], multiple_visits: bool,
                         spike_events: int, model: dict[str, Any], tables_json: tuple[str, str]
                         ) -> tuple[int, int, int, float]:
    """The numbers of ``score_fit_engagement`` without the explanation: the bulk rescore's inner loop.

    Must agree with ``score_fit_engagement`` (the DB integration test compares both paths).
    """
    fit = _tier_cached(str(position or ""), tables_json[0])["points"] + \
        _tier_cached(str(industry or ""), tables_json[1])["points"]
    engagement = 0
    table = model["engagement"]
    for event_type, n in counts.items():
        cfg = table.get(event_type)
        if cfg and cfg["points"]:
            engagement += min(n, cfg["max_count"]) * cfg["points"]
    derived = model["derived"]
    if multiple_visits:
        engagement += derived["multiple_visits_week"]["points"]
    if spike_events >= derived["activity_spike"]["min_events"]:
        engagement += derived["activity_spike"]["points"]
    raw = fit + engagement
    score = max(0, min(100, raw))
    return score, fit, engagement, engagement_level(engagement, model)


def score_contact(attrs: dict[str, Any], agg: Aggregates, model: dict[str, Any], now: datetime,
                  tables_json: tuple[str, str] | None = None) -> dict[str, Any]:
    """The active model's score: ``{score, fit, engagement, engagement_level, breakdown, model}``."""
    if model["active_model"] == "weighted":
        result = score_weighted(attrs, agg, model, now)
    else:
        result = score_fit_engagement(attrs, agg, model, tables_json)
    result["model"] = model["active_model"]
    return result
