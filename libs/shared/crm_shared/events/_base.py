"""Field helpers shared by the payload schemas."""
from marshmallow import RAISE, Schema, fields


class Payload(Schema):
    """Outbound payloads are strict; ``parse_event`` loosens them for subscribers."""

    class Meta:
        unknown = RAISE


class ContactRef(Payload):
    contact_id = fields.String(required=True)


Str = fields.String
Int = fields.Integer
Float = fields.Float
Bool = fields.Boolean
Raw = fields.Raw
Dict = fields.Dict
List = fields.List
Nested = fields.Nested

# The most items one batch event carries (contacts_created, scores_changed, emails_sent, ...): a bulk job's chunk.
BATCH_EVENT_LIMIT = 1000
