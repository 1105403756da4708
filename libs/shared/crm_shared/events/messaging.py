"""Events published by the messaging service (schema version 1)."""
from crm_shared.events._base import Dict, Int, Payload, Str

SOURCE = "messaging"


class EmailFact(Payload):
    contact_id = Str(required=True)
    email_id = Str(required=True)
    subject = Str(load_default="")
    campaign_id = Str(allow_none=True)
    template_id = Str(allow_none=True)
    url = Str(allow_none=True)
    actor_id = Str(allow_none=True)


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
    "unsubscribed": Unsubscribed,
    "call_logged": CallLogged,
    "call_scheduled": CallLogged,
    "campaign_enrolled": CampaignEnrolled,
    "campaign_unenrolled": CampaignEnrolled,
    "follow_up_due": FollowUpDue,
}
