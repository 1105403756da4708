"""Events published by the segments service (schema version 1)."""
from crm_shared.events._base import Bool, Payload, Str

SOURCE = "segments"


class MembershipChanged(Payload):
    segment_id = Str(required=True)
    segment_name = Str(required=True)
    contact_id = Str(required=True)
    change = Str(required=True)  # joined | left | qualifies | no_longer_qualifies
    manual = Bool(load_default=False)
    actor_id = Str(allow_none=True)
    # Optional, added within version 1 (additive, so old subscribers ignore it): why the change
    # happened when it is not the contact's own data, e.g. "segment_deleted" (every member leaves).
    reason = Str(allow_none=True)


SCHEMAS = {
    "segment_membership_changed": MembershipChanged,
}
