"""Events published by the scoring service (schema version 1)."""
from marshmallow import INCLUDE, validate

from crm_shared.events._base import BATCH_EVENT_LIMIT, Dict, Float, Int, List, Nested, Payload, Raw, Str

SOURCE = "scoring"


class ScoreChanged(Payload):
    contact_id = Str(required=True)
    score = Int(required=True)
    previous_score = Int(allow_none=True)
    fit = Int(required=True)
    engagement = Int(required=True)
    engagement_level = Float(required=True)
    reason = Str(load_default="")


class ScoresChanged(Payload):
    """Many score changes at once (contacts scored in bulk): each item is a ``score_changed`` body."""

    changes = List(Nested(ScoreChanged, unknown=INCLUDE), required=True,
                   validate=validate.Length(min=1, max=BATCH_EVENT_LIMIT))


class EngagementRecorded(Payload):
    contact_id = Str(required=True)
    engagement_event_id = Str(required=True)
    type = Str(required=True)
    occurred_at = Str(required=True)
    properties = Dict(load_default=dict)


class EngagementsRecorded(Payload):
    """Many engagement events at once (a batch of emails sent or opened): each item is an
    ``engagement_recorded`` body."""

    engagements = List(Nested(EngagementRecorded, unknown=INCLUDE), required=True,
                       validate=validate.Length(min=1, max=BATCH_EVENT_LIMIT))


class RuleActionRequested(Payload):
    """An automation rule asks the owning service to act (set stage, tag, enroll, ...)."""

    rule_id = Str(required=True)
    run_id = Str(required=True)
    contact_id = Str(required=True)
    action = Str(required=True)
    params = Dict(load_default=dict)


class HotLeadDetected(Payload):
    contact_id = Str(required=True)
    score = Int(required=True)
    urgency = Str(required=True)
    signals = List(Raw(), load_default=list)


class ModelChanged(Payload):
    """An admin saved a new scoring model version; everyone is rescored with it."""

    version = Int(required=True)
    active_model = Str(required=True)
    actor_id = Str(allow_none=True)


SCHEMAS = {
    "score_changed": ScoreChanged,
    "scores_changed": ScoresChanged,
    "engagement_recorded": EngagementRecorded,
    "engagements_recorded": EngagementsRecorded,
    "rule_action_requested": RuleActionRequested,
    "hot_lead_detected": HotLeadDetected,
    "model_changed": ModelChanged,
}
