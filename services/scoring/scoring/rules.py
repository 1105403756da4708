"""Automation rules as data (seed 003 rule builder): validation, triggers, modes, schedules. Pure.

A rule = trigger (when a contact is looked at) + criteria (whether it qualifies,
the API.md Segments operators via ``crm_shared.criteria``) + actions, with a
priority (1 runs first), a blocking flag, an execution mode and a sunset date.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from crm_shared.criteria import validate_criteria
from crm_shared.errors import ValidationFailed

TRIGGERS = ("stage_change", "field_change", "event", "score_change", "time_since_event", "schedule")
EVENT_TRIGGERS = ("stage_change", "field_change", "event", "score_change")
TIME_TRIGGERS = ("time_since_event", "schedule")
MODES = ("one_time", "periodic", "in_cycle")
ACTIONS = ("set_stage", "add_tag", "remove_tag", "assign_owner", "create_follow_up", "send_template_email",
           "enroll_campaign", "notify_owner")
FOLLOW_UP_TYPES = ("email", "call", "task", "meeting", "reminder")
PRIORITY_WORDS = {"high": 1, "medium": 5, "low": 10}
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ID = validate.Length(min=1, max=64)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class TriggerSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    from_stage = fields.String(validate=validate.Length(min=1, max=40), data_key="from")
    to_stage = fields.String(validate=validate.Length(min=1, max=40), data_key="to")
    fields_ = fields.List(fields.String(validate=validate.Length(min=1, max=60)), data_key="fields")
    event_types = fields.List(fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,59}$")))
    min_delta = fields.Integer(validate=validate.Range(min=1, max=100))
    event = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,59}$"))
    hours = fields.Float(validate=validate.Range(min=0.01, max=24 * 3650))
    every_minutes = fields.Float(validate=validate.Range(min=0.1, max=60 * 24 * 366))
    weekday = fields.Integer(validate=validate.Range(min=0, max=6))
    at = fields.String(validate=validate.Regexp(_HHMM, error="must be HH:MM (24 h, UTC)"))

    @validates_schema
    def _by_type(self, data: dict, **_: Any) -> None:
        kind = data.get("type")
        needed = {"field_change": ["fields_"], "event": ["event_types"], "time_since_event": ["event", "hours"]}
        for name in needed.get(kind, []):
            if not data.get(name):
                key = self.fields[name].data_key or name
                raise ValidationError(f"required for a {kind} trigger", key)
        if kind == "schedule":
            if not data.get("every_minutes") and ("weekday" not in data or "at" not in data):
                raise ValidationError("a schedule needs every_minutes, or weekday and at", "every_minutes")


class ActionSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    stage = fields.String(validate=validate.Length(min=1, max=40))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(min=1, max=20))
    owner_id = fields.String(validate=_ID)
    follow_up_type = fields.String(validate=validate.OneOf(FOLLOW_UP_TYPES))
    title = fields.String(validate=validate.Length(min=1, max=200))
    due_in_hours = fields.Float(validate=validate.Range(min=0, max=24 * 365))
    priority = fields.String(validate=validate.OneOf(("low", "medium", "high", "urgent")))
    template_id = fields.String(validate=_ID)
    campaign_id = fields.String(validate=_ID)
    message = fields.String(validate=validate.Length(min=1, max=500))

    @validates_schema
    def _by_type(self, data: dict, **_: Any) -> None:
        needed = {"set_stage": "stage", "add_tag": "tags", "remove_tag": "tags", "assign_owner": "owner_id",
                  "create_follow_up": "title", "send_template_email": "template_id",
                  "enroll_campaign": "campaign_id", "notify_owner": "message"}
        name = needed[data["type"]]
        if not data.get(name):
            raise ValidationError(f"required for a {data['type']} action", name)


class ModeSchema(_Strict):
    type = fields.String(required=True, validate=validate.OneOf(MODES))
    every_minutes = fields.Float(validate=validate.Range(min=0.05, max=60 * 24 * 366))
    times = fields.Integer(validate=validate.Range(min=1, max=1000))
    for_days = fields.Float(validate=validate.Range(min=0.01, max=3650))

    @validates_schema
    def _by_type(self, data: dict, **_: Any) -> None:
        if data["type"] == "in_cycle":
            if not data.get("every_minutes"):
                raise ValidationError("required for in_cycle (how often within the cycle)", "every_minutes")
            if not data.get("times") and not data.get("for_days"):
                raise ValidationError("in_cycle needs times or for_days (the cycle length)", "times")


class RuleSchema(_Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    trigger = fields.Nested(TriggerSchema, required=True)
    criteria = fields.Raw(load_default=None, allow_none=True)
    actions = fields.List(fields.Nested(ActionSchema), required=True, validate=validate.Length(min=1, max=10))
    priority = fields.Raw(load_default=5)
    blocking = fields.Boolean(load_default=False)
    mode = fields.Nested(ModeSchema, load_default=lambda: {"type": "periodic"})
    sunset_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    enabled = fields.Boolean(load_default=True)


def _priority(value: Any) -> int:
    if isinstance(value, str) and value.lower() in PRIORITY_WORDS:
        return PRIORITY_WORDS[value.lower()]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise ValidationFailed("Validation failed", {"fields": {"priority": [
            "must be 1 (runs first) to 10, or high / medium / low"]}})
    return value


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    trigger = dict(data["trigger"])
    if "fields_" in trigger:
        trigger["fields"] = trigger.pop("fields_")
    if "from_stage" in trigger:
        trigger["from"] = trigger.pop("from_stage")
    if "to_stage" in trigger:
        trigger["to"] = trigger.pop("to_stage")
    data["trigger"] = trigger
    return data


def validate_rule(body: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    """A rule body checked and normalised; errors name the field (``trigger.hours``, ``criteria.all[0].op``)."""
    try:
        data = RuleSchema().load(body, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed("Validation failed", {"fields": exc.normalized_messages()}) from exc
    if "trigger" in data:
        data = _flatten(data)
    if "priority" in data and (not partial or "priority" in body):
        data["priority"] = _priority(data["priority"])
    if data.get("criteria") is not None:
        data["criteria"] = validate_criteria(data["criteria"])
    if data.get("sunset_at") is not None and data["sunset_at"].tzinfo is None:
        data["sunset_at"] = data["sunset_at"].replace(tzinfo=UTC)
    return data


# -- when does a rule look at a contact --------------------------------------------------
def trigger_matches(trigger: dict[str, Any], occurrence: dict[str, Any]) -> bool:
    """Does an event-like occurrence (``{"kind": ..., ...}``) fire this trigger?"""
    kind = trigger["type"]
    if kind != occurrence.get("kind"):
        return False
    if kind == "stage_change":
        if trigger.get("from") and (occurrence.get("from") or "").lower() != trigger["from"].lower():
            return False
        return not (trigger.get("to") and (occurrence.get("to") or "").lower() != trigger["to"].lower())
    if kind == "field_change":
        wanted = {f.lower() for f in trigger.get("fields", [])}
        return bool(wanted & {f.lower() for f in occurrence.get("fields", [])})
    if kind == "event":
        return occurrence.get("event_type") in trigger.get("event_types", [])
    if kind == "score_change":
        delta = abs((occurrence.get("score") or 0) - (occurrence.get("previous_score") or 0))
        return delta >= trigger.get("min_delta", 1)
    return False


def describe_trigger(trigger: dict[str, Any]) -> str:
    kind = trigger["type"]
    if kind == "stage_change":
        return f"stage changed{' from ' + trigger['from'] if trigger.get('from') else ''}" \
               f"{' to ' + trigger['to'] if trigger.get('to') else ''}"
    if kind == "field_change":
        return f"field changed: {', '.join(trigger['fields'])}"
    if kind == "event":
        return f"event: {', '.join(trigger['event_types'])}"
    if kind == "score_change":
        return "score changed"
    if kind == "time_since_event":
        return f"time since {trigger['event']} > {trigger['hours']:g} h"
    if trigger.get("every_minutes"):
        return f"every {trigger['every_minutes']:g} minutes"
    return f"weekly on day {trigger['weekday']} at {trigger['at']} UTC"


def next_schedule_run(trigger: dict[str, Any], after: datetime) -> datetime:
    """The next time a schedule trigger is due after ``after`` ("every Tuesday at 10 AM" is weekday 1, 10:00)."""
    if trigger.get("every_minutes"):
        return after + timedelta(minutes=trigger["every_minutes"])
    hour, minute = (int(x) for x in trigger["at"].split(":"))
    candidate = after.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)
    candidate += timedelta(days=(trigger["weekday"] - candidate.weekday()) % 7)
    if candidate <= after:
        candidate += timedelta(days=7)
    return candidate


# -- how often may a rule act on one contact ---------------------------------------------
def mode_allows(mode: dict[str, Any], state: dict[str, Any] | None, now: datetime) -> tuple[bool, str]:
    """Whether the execution mode lets the rule act on a contact now, given what it did before.

    one_time: once per contact. periodic: again whenever triggered, but at most
    once per ``every_minutes`` when set. in_cycle: every ``every_minutes`` until
    it acted ``times`` times or ``for_days`` passed since the first time.
    """
    kind = mode["type"]
    if state is None or not state.get("fired_count"):
        return True, "first time"
    last = state["last_fired_at"]
    if kind == "one_time":
        return False, "one-time rule already acted on this contact"
    if kind == "periodic":
        every = mode.get("every_minutes")
        if every and now - last < timedelta(minutes=every):
            return False, f"periodic rule acted less than {every} minutes ago"
        return True, "periodic"
    if cycle_finished(mode, state, now):
        return False, "cycle finished"
    if now - last < timedelta(minutes=mode["every_minutes"]):
        return False, "next cycle step not due yet"
    return True, "cycle step due"


def cycle_finished(mode: dict[str, Any], state: dict[str, Any], now: datetime) -> bool:
    if mode.get("times") and state["fired_count"] >= mode["times"]:
        return True
    return bool(mode.get("for_days") and now - state["first_fired_at"] >= timedelta(days=mode["for_days"]))


def next_cycle_due(mode: dict[str, Any], state: dict[str, Any], now: datetime) -> datetime | None:
    """When an in-cycle rule should look at the contact again (None when the cycle is over)."""
    if mode["type"] != "in_cycle" or cycle_finished(mode, state, now):
        return None
    return state["last_fired_at"] + timedelta(minutes=mode["every_minutes"])


def is_live(rule: dict[str, Any], now: datetime) -> bool:
    """Enabled and not past its sunset date."""
    return bool(rule["enabled"]) and (rule.get("sunset_at") is None or rule["sunset_at"] > now)


def order_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Priority 1 first; equal priorities in creation order."""
    return sorted(rules, key=lambda r: (r["priority"], r.get("created_at") or datetime.min.replace(tzinfo=UTC),
                                        r["id"]))


def describe_action(action: dict[str, Any]) -> str:
    kind = action["type"]
    if kind == "set_stage":
        return f"Move to stage '{action['stage']}'"
    if kind == "add_tag":
        return f"Add tags {', '.join(action['tags'])}"
    if kind == "remove_tag":
        return f"Remove tags {', '.join(action['tags'])}"
    if kind == "assign_owner":
        return f"Assign to owner {action['owner_id']}"
    if kind == "create_follow_up":
        return f"Create {action.get('follow_up_type', 'task')} follow-up '{action['title']}'"
    if kind == "send_template_email":
        return f"Send email template {action['template_id']}"
    if kind == "enroll_campaign":
        return f"Enroll in campaign {action['campaign_id']}"
    return f"Notify the owner: {action['message']}"


def default_hot_lead_rule() -> dict[str, Any]:
    """SPEC: a contact with score >= 90 moves to Hot Lead; an admin can switch it off."""
    return {
        "name": "Score 90+ moves to Hot Lead",
        "description": "Default rule (SPEC): contacts whose score reaches 90 move to the Hot Lead stage.",
        "trigger": {"type": "score_change"},
        "criteria": {"all": [{"field": "score", "op": "gte", "value": 90},
                             {"field": "stage", "op": "not_in", "value": ["Hot Lead", "Customer"]}]},
        "actions": [{"type": "set_stage", "stage": "Hot Lead"}],
        "priority": 1, "blocking": False, "mode": {"type": "periodic"}, "sunset_at": None, "enabled": True,
    }
