"""Business rules of contacts as plain functions: field validation, tags, periods, merge, export, audit hashing.

Nothing here touches the database or the bus, so every rule is unit-tested
directly. The operations modules call these and persist the result.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from calendar import monthrange
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_shared import validators as v
from crm_shared.auth import ADMIN, MARKETING, SALES, SYSTEM, Caller
from crm_shared.errors import BadRequest, ValidationFailed

# SPEC "Decisions": the default stage list.
STAGES: tuple[str, ...] = ("New", "Nurturing", "Qualified", "Hot Lead", "Cold Lead", "Customer", "Lost",
                           "Unqualified", "Recycled", "Not Interested")
HOT_LEAD = "Hot Lead"
DEFAULT_STAGE = "New"
# API.md lists these with "..."; other values are accepted, known ones get their canonical spelling.
KNOWN_TYPES: tuple[str, ...] = ("Prospect", "Partner", "Investor", "Customer", "Lead", "Vendor", "Other")
KNOWN_CHANNELS: tuple[str, ...] = ("Webinar", "Newsletter", "Web Form", "Event", "Referral", "Import",
                                   "Social Media", "Cold Outreach", "Website", "Advertising", "Other")
# Predefined tag suggestions of the Add Contact form (seed 000 step 2 names "Enterprise, CEO").
SUGGESTED_TAGS: tuple[str, ...] = ("Enterprise", "SMB", "CEO", "Decision Maker", "Influencer", "Champion",
                                   "Newsletter", "Webinar", "Budget Approved", "High Priority", "Renewal",
                                   "Technical Buyer", "Subscribed", "Schedule Demo")
NOTE_TYPES: tuple[str, ...] = ("general", "sales", "call", "marketing", "support", "technical")
NOTE_TEXT_MAX = 2000  # seed 000 Notes tab: "0/2000 characters"
LABEL_MAX = 50
INACTIVE_DAYS = 30
EXPORT_MAX_ROWS = 1000
PER_PAGE_DEFAULT = 50
PER_PAGE_MAX = 200
SOCIAL_KEYS: tuple[str, ...] = ("linkedin", "twitter", "facebook", "instagram", "skype")
ADDRESS_KEYS: tuple[str, ...] = ("street", "city", "state", "zip", "country")
CUSTOM_FIELDS_MAX = 50
CUSTOM_VALUE_MAX = 500

# Fields a client may send on create/update (API.md "Contacts"); everything else is server-owned.
WRITABLE_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "email", "emails", "phone", "phones", "company", "position", "department",
    "industry", "company_size", "annual_revenue", "owner_id", "stage", "type", "channel", "address", "tags",
    "social", "notes", "custom_fields",
)
SERVER_FIELDS: tuple[str, ...] = ("id", "score", "created_at", "updated_at", "last_contact_at", "inactive",
                                  "created_by", "updated_by", "source", "import_id", "unsubscribed",
                                  "last_activity_at", "company_id", "version")

# Initial tags from form data (seed 000 "Tag Management").
FORM_TAG_FIELDS: tuple[str, ...] = ("utility_type", "position", "biggest_challenge", "subscribed", "schedule_demo")
_FLAG_TAGS = {"subscribed": "Subscribed", "schedule_demo": "Schedule Demo"}
_TRUTHY = {"1", "true", "yes", "y", "on", "x", "subscribed", "requested", "scheduled"}
_TAG_BAD_CHARS = re.compile(r"[^\w \-&/+.#]", re.UNICODE)

# Activity type filters: a group name matches every type with that prefix.
ACTIVITY_GROUPS = {"email": "email_", "call": "call_", "note": "note_", "stage": "stage_", "tag": "tag_",
                   "campaign": "campaign_", "segment": "segment_", "score": "score_", "import": "import"}

EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Name", "name"), ("First Name", "first_name"), ("Last Name", "last_name"), ("Company", "company"),
    ("Position", "position"), ("Type", "type"), ("Channel", "channel"), ("Email", "email"),
    ("Phone", "phone_display"), ("Score", "score"), ("Stage", "stage"), ("Tags", "tags"),
    ("Owner", "owner_name"), ("Last Contact", "last_contact_at"), ("Created", "created_at"),
    ("Inactive", "inactive"),
)


# Activity export (the Activity tab's "Export Activity"): same CSV rules as the contact export.
ACTIVITY_EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Occurred At", "occurred_at"), ("Type", "type"), ("Summary", "title"), ("User", "user_name"),
    ("User ID", "user_id"), ("Source", "source"), ("Excerpt", "excerpt"),
    ("Details", "details"),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class FieldErrors:
    """Collects per-field reasons so one 422 names every bad field at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, reason: str) -> None:
        self.fields.setdefault(field, []).append(reason)

    def run(self, field: str, fn, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except v.FieldError as exc:
            self.add(field, exc.message)
            return None

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed("Validation failed", {"fields": self.fields})


def reject_unknown(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Unknown or server-owned fields are a 400 naming them (RELIABILITY A3)."""
    allowed_set = set(allowed)
    unknown = sorted(k for k in data if k not in allowed_set)
    if unknown:
        reasons = {k: ["server-owned field, cannot be set" if k in SERVER_FIELDS else "unknown field"]
                   for k in unknown}
        raise BadRequest("unknown or read-only fields in request", {"fields": reasons})


def canonical_choice(value: str, known: Iterable[str]) -> str:
    for choice in known:
        if choice.casefold() == value.casefold():
            return choice
    return value


def canonical_stage(value: Any) -> str:
    text = v.normalize_text(value)
    for stage in STAGES:
        if stage.casefold() == text.casefold():
            return stage
    raise v.FieldError(f"stage must be one of {', '.join(STAGES)}")


def _label(value: Any, field: str, known: Iterable[str]) -> str | None:
    text = v.validate_length(value, field, LABEL_MAX)
    return canonical_choice(text, known) if text else None


def _optional_text(value: Any, field: str, maximum: int) -> str | None:
    return v.validate_length(value, field, maximum) or None


def _non_negative_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise v.FieldError(f"{field} must be a whole number")
    try:
        number = int(str(value).replace(",", "").strip()) if not isinstance(value, int) else value
    except ValueError as exc:
        raise v.FieldError(f"{field} must be a whole number") from exc
    if number < 0 or number > 10**15:
        raise v.FieldError(f"{field} must be between 0 and 10^15")
    return number


def _emails(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise v.FieldError("emails must be a list of email addresses")
    out: list[str] = []
    for raw in values:
        email = v.validate_email_address(raw, "emails", required=False)
        if email and email not in out:
            out.append(email)
    if len(out) > 10:
        raise v.FieldError("at most 10 secondary emails")
    return out


def _phones(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise v.FieldError("phones must be a list of phone numbers")
    out: list[str] = []
    for raw in values:
        phone = v.validate_phone(raw, "phones", require_country_code=True)
        if phone and phone not in out:
            out.append(phone)
    if len(out) > 10:
        raise v.FieldError("at most 10 secondary phones")
    return out


def _address(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise v.FieldError("address must be an object with street, city, state, zip, country")
    unknown = sorted(set(value) - set(ADDRESS_KEYS))
    if unknown:
        raise v.FieldError(f"unknown address parts: {', '.join(unknown)}")
    out = {}
    for key in ADDRESS_KEYS:
        text = v.validate_length(value.get(key), f"address.{key}", v.ADDRESS_MAX if key == "street" else 100)
        if key == "zip" and text and not re.fullmatch(r"[A-Za-z0-9 \-]{2,12}", text):
            raise v.FieldError("address.zip may contain only letters, digits, spaces and hyphens (2-12)")
        if text:
            out[key] = text
    return out


def _social(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise v.FieldError("social must be an object with linkedin, twitter, facebook, instagram, skype")
    unknown = sorted(set(value) - set(SOCIAL_KEYS))
    if unknown:
        raise v.FieldError(f"unknown social links: {', '.join(unknown)}")
    out = {}
    for key in SOCIAL_KEYS:
        url = v.validate_url(value.get(key), f"social.{key}")
        if url:
            out[key] = url
    return out


def _custom_fields(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise v.FieldError("custom_fields must be an object")
    if len(value) > CUSTOM_FIELDS_MAX:
        raise v.FieldError(f"at most {CUSTOM_FIELDS_MAX} custom fields")
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = v.normalize_text(key)
        if not name or len(name) > 60:
            raise v.FieldError("custom field names must be 1-60 characters")
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise v.FieldError(f"custom field '{name}' must be text, a number or true/false")
        if isinstance(item, str):
            item = v.validate_length(item, f"custom_fields.{name}", CUSTOM_VALUE_MAX)
        out[name] = item
    return out


def clean_contact(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """Validate and normalise contact fields (seed 000 "Add Contact"); 422 naming every bad field.

    With ``partial`` only the given fields are checked (PATCH); otherwise first
    name, last name and email are required.
    """
    reject_unknown(data, WRITABLE_FIELDS)
    errors = FieldErrors()
    out: dict[str, Any] = {}

    def has(field: str) -> bool:
        return field in data or not partial

    for field in ("first_name", "last_name"):
        if has(field):
            out[field] = errors.run(field, v.validate_name, data.get(field), field)
    if has("email"):
        out["email"] = errors.run("email", v.validate_email_address, data.get("email"), "email")
    if "emails" in data:
        out["emails"] = errors.run("emails", _emails, data.get("emails"))
    if "phone" in data:
        out["phone"] = errors.run("phone", v.validate_phone, data.get("phone"), "phone",
                                  require_country_code=True)
    if "phones" in data:
        out["phones"] = errors.run("phones", _phones, data.get("phones"))
    if "company" in data:
        out["company"] = errors.run("company", _optional_text, data.get("company"), "company", v.COMPANY_MAX)
    for field, maximum in (("position", v.POSITION_MAX), ("department", 100), ("industry", 100)):
        if field in data:
            out[field] = errors.run(field, _optional_text, data.get(field), field, maximum)
    for field in ("company_size", "annual_revenue"):
        if field in data:
            out[field] = errors.run(field, _non_negative_int, data.get(field), field)
    if "owner_id" in data:
        owner = data.get("owner_id")
        if owner is not None and (not isinstance(owner, str) or not owner.strip()):
            errors.add("owner_id", "owner_id must be a user id")
        out["owner_id"] = owner.strip() if isinstance(owner, str) else None
    if "stage" in data:
        if data.get("stage") in (None, ""):
            errors.add("stage", "stage may not be empty")
        else:
            out["stage"] = errors.run("stage", canonical_stage, data.get("stage"))
    if "type" in data:
        out["type"] = errors.run("type", _label, data.get("type"), "type", KNOWN_TYPES)
    if "channel" in data:
        out["channel"] = errors.run("channel", _label, data.get("channel"), "channel", KNOWN_CHANNELS)
    if "address" in data:
        out["address"] = errors.run("address", _address, data.get("address"))
    if "social" in data:
        out["social"] = errors.run("social", _social, data.get("social"))
    if "tags" in data:
        tags = data.get("tags")
        if tags is not None and not isinstance(tags, list):
            errors.add("tags", "tags must be a list of strings")
        else:
            out["tags"] = errors.run("tags", v.validate_tags, tags)
    if "notes" in data:
        out["notes"] = errors.run("notes", _optional_text, data.get("notes"), "notes", NOTE_TEXT_MAX)
    if "custom_fields" in data:
        out["custom_fields"] = errors.run("custom_fields", _custom_fields, data.get("custom_fields"))
    errors.raise_if_any()
    if out.get("email") and out.get("emails"):
        out["emails"] = [e for e in out["emails"] if e != out["email"]]
    if out.get("phone") and out.get("phones"):
        out["phones"] = [p for p in out["phones"] if p != out["phone"]]
    return out


def clean_tags(values: Any, field: str = "tags") -> list[str]:
    """Validated tag list for tag RPCs (add/remove); 422 naming ``field``."""
    if not isinstance(values, list) or not values:
        raise ValidationFailed("Validation failed", {"fields": {field: ["give a non-empty list of tags"]}})
    try:
        return v.validate_tags(values, field)
    except v.FieldError as exc:
        raise ValidationFailed("Validation failed", {"fields": {field: [exc.message]}}) from exc


def tag_key(tag: str) -> str:
    return v.normalize_text(tag).casefold()


def merge_tags(existing: list[str], added: Iterable[str]) -> list[str]:
    """Existing tags plus new ones, case-insensitively de-duplicated, existing spelling kept."""
    keys = {tag_key(t) for t in existing}
    out = list(existing)
    for tag in added:
        if tag_key(tag) not in keys:
            keys.add(tag_key(tag))
            out.append(tag)
    return out


def remove_tags(existing: list[str], removed: Iterable[str]) -> list[str]:
    gone = {tag_key(t) for t in removed}
    return [t for t in existing if tag_key(t) not in gone]


def _as_tag(value: Any) -> str | None:
    text = _TAG_BAD_CHARS.sub(" ", v.normalize_text(value))
    text = " ".join(text.split())[: v.TAG_MAX_LENGTH].strip()
    if not text or not re.match(r"^\w", text):
        return None
    return text


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return v.normalize_text(value).casefold() in _TRUTHY


def initial_tags(form: Mapping[str, Any]) -> list[str]:
    """Tags a contact gets when it enters the CRM from form data (seed 000 "Tag Management").

    Utility type, position and biggest challenge become tags with their value;
    "subscribed" and "schedule demo" become the tags ``Subscribed`` / ``Schedule Demo``
    when the form says yes. Keys match case- and separator-insensitively.
    """
    normalised = {re.sub(r"[\s\-]+", "_", str(k).strip().casefold()): val for k, val in form.items()}
    tags: list[str] = []
    for field in ("utility_type", "position", "biggest_challenge"):
        tag = _as_tag(normalised.get(field))
        if tag:
            tags.append(tag)
    for field, label in _FLAG_TAGS.items():
        if field in normalised and _truthy(normalised[field]):
            tags.append(label)
    return merge_tags([], tags)


def search_text(first_name: str, last_name: str, company: str | None, position: str | None,
                tags: Iterable[str], email: str | None = None) -> str:
    """The lowercased text list search matches (name, company, position, tags, email)."""
    parts = [first_name, last_name, company or "", position or "", " ".join(tags), email or ""]
    return v.normalize_name_key(" ".join(p for p in parts if p))


def search_words(text: str) -> set[str]:
    """The words of a ``search_text`` that join the typo-tolerance vocabulary (not emails, 3-100 chars)."""
    return {w for w in text.split() if 3 <= len(w) <= 100 and "@" not in w}


MEMBERSHIP_VERBS = {"joined": "Added to segment", "left": "Removed from segment",
                    "qualifies": "Now qualifies for segment", "no_longer_qualifies": "No longer qualifies for segment"}
# Why a membership changed when it was not the contact's own data (segments' ``reason``), in timeline words.
MEMBERSHIP_REASONS = {"segment_deleted": "the segment was deleted"}


def membership_title(change: str, segment_name: str, reason: str | None = None) -> str:
    """The timeline title of a segment membership change, with its reason when the segment itself changed."""
    title = f"{MEMBERSHIP_VERBS.get(change, 'Segment membership changed')}: {segment_name}"
    if reason:
        title += f" ({MEMBERSHIP_REASONS.get(reason, reason.replace('_', ' '))})"
    return title


def derived_columns(first_name: str, last_name: str, company: str | None, position: str | None,
                    tags: list[str], email: str | None) -> dict[str, Any]:
    """The columns kept in step with a contact's fields: tag keys, name key and search text."""
    return {"tag_keys": [tag_key(t) for t in tags], "name_key": name_key(first_name, last_name),
            "search_text": search_text(first_name, last_name, company, position, tags, email)}


def name_key(first_name: str, last_name: str) -> str:
    return v.normalize_name_key(f"{first_name} {last_name}")


def company_key(name: str | None) -> str:
    return v.normalize_name_key(name)


def period_range(period: str, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """Created-at bounds of a KPI period: all, this_month, last_month (UTC months)."""
    now = now or utcnow()
    if period == "all":
        return None, None
    start_this = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if period == "this_month":
        days = monthrange(now.year, now.month)[1]
        return start_this, start_this + timedelta(days=days)
    if period == "last_month":
        last_day_prev = start_this - timedelta(days=1)
        return last_day_prev.replace(day=1), start_this
    raise ValidationFailed("Validation failed",
                           {"fields": {"period": ["must be one of all, this_month, last_month"]}})


def is_inactive(last_activity_at: datetime | None, now: datetime | None = None,
                days: int = INACTIVE_DAYS) -> bool:
    """No activity for ``days`` days: the light-yellow rows of seed 000."""
    if last_activity_at is None:
        return True
    return last_activity_at < (now or utcnow()) - timedelta(days=days)


def activity_type_filter(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split requested activity types into exact types and prefixes (group names such as ``email``)."""
    exact, prefixes = [], []
    for value in values:
        value = value.strip().casefold()
        if not value:
            continue
        if value in ACTIVITY_GROUPS:
            prefixes.append(ACTIVITY_GROUPS[value])
        else:
            exact.append(value)
    return exact, prefixes


# -- permissions ------------------------------------------------------------
def can_write_contact(caller: Caller, owner_id: str | None) -> bool:
    """Seed 000: marketing/admin full, sales only what they own, executives never."""
    return caller.can_write_owned(owner_id)


def can_change_owner(caller: Caller) -> bool:
    """RELIABILITY A2: marketing cannot edit ownership; admins (and the system) transfer contacts."""
    return caller.role in (ADMIN, SYSTEM)


def can_set_owner_on_create(caller: Caller, owner_id: str | None) -> bool:
    """Seed 000 step 2: marketing assigns the owner when adding; sales may only own what they add."""
    if caller.role in (ADMIN, MARKETING, SYSTEM):
        return True
    return caller.role == SALES and (owner_id is None or owner_id == caller.user_id)


def can_edit_note(caller: Caller, author_id: str | None, contact_owner_id: str | None) -> bool:
    """Seed 000 "Note Permissions": the author, the contact owner and admins edit; others read."""
    if caller.role in (ADMIN, SYSTEM):
        return True
    if caller.role not in (MARKETING, SALES):
        return False
    return caller.user_id in (author_id, contact_owner_id)


def can_delete_note(caller: Caller, author_id: str | None) -> bool:
    """Only the author and admins delete a note."""
    if caller.role in (ADMIN, SYSTEM):
        return True
    return caller.role in (MARKETING, SALES) and caller.user_id == author_id


def can_add_note(caller: Caller, contact_owner_id: str | None) -> bool:
    """Adding a note is a write on the contact: marketing/admin any, sales their own."""
    return caller.can_write_owned(contact_owner_id)


# -- merge ------------------------------------------------------------------
MERGE_SCALAR_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "email", "phone", "company", "position", "department", "industry",
    "company_size", "annual_revenue", "type", "channel", "stage", "owner_id", "notes",
)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def merge_values(primary: Mapping[str, Any], duplicates: list[Mapping[str, Any]],
                 chosen: Mapping[str, str]) -> dict[str, Any]:
    """The merged contact's fields: chosen values win, the primary's otherwise, duplicates fill gaps.

    ``chosen`` maps a field to the id of the contact whose value wins. Every
    email and phone, all tags, address parts, social links and custom fields
    are kept (the losers' emails/phones become secondary ones).
    """
    by_id = {str(primary["id"]): primary, **{str(d["id"]): d for d in duplicates}}
    bad = {f: ["unknown field"] for f in chosen if f not in MERGE_SCALAR_FIELDS + ("address", "social")}
    bad.update({f: ["not one of the contacts being merged"] for f, cid in chosen.items()
                if f not in bad and str(cid) not in by_id})
    if bad:
        raise ValidationFailed("Validation failed", {"fields": {"fields": [f"{k}: {v[0]}" for k, v in bad.items()]}})
    ordered = [primary, *duplicates]
    out: dict[str, Any] = {}
    for field in MERGE_SCALAR_FIELDS:
        if field in chosen:
            out[field] = by_id[str(chosen[field])].get(field)
            continue
        out[field] = next((c.get(field) for c in ordered if not _empty(c.get(field))), primary.get(field))
    for field in ("address", "social", "custom_fields"):
        if field in chosen:
            out[field] = dict(by_id[str(chosen[field])].get(field) or {})
            continue
        combined: dict[str, Any] = {}
        for contact in reversed(ordered):
            combined.update({k: val for k, val in (contact.get(field) or {}).items() if not _empty(val)})
        out[field] = combined
    emails: list[str] = []
    phones: list[str] = []
    tags: list[str] = []
    for contact in ordered:
        for email in [contact.get("email"), *(contact.get("emails") or [])]:
            if email and email not in emails:
                emails.append(email)
        for phone in [contact.get("phone"), *(contact.get("phones") or [])]:
            if phone and phone not in phones:
                phones.append(phone)
        tags = merge_tags(tags, contact.get("tags") or [])
    out["emails"] = [e for e in emails if e != out["email"]]
    out["phones"] = [p for p in phones if p != out["phone"]]
    out["tags"] = tags[: v.TAGS_MAX_COUNT]
    out["score"] = max(int(c.get("score") or 0) for c in ordered)
    return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Fields whose value changed: ``{field: {"before", "after"}}``."""
    return {k: {"before": before.get(k), "after": after.get(k)} for k in after
            if before.get(k) != after.get(k)}


def import_merge(existing: Mapping[str, Any], incoming: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An import row merged into an existing contact: fill gaps, add emails/phones/tags, report conflicts.

    Returns ``(new_values, conflicts)``; existing non-empty values are never overwritten.
    """
    updates: dict[str, Any] = {}
    conflicts: dict[str, Any] = {}
    for field, value in incoming.items():
        if _empty(value) or field in ("emails", "phones", "tags", "address", "social", "custom_fields"):
            continue
        current = existing.get(field)
        if _empty(current):
            updates[field] = value
        elif field == "email":
            if value != current and value not in (existing.get("emails") or []):
                updates.setdefault("emails", list(existing.get("emails") or []))
                updates["emails"].append(value)
        elif field == "phone":
            if value != current and value not in (existing.get("phones") or []):
                updates.setdefault("phones", list(existing.get("phones") or []))
                updates["phones"].append(value)
        elif current != value and field not in ("stage", "owner_id"):
            conflicts[field] = {"existing": current, "incoming": value}
    for field in ("emails", "phones"):
        extra = [x for x in incoming.get(field) or [] if x not in (existing.get(field) or [])
                 and x != existing.get(field[:-1])]
        if extra:
            updates[field] = list(updates.get(field, existing.get(field) or [])) + extra
    if incoming.get("tags"):
        tags = merge_tags(list(existing.get("tags") or []), incoming["tags"])
        if tags != list(existing.get("tags") or []):
            updates["tags"] = tags[: v.TAGS_MAX_COUNT]
    for field in ("address", "social", "custom_fields"):
        current = dict(existing.get(field) or {})
        added = {k: val for k, val in (incoming.get(field) or {}).items() if _empty(current.get(k))}
        for k, val in (incoming.get(field) or {}).items():
            if not _empty(current.get(k)) and current.get(k) != val:
                conflicts[f"{field}.{k}"] = {"existing": current.get(k), "incoming": val}
        if added:
            updates[field] = {**current, **added}
    return updates, conflicts


# -- export -----------------------------------------------------------------
def _export_value(contact: Mapping[str, Any], key: str) -> Any:
    value = contact.get(key)
    if key == "tags":
        return ", ".join(value or [])
    if key == "inactive":
        return "yes" if value else "no"
    if key == "excerpt":
        return (contact.get("details") or {}).get("excerpt")
    if key == "details":
        return "; ".join(f"{k}: {val}" for k, val in (value or {}).items()
                         if k != "excerpt" and val not in (None, "", [], {}))
    return value


def export_csv(contacts: Iterable[Mapping[str, Any]],
               columns: tuple[tuple[str, str], ...] = EXPORT_COLUMNS) -> str:
    """Every table column, all cells RFC 4180-quoted, formula-like cells neutralised (RELIABILITY A5)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([title for title, _ in columns])
    for contact in contacts:
        writer.writerow([v.neutralize_spreadsheet_cell(_export_value(contact, key)) for _, key in columns])
    return buffer.getvalue()


# -- audit ------------------------------------------------------------------
GENESIS_HASH = "0" * 64


def _escape(value: Any) -> Any:
    """CR/LF escaped in every string so one audit record is always one line (RELIABILITY L1)."""
    if isinstance(value, str):
        return value.replace("\r", "\\r").replace("\n", "\\n")
    if isinstance(value, dict):
        return {k: _escape(val) for k, val in value.items()}
    if isinstance(value, list):
        return [_escape(val) for val in value]
    return value


def audit_record(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _escape(json.loads(json.dumps(val, default=str))) for k, val in record.items()}


def audit_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the record: a tamper-evident chain."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def verify_chain(rows: Iterable[Mapping[str, Any]], vouched: Mapping[int, str] | None = None) -> int | None:
    """The id of the first row whose hash does not match its content and predecessor, or None.

    ``vouched`` maps ids of rows pseudonymized by a GDPR erasure to the hash of their new content,
    as recorded by the later (itself chained) ``erase`` entry (contacts/erasure.py).
    """
    prev = GENESIS_HASH
    for row in rows:
        record = {k: row[k] for k in ("at", "actor_id", "actor_role", "action", "entity", "entity_id",
                                      "before", "after", "details")}
        content = audit_hash(prev, record)
        if row["prev_hash"] != prev or (content != row["hash"] and (vouched or {}).get(row["id"]) != content):
            return row["id"]
        prev = row["hash"]
    return None
