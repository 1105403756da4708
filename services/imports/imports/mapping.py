"""Column mapping: file headers to contact fields, by name and by synonym.

Headers are compared case-insensitively with punctuation folded, so
"E-mail Address", "email_address" and "EMAIL ADDRESS" are one key. The
synonyms cover the seed 001 template and the usual exports of HubSpot,
Salesforce, Outlook, Gmail (Google Contacts) and LinkedIn.
"""
from __future__ import annotations

import re
from typing import Any

from crm_shared.errors import ValidationFailed

# Import fields and what they become on the contact (API.md contact fields).
FIELDS: dict[str, str] = {
    "name": "Full name (split into first and last name)",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email (required)",
    "emails": "Secondary email",
    "phone": "Phone",
    "phones": "Secondary phone",
    "company": "Company",
    "position": "Position / job title",
    "department": "Department",
    "industry": "Industry",
    "address": "Address (free text)",
    "street": "Street",
    "city": "City",
    "state": "State / region",
    "zip": "Postal code",
    "country": "Country",
    "tags": "Tags (comma-separated)",
    "type": "Contact type",
    "channel": "Lead source / channel",
    "linkedin": "LinkedIn URL",
    "twitter": "Twitter handle",
    "notes": "Notes",
    # form answers (seed 000 "Tag Management"): initial tags on the contact and engagement in scoring
    "utility_type": "Form: utility type",
    "biggest_challenge": "Form: biggest challenge",
    "subscribed": "Form: subscribed (yes/no)",
    "schedule_demo": "Form: schedule a demo (yes/no)",
}

SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "contact name", "contact", "display name", "fullname"),
    "first_name": ("first name", "firstname", "first", "given name", "forename", "fname"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "lname"),
    "email": ("email", "e mail", "email address", "e mail address", "email 1", "e mail 1 value",
              "email 1 value", "primary email", "work email", "business email", "emailaddress", "mail"),
    "emails": ("email 2", "e mail 2 address", "e mail 2 value", "email 2 value", "secondary email",
               "other email", "personal email", "alternate email"),
    "phone": ("phone", "phone number", "telephone", "tel", "business phone", "work phone", "phone 1 value",
              "primary phone", "mobile", "mobile phone", "mobile phone number", "cell", "cell phone",
              "phone 1", "direct phone"),
    "phones": ("phone 2", "phone 2 value", "home phone", "other phone", "business phone 2", "home phone 2",
               "secondary phone", "alternate phone"),
    "company": ("company", "company name", "organization", "organisation", "organization name",
                "organization 1 name", "account name", "account", "employer", "business name", "firm", "org"),
    "position": ("position", "job title", "title", "role", "organization title", "organization 1 title",
                 "job", "designation", "occupation"),
    "department": ("department", "organization department", "organization 1 department", "dept"),
    "industry": ("industry", "sector"),
    "address": ("address", "full address", "mailing address", "postal address", "business address",
                "address 1 formatted", "location"),
    "street": ("street", "street address", "mailing street", "business street", "address 1 street",
               "address line 1", "address1"),
    "city": ("city", "mailing city", "business city", "address 1 city", "town"),
    "state": ("state", "state region", "region", "province", "mailing state province", "mailing state",
              "business state", "address 1 region", "state province"),
    "zip": ("zip", "zip code", "postal code", "postcode", "mailing zip postal code", "business postal code",
            "address 1 postal code", "zip postal code"),
    "country": ("country", "country region", "mailing country", "business country region",
                "address 1 country", "business country"),
    "tags": ("tags", "tag", "labels", "categories", "group membership", "lists"),
    "type": ("type", "contact type", "lifecycle stage", "lead status", "record type"),
    "channel": ("channel", "lead source", "source", "original source", "contact source"),
    "linkedin": ("linkedin", "linkedin url", "linkedin profile", "profile url"),
    "twitter": ("twitter", "twitter handle", "twitter username"),
    "notes": ("notes", "note", "description", "comments"),
    "utility_type": ("utility type", "utility", "utility category"),
    "biggest_challenge": ("biggest challenge", "challenge", "main challenge", "pain point"),
    "subscribed": ("subscribed", "subscribe", "newsletter", "opt in", "opted in", "marketing opt in"),
    "schedule_demo": ("schedule demo", "schedule a demo", "demo requested", "request demo", "book a demo"),
}

_KEY_RE = re.compile(r"[^0-9a-z]+")


def header_key(header: str) -> str:
    """Case, punctuation and spacing folded: 'E-mail Address' -> 'e mail address'."""
    return " ".join(_KEY_RE.sub(" ", header.casefold()).split())


_LOOKUP = {header_key(s): f for f, synonyms in SYNONYMS.items() for s in synonyms}


def auto_map(headers: list[str]) -> dict[str, str | None]:
    """Header -> field (None when unknown); a field is taken by its first matching column only."""
    mapping: dict[str, str | None] = {}
    taken: set[str] = set()
    for header in headers:
        field = _LOOKUP.get(header_key(header))
        if field is None:
            field = _LOOKUP.get(header_key(re.sub(r"\s*\(\d+\)$", "", header)))
            if field in ("email", "phone"):          # a second Email column is a secondary address
                field = field + "s"
        if field in taken and field in ("email", "phone") and field + "s" not in taken:
            field = field + "s"                      # Phone + Mobile: the second becomes secondary
        elif field is not None and field in taken:
            field = None
        if field is not None:
            taken.add(field)
        mapping[header] = field
    return mapping


def missing_required(mapping: dict[str, str | None]) -> list[str]:
    """Required fields not mapped: an email column, and a name (Name, or First + Last)."""
    fields = {f for f in mapping.values() if f}
    missing = []
    if "name" not in fields and not ({"first_name", "last_name"} & fields):
        missing.append("name")
    if "email" not in fields:
        missing.append("email")
    return missing


def check_mapping(headers: list[str], mapping: dict[str, Any]) -> dict[str, str | None]:
    """A user-given mapping, checked: known headers, known fields, no field twice (422 otherwise)."""
    if not isinstance(mapping, dict):
        raise ValidationFailed("mapping must be an object of column -> field",
                               {"fields": {"mapping": ["must be an object"]}})
    errors: dict[str, list[str]] = {}
    result: dict[str, str | None] = {h: None for h in headers}
    used: dict[str, str] = {}
    for column, field in mapping.items():
        if column not in result:
            errors.setdefault(str(column), []).append("no such column in the file")
            continue
        if field in (None, "", "ignore"):
            continue
        if field not in FIELDS:
            errors.setdefault(str(column), []).append(f"unknown field '{field}'; one of {sorted(FIELDS)}")
            continue
        if field in used:
            errors.setdefault(str(column), []).append(f"field '{field}' is already mapped from '{used[field]}'")
            continue
        used[field] = column
        result[column] = field
    if errors:
        raise ValidationFailed("mapping is invalid", {"fields": {"mapping": errors}})
    return result


TEMPLATE_HEADERS = ["Name", "Email", "Phone", "Company", "Position", "Address", "Tags", "First Name",
                    "Last Name", "Secondary Email", "Secondary Phone", "Department", "Industry", "Street", "City",
                    "State", "Zip", "Country", "Type", "Lead Source", "LinkedIn", "Twitter", "Notes",
                    "Utility Type", "Biggest Challenge", "Subscribed", "Schedule Demo"]
TEMPLATE_ROWS = [
    ["John Doe", "john@example.com", "+1 555-123-4567", "Acme Corp", "Sales Manager",
     "123 Main St, Springfield, IL", "prospect,enterprise", "", "", "j.doe@gmail.com", "", "Sales", "Manufacturing",
     "", "", "", "", "", "Prospect", "Event", "https://www.linkedin.com/in/johndoe", "", "Met at the spring expo",
     "Electric", "Outage reporting", "yes", "no"],
    ["Jane Smith", "jane@company.com", "+1 555-987-6543", "Tech Solutions", "Marketing Director",
     "456 Oak Ave, Austin, TX", "lead,technology", "", "", "", "+1 555-111-2222", "Marketing", "Software",
     "", "", "", "", "", "Partner", "Webinar", "", "@janesmith", "", "", "", "no", "yes"],
    ["", "bob@startup.com", "+44 20 7946 0958", "Innovation Inc", "CEO", "", "customer,startup",
     "Bob", "Johnson", "", "", "", "Technology", "1 Long Lane", "London", "", "EC1A 1BB", "United Kingdom",
     "Customer", "Referral", "", "", "", "Water", "Billing accuracy", "yes", "yes"],
]


def template_csv() -> str:
    """The downloadable sample file (seed 001): every supported column and example rows."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADERS)
    writer.writerows(TEMPLATE_ROWS)
    return out.getvalue()
