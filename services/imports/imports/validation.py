"""Seed 001 "Data Validation Rules" applied to one mapped row.

A row with any invalid field is rejected whole (RELIABILITY I2); every
failure names the field, the value, the seed's error category, a message and
a suggested fix, which is what errors.csv shows.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crm_shared import validators as v

_SPLIT_TAGS = re.compile(r"[,;]|:::")      # Gmail exports join labels with " ::: "
MAX_NOTES = v.NOTE_MAX
TYPES = ("Prospect", "Lead", "Customer", "Partner", "Investor", "Vendor", "Other")


@dataclass
class RowResult:
    fields: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def _err(result: RowResult, name: str, value: Any, exc: v.FieldError) -> None:
    result.errors.append({"field": name, "value": "" if value is None else str(value)[:500],
                          "type": exc.kind, "message": exc.message, "fix": exc.suggestion})


FORM_FIELDS = ("utility_type", "biggest_challenge", "subscribed", "schedule_demo")


def split_name(full: str) -> tuple[str, str]:
    """'Doe, John' -> (John, Doe); 'Mary Ann Smith' -> ('Mary Ann', 'Smith'); one word -> (word, '')."""
    text = v.normalize_text(full)
    if "," in text:
        last, _, first = text.partition(",")
        return v.normalize_text(first), v.normalize_text(last)
    parts = text.split(" ")
    if len(parts) == 1:
        return parts[0], ""
    return " ".join(parts[:-1]), parts[-1]


def row_values(headers: list[str], cells: list[str], mapping: dict[str, str | None]) -> dict[str, str]:
    """Mapped cell values by field (unmapped columns are ignored)."""
    values: dict[str, str] = {}
    for index, header in enumerate(headers):
        target = mapping.get(header)
        if target and index < len(cells):
            values[target] = cells[index]
    return values


def validate_row(headers: list[str], cells: list[str], mapping: dict[str, str | None]) -> RowResult:
    """Validate and normalise one row into API.md contact fields."""
    result = RowResult()
    if len(cells) > len(headers):
        extra = [c for c in cells[len(headers):] if c.strip()]
        result.errors.append({
            "field": "(row)", "value": ",".join(extra)[:500], "type": v.INVALID_FORMAT,
            "message": f"the row has {len(cells)} values but the header has {len(headers)} columns",
            "fix": "Quote values that contain the delimiter, e.g. \"123 Main St, City\""})
    values = row_values(headers, cells, mapping)
    out = result.fields

    # Name: 'Name', or 'First Name' + 'Last Name'; at least 2 characters in all.
    first_raw, last_raw = values.get("first_name", ""), values.get("last_name", "")
    if v.normalize_text(first_raw) or v.normalize_text(last_raw):
        first, last = v.normalize_text(first_raw), v.normalize_text(last_raw)
        name_field, name_value = "first_name", f"{first} {last}".strip()
    else:
        name_value = values.get("name", "")
        first, last = split_name(name_value)
        name_field = "name"
    try:
        v.validate_name(f"{first} {last}".strip(), name_field, required=True)
        if not first or not last:      # contacts store a first and a last name (seed 000 "Add Contact")
            raise v.FieldError("Name needs both a first and a last name", v.MISSING_REQUIRED,
                               "Add the missing first or last name")
        out["first_name"], out["last_name"] = first, last
    except v.FieldError as exc:
        if exc.kind == v.MISSING_REQUIRED:
            exc = v.FieldError("Missing required field: Name", v.MISSING_REQUIRED,
                               "Add the contact's name (a Name column, or First Name and Last Name)")
        _err(result, name_field, name_value, exc)

    try:
        email = v.validate_email_address(values.get("email"), "email",
                                                                               required=True)
        out["email"] = email
    except v.FieldError as exc:
        if exc.kind == v.MISSING_REQUIRED:
            exc = v.FieldError("Missing required field: Email", v.MISSING_REQUIRED, "Add an email address")
        elif exc.kind == v.INVALID_FORMAT:
            exc = v.FieldError(f"Invalid email format: {values.get('email', '')}", v.INVALID_FORMAT,
                               exc.suggestion or "Use the form name@example.com")
        _err(result, "email", values.get("email"), exc)

    if v.normalize_text(values.get("emails")):
        try:
            out["emails"] = [v.validate_email_address(values["emails"], "secondary email")]
        except v.FieldError as exc:
            _err(result, "emails", values.get("emails"), exc)

    for name in ("phone", "phones"):
        raw = values.get(name)
        if not v.normalize_text(raw):
            continue
        try:
            e164 = v.validate_phone(raw, "phone" if name == "phone" else "secondary phone")
            out[name] = e164 if name == "phone" else [e164]
        except v.FieldError as exc:
            exc.message = f"Invalid phone number: {raw}" if name == "phone" else exc.message
            _err(result, name, raw, exc)

    for name, limit in (("company", v.COMPANY_MAX), ("position", v.POSITION_MAX), ("department", 100),
                        ("industry", 100), ("notes", MAX_NOTES)):
        raw = values.get(name)
        if raw is None:
            continue
        try:
            text = v.validate_length(raw, name, limit)
            if text:
                out[name] = text
        except v.FieldError as exc:
            _err(result, name, raw, exc)

    address: dict[str, str] = {}
    for name, key, limit in (("address", "street", v.ADDRESS_MAX), ("street", "street", v.ADDRESS_MAX),
                             ("city", "city", 100), ("state", "state", 100), ("zip", "zip", 20),
                             ("country", "country", 100)):
        raw = values.get(name)
        if raw is None:
            continue
        try:
            text = v.validate_length(raw, name, limit)
        except v.FieldError as exc:
            _err(result, name, raw, exc)
            continue
        if text:
            address[key] = f"{address[key]}, {text}" if key in address else text
    if address:
        if sum(len(x) for x in address.values()) > v.ADDRESS_MAX:
            _err(result, "address", ", ".join(address.values()),
                 v.FieldError(f"address is longer than {v.ADDRESS_MAX} characters", v.INVALID_FORMAT,
                              f"Shorten to {v.ADDRESS_MAX} characters"))
        else:
            out["address"] = address

    raw_tags = values.get("tags")
    if v.normalize_text(raw_tags):
        try:
            tags = v.validate_tags([t.strip().lstrip("*").strip() for t in _SPLIT_TAGS.split(raw_tags or "")])
            if tags:
                out["tags"] = tags
        except v.FieldError as exc:
            _err(result, "tags", raw_tags, exc)

    raw_type = v.normalize_text(values.get("type"))
    if raw_type:
        match = next((t for t in TYPES if t.casefold() == raw_type.casefold()), None)
        out["type"] = match or raw_type.title()[:40]
    channel = v.normalize_text(values.get("channel"))
    if channel:
        out["channel"] = channel[:40]

    social: dict[str, str] = {}
    if v.normalize_text(values.get("linkedin")):
        try:
            social["linkedin"] = v.validate_url(values["linkedin"], "linkedin")
        except v.FieldError as exc:
            _err(result, "linkedin", values.get("linkedin"), exc)
    if v.normalize_text(values.get("twitter")):
        social["twitter"] = v.normalize_text(values["twitter"])[:100]
    if social:
        out["social"] = social
    for name in FORM_FIELDS:      # form answers travel as given; contacts turns them into tags
        raw = values.get(name)
        if raw is None or not v.normalize_text(raw):
            continue
        try:
            out[name] = v.validate_length(raw, name, 100)
        except v.FieldError as exc:
            _err(result, name, raw, exc)
    if result.errors:
        result.fields = {}
    return result
