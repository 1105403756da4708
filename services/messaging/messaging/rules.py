"""Business rules of messaging as plain data and functions (seed 000 and 002).

Nothing here touches the database or the bus, so every rule is unit-tested
on its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from crm_shared.errors import Conflict, RateLimited, ValidationFailed
from crm_shared.events import BATCH_EVENT_LIMIT

TEMPLATE_CATEGORIES = ("Onboarding", "Sales", "Marketing")
CAMPAIGN_TYPES = ("Email Sequence", "Cold Outreach", "Event Follow-up", "Referral", "Promotion", "Greetings")
CAMPAIGN_VISIBILITY = ("Private", "Internal", "Public")
CAMPAIGN_STATUSES = ("Draft", "New", "Active", "Inactive", "Discarded")
# Seed 002 "Campaign" workflow: Draft -> New -> Active <-> Inactive; anything not yet live can be discarded.
CAMPAIGN_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "Draft": ("New", "Discarded"),
    "New": ("Draft", "Active", "Discarded"),
    "Active": ("Inactive",),
    "Inactive": ("Active", "Discarded"),
    "Discarded": (),
}
ENROLLABLE_CAMPAIGN_STATUSES = ("Active",)

CALL_STATUSES = ("Completed", "No Answer", "Busy", "Voicemail", "Rescheduled", "Scheduled")
LOGGED_CALL_STATUSES = ("Completed", "No Answer", "Busy", "Voicemail", "Rescheduled")
CALL_NOTES_MAX = 1000
CALL_DURATION_MAX_S = 8 * 3600
CALL_PARTICIPANTS_MAX = 20

FOLLOW_UP_TYPES = ("email", "call", "task", "meeting", "reminder")
FOLLOW_UP_PRIORITIES = ("low", "medium", "high", "urgent")
FOLLOW_UP_STATUSES = ("open", "done", "cancelled")

# The batch form of each email fact a send batch or a batch of pixel loads produces (crm_shared.events.messaging).
BATCH_EVENTS = {"email_sent": "emails_sent", "email_bounced": "emails_bounced", "email_opened": "emails_opened"}


def as_batch_events(facts: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Many email facts as their batch events: one ``emails_*`` per type and BATCH_EVENT_LIMIT items, in order.

    Subscribers then pay one message, claim and commit per batch instead of per email (issue 7).
    """
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event_type, data in facts:
        by_type.setdefault(BATCH_EVENTS[event_type], []).append(data)
    return [(batch_type, {"emails": items[start:start + BATCH_EVENT_LIMIT]})
            for batch_type, items in by_type.items() for start in range(0, len(items), BATCH_EVENT_LIMIT)]


EMAIL_STATUSES = ("queued", "sent", "delivered", "opened", "clicked", "replied", "bounced", "unsubscribed",
                  "failed", "refused", "received")
# How far a message got; a later fact never moves the status back.
_PROGRESS = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "opened": 4, "clicked": 5, "replied": 6,
             "bounced": 7, "unsubscribed": 8}

CALL_PURPOSES: list[dict[str, Any]] = [
    {"key": "discovery", "name": "Discovery Call",
     "description": "Understand the prospect's needs, pains and buying process.",
     "script": ["Introduce yourself and the reason for the call.",
                "Ask about their current process and the tools they use.",
                "Explore the main challenges and what they cost.",
                "Ask who else is involved in the decision and the timeline.",
                "Agree on a next step (demo, materials, second call)."],
     "quick_tips": ["Listen more than you talk (70/30).", "Ask open questions.",
                    "Write down their words for pains, not yours."]},
    {"key": "product_demo", "name": "Product Demo",
     "description": "Show how the product solves the problems found in discovery.",
     "script": ["Recap the pains heard in discovery and confirm they are still right.",
                "Show the two or three features that address them, with their data if possible.",
                "Pause after each part for questions.",
                "Discuss rollout, pricing range and success criteria.",
                "Book the follow-up and name who should attend."],
     "quick_tips": ["Demo outcomes, not menus.", "Keep it under 30 minutes.", "Test your screen share first."]},
    {"key": "follow_up", "name": "Follow-up Call",
     "description": "Keep momentum after a demo, an email or an event.",
     "script": ["Reference the last conversation and what was promised.",
                "Ask what changed since then and whether questions came up.",
                "Share the material or answer you promised.",
                "Confirm the next milestone and date."],
     "quick_tips": ["Call when you said you would.", "Bring something new: a case study, an answer, a date."]},
    {"key": "negotiation", "name": "Negotiation",
     "description": "Agree on scope, price and terms.",
     "script": ["Restate the value agreed so far.", "Hear their position in full before answering.",
                "Trade concessions, never give them away.", "Summarise what was agreed and what is open."],
     "quick_tips": ["Know your walk-away point.", "Silence is fine.", "Put agreements in writing the same day."]},
    {"key": "customer_support", "name": "Customer Support",
     "description": "Resolve a customer's issue and keep the relationship healthy.",
     "script": ["Acknowledge the issue and its impact.", "Reproduce or collect the facts (when, who, what).",
                "Explain the fix or the next step and when they will hear back.",
                "Confirm the customer is satisfied with the plan."],
     "quick_tips": ["Empathy first, solution second.", "Never promise a date you do not control."]},
    {"key": "closing", "name": "Closing Call",
     "description": "Ask for the decision and agree on signature and kick-off.",
     "script": ["Confirm the decision makers are present or informed.", "Review the final proposal.",
                "Ask for the business directly.", "Agree on signature date and kick-off steps."],
     "quick_tips": ["Ask, then wait.", "Have the contract ready to send.", "Handle last objections calmly."]},
]
CALL_PURPOSE_NAMES = tuple(p["name"] for p in CALL_PURPOSES)


def fail(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {reason}", {"fields": {field: [reason]}})


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise fail(field, f"must be one of: {', '.join(allowed)}")
    return value


def check_campaign_transition(current: str, target: str) -> None:
    """Seed 002's campaign workflow; anything else is a conflict naming the allowed moves."""
    one_of("status", target, CAMPAIGN_STATUSES)
    if target == current:
        return
    allowed = CAMPAIGN_TRANSITIONS.get(current, ())
    if target not in allowed:
        raise Conflict(f"campaign cannot go from {current} to {target}",
                       {"fields": {"status": [f"from {current} only to: {', '.join(allowed) or 'nothing'}"]},
                        "from": current, "to": target, "allowed": list(allowed)})


def check_period(start: Any, end: Any) -> None:
    if start is not None and end is not None and end < start:
        raise fail("end_date", "must not be before start_date")


def progressed_status(current: str, new: str) -> str:
    """The status after a new fact: only forward (an open after a click keeps 'clicked')."""
    if current in ("failed", "refused", "received"):
        return current
    return new if _PROGRESS.get(new, 0) > _PROGRESS.get(current, 0) else current


def validate_call(data: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Seed 000 "Call Logging": purpose and status required, notes <= 1000, time defaults to now."""
    now = now or utcnow()
    purpose = data.get("purpose")
    if not purpose:
        raise fail("purpose", "is required")
    one_of("purpose", purpose, CALL_PURPOSE_NAMES)
    status = data.get("status") or ("Scheduled" if data.get("scheduled_at") else None)
    if not status:
        raise fail("status", "is required")
    one_of("status", status, CALL_STATUSES)
    notes = data.get("notes") or ""
    if len(notes) > CALL_NOTES_MAX:
        raise fail("notes", f"at most {CALL_NOTES_MAX} characters (got {len(notes)})")
    duration = data.get("duration_s")
    if duration is not None and not (0 <= int(duration) <= CALL_DURATION_MAX_S):
        raise fail("duration_s", f"must be between 0 and {CALL_DURATION_MAX_S} seconds")
    if status in ("No Answer", "Busy", "Scheduled", "Rescheduled") and duration:
        raise fail("duration_s", f"a call with status {status} has no duration")
    participants = list(data.get("participants") or [])
    if len(participants) > CALL_PARTICIPANTS_MAX:
        raise fail("participants", f"at most {CALL_PARTICIPANTS_MAX} participants")
    scheduled_at = data.get("scheduled_at")
    if status in ("Scheduled", "Rescheduled"):
        if scheduled_at is None:
            raise fail("scheduled_at", f"is required when status is {status}")
        if scheduled_at <= now:
            raise fail("scheduled_at", "must be in the future")
    occurred_at = data.get("occurred_at") or now
    if status in LOGGED_CALL_STATUSES and occurred_at > now:
        raise fail("occurred_at", "a logged call cannot be in the future")
    return {"purpose": purpose, "status": status, "notes": notes, "duration_s": duration,
            "participants": [str(p)[:200] for p in participants], "scheduled_at": scheduled_at,
            "occurred_at": occurred_at, "outcome": (data.get("outcome") or "")[:255],
            "direction": data.get("direction") or "outbound"}


def rate(part: int, whole: int) -> float:
    """A percentage with one decimal; 0 when nothing was sent."""
    return round(100.0 * part / whole, 1) if whole else 0.0


# -- daily send cap (RELIABILITY A7) and campaign period (seed 002 "Period") ------------------
def cap_window(now: datetime) -> tuple[date, datetime]:
    """The UTC day ``now`` counts against and when its cap resets (the next UTC midnight)."""
    day = now.astimezone(UTC).date()
    return day, datetime.combine(day + timedelta(days=1), dt_time(0), UTC)


def remaining_today(cap: int, claimed: int, pending: int = 0) -> int:
    """Sends left today: the cap less what was claimed and what is already queued for today."""
    return max(0, cap - claimed - pending)


def check_send_cap(requested: int, cap: int, remaining: int, resets_at: datetime, now: datetime) -> None:
    """A send of ``requested`` messages that does not fit in what is left today is refused (429)."""
    if requested <= remaining:
        return
    raise RateLimited(
        f"daily send cap of {cap} reached: {remaining} left today, {requested} requested; "
        f"resets at {resets_at.isoformat()}",
        {"cap": cap, "remaining": remaining, "requested": requested, "resets_at": resets_at.isoformat(),
         "retry_after_s": max(1, int((resets_at - now).total_seconds()))})


def period_hold(start: date | None, end: date | None, today: date) -> str | None:
    """Why a campaign step must not fire today: ``before_start_date``, ``campaign_ended`` or None.
    Both dates are inclusive UTC days."""
    if end is not None and today > end:
        return "campaign_ended"
    if start is not None and today < start:
        return "before_start_date"
    return None


# At send time (the step was queued, even claimed, before this changed): these reasons end the
# enrollment and the message is refused; the others put the step back to wait (nothing is sent).
SEND_TIME_ENDS = ("campaign_ended", "campaign_discarded")
SEND_TIME_HOLDS = ("before_start_date", "campaign_inactive")


def send_time_hold(status: str, start: date | None, end: date | None, today: date) -> str | None:
    """Why a queued campaign step must not go out now, checked right before SMTP; None sends it.

    The timer checked the same when it queued the step, but the period or the status may have
    changed since (or the step waited past midnight in the queue): a discarded campaign or one past
    its end_date ends the enrollment (``SEND_TIME_ENDS``); one not started yet, or not Active
    (Inactive is a pause), holds the step (``SEND_TIME_HOLDS``).
    """
    if status == "Discarded":
        return "campaign_discarded"
    period = period_hold(start, end, today)
    if period is not None:
        return period
    if status not in ENROLLABLE_CAMPAIGN_STATUSES:
        return "campaign_inactive"
    return None


def check_enrollable_period(end: date | None, today: date) -> None:
    """A campaign whose end date is past takes no enrollments (409 naming end_date)."""
    if end is not None and today > end:
        raise Conflict(f"the campaign ended on {end.isoformat()}",
                       {"fields": {"end_date": [f"the campaign ended on {end.isoformat()}"]},
                        "end_date": end.isoformat()})
