"""Events published by the contacts service (schema version 1)."""
from marshmallow import INCLUDE, validate

from crm_shared.events._base import BATCH_EVENT_LIMIT, Bool, ContactRef, Dict, List, Nested, Payload, Raw, Str

SOURCE = "contacts"


class ContactSnapshot(ContactRef):
    """The contact attributes other services project (segments, scoring, messaging)."""

    contact = Dict(required=True)
    changed = List(Str(), load_default=list)
    actor_id = Str(allow_none=True)


class ContactsCreated(Payload):
    """Many new contacts at once (an import's chunk): one event instead of one ``contact_created`` each.

    Each item is exactly a ``contact_created`` body, so subscribers apply
    them with the code they use for one; they only save the per-event cost
    (a message, a claim and a commit per contact), which during a 50,000-row
    import was most of the machine.
    """

    contacts = List(Nested(ContactSnapshot, unknown=INCLUDE), required=True,
                    validate=validate.Length(min=1, max=BATCH_EVENT_LIMIT))
    import_id = Str(allow_none=True)


class ContactsUpdated(Payload):
    """Many contacts changed at once (an import's merges): each item is exactly a ``contact_updated`` body."""

    contacts = List(Nested(ContactSnapshot, unknown=INCLUDE), required=True,
                    validate=validate.Length(min=1, max=BATCH_EVENT_LIMIT))
    import_id = Str(allow_none=True)


class ContactDeleted(ContactRef):
    actor_id = Str(allow_none=True)
    email = Str(allow_none=True)


class ContactsMerged(Payload):
    primary_id = Str(required=True)
    merged_ids = List(Str(), required=True)
    contact = Dict(required=True)
    actor_id = Str(allow_none=True)


class StageChanged(ContactRef):
    from_stage = Str(allow_none=True)
    to_stage = Str(required=True)
    actor_id = Str(allow_none=True)
    owner_id = Str(allow_none=True)


class NoteAdded(ContactRef):
    note_id = Str(required=True)
    note_type = Str(required=True)
    author_id = Str(allow_none=True)
    excerpt = Str(load_default="")


class ContactErased(ContactRef):
    """GDPR erasure (G1): subscribers remove the contact's personal data; only the keyed hash survives."""

    email_hash = Str(required=True)


class ContactsImported(Payload):
    import_id = Str(required=True)
    contact_ids = List(Str(), required=True)
    created = Bool(load_default=True)
    extra = Raw(allow_none=True)


SCHEMAS = {
    "contact_created": ContactSnapshot,
    "contact_updated": ContactSnapshot,
    "contacts_created": ContactsCreated,
    "contacts_updated": ContactsUpdated,
    "contact_deleted": ContactDeleted,
    "contacts_merged": ContactsMerged,
    "stage_changed": StageChanged,
    "note_added": NoteAdded,
    "contacts_imported": ContactsImported,
    "contact_erased": ContactErased,
}
