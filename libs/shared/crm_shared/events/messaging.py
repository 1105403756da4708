"""Events published by the messaging service (schema version 1)."""
from marshmallow import INCLUDE, validate

from crm_shared.events._base import BATCH_EVENT_LIMIT, Dict, Int, List, Nested, Payload, Str

SOURCE = "messaging"


class EmailFact(Payload):
    contact_id = Str(required=True)
    email_id = Str(required=True)
    subject = Str(load_default="")
    campaign_id = Str(allow_none=True)
    template_id = Str(allow_none=True)
    url = Str(allow_none=True)
    actor_id = Str(allow_none=True)


class EmailFacts(Payload):
    """Many emails at once (a send batch, a batch of first opens): each item is exactly the single event's body.

    ``emails_sent`` / ``emails_bounced`` / ``emails_opened`` carry the ``email_sent`` / ``email_bounced`` /
    ``email_opened`` bodies of one send batch or one batch of pixel loads, so subscribers apply them with
    the code they use for one and save the per-event cost (a message, a claim and a commit per email).
    One event type per fact rather than one mixed event: every item stays exactly its single event's body
    and each subscriber binds only the facts it uses (scoring and segments take no bounces).
    """

    emails = List(Nested(EmailFact, unknown=INCLUDE), required=True,
                  validate=validate.Length(min=1, max=BATCH_EVENT_LIMIT))


class Unsubscribed(Payload):
    contact_id = Str(allow_none=True)
    email = Str(required=True)
    source = Str(load_default="link")


class CallLogged(Payload):
    contact_id = Str(required=True)
    call_id = Str(required=True)
    purpose = Str(required=True)
    status = Str(required=True)
    duration_s = Int(allow_none=True)
    actor_id = Str(allow_none=True)


class CampaignEnrolled(Payload):
    contact_id = Str(required=True)
    campaign_id = Str(required=True)
    campaign_name = Str(required=True)
    actor_id = Str(allow_none=True)


class FollowUpDue(Payload):
    follow_up_id = Str(required=True)
    contact_id = Str(allow_none=True)
    assigned_to = Str(allow_none=True)
    type = Str(required=True)
    title = Str(load_default="")
    due_at = Str(required=True)
    details = Dict(load_default=dict)


SCHEMAS = {
    "email_sent": EmailFact,
    "email_delivered": EmailFact,
    "email_opened": EmailFact,
    "email_clicked": EmailFact,
    "email_bounced": EmailFact,
    "email_replied": EmailFact,
    "emails_sent": EmailFacts,
    "emails_bounced": EmailFacts,
    "emails_opened": EmailFacts,
    "unsubscribed": Unsubscribed,
    "call_logged": CallLogged,
    "call_scheduled": CallLogged,
    "campaign_enrolled": CampaignEnrolled,
    "campaign_unenrolled": CampaignEnrolled,
    "follow_up_due": FollowUpDue,
}
