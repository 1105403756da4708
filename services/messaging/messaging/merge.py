"""The sandboxed template renderer (RELIABILITY E2, E3).

Templates are plain text with ``{field}`` placeholders. Rendering is a single
regular-expression substitution from an allow-listed dict of strings: there is
no ``eval``, no ``str.format`` (whose ``{0.__class__}`` attribute access is a
known escape) and no Jinja, so a template can never run code or reach an
attribute. Any ``{...}`` without whitespace inside is a merge-field reference;
if it is not on the list, saving the template fails naming it.

Merge values that go into headers are decoded from RFC 2047 first and then
stripped of every control and line-separator character, so neither raw nor
encoded CR/LF can start a new header.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from email.header import decode_header, make_header
from typing import Any

MERGE_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "full_name", "email", "company_name", "position", "department",
    "industry", "phone", "city", "country", "sender_name", "sender_email",
)
PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")
_BREAKERS = {"\u2028", "\u2029", "\x85"}


def referenced_fields(text: str) -> list[str]:
    """Every merge-field name a text refers to, in order of first use."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text or ""):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def unknown_fields(text: str) -> list[str]:
    """References that are not allow-listed (a save-time validation error)."""
    return [name for name in referenced_fields(text) if name not in MERGE_FIELDS]


def render(text: str, values: Mapping[str, Any]) -> str:
    """Substitute allow-listed fields; anything else stays literally as written."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in MERGE_FIELDS:
            return match.group(0)
        value = values.get(name)
        return "" if value is None else str(value)

    return PLACEHOLDER.sub(substitute, text or "")


def _decode_encoded_words(value: str) -> str:
    if not _ENCODED_WORD.search(value):
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # malformed encoded words stay as they are, still stripped below
        return value


def header_safe(value: Any) -> str:
    """A single header line: encoded words decoded, control characters and line breaks gone."""
    text = _decode_encoded_words("" if value is None else str(value))
    cleaned = "".join(" " if (unicodedata.category(ch) == "Cc" or ch in _BREAKERS) else ch for ch in text)
    cleaned = cleaned.replace("=?", "= ?")  # what is left can never be read as an encoded word again
    return re.sub(r"\s+", " ", cleaned).strip()


def body_safe(value: Any) -> str:
    """A merge value inside a body: one line, no control characters."""
    text = "" if value is None else str(value)
    cleaned = "".join(" " if (unicodedata.category(ch) == "Cc" or ch in _BREAKERS) else ch for ch in text)
    return re.sub(r"\s+", " ", cleaned).strip()


def contact_values(contact: Mapping[str, Any], sender_name: str, sender_email: str) -> dict[str, str]:
    """The merge values of a contact in the API.md shape."""
    first = contact.get("first_name") or ""
    last = contact.get("last_name") or ""
    address = contact.get("address") or {}
    return {
        "first_name": first, "last_name": last, "full_name": f"{first} {last}".strip(),
        "email": contact.get("email") or "", "company_name": contact.get("company") or "",
        "position": contact.get("position") or "", "department": contact.get("department") or "",
        "industry": contact.get("industry") or "", "phone": contact.get("phone") or "",
        "city": address.get("city") or "" if isinstance(address, Mapping) else "",
        "country": address.get("country") or "" if isinstance(address, Mapping) else "",
        "sender_name": sender_name, "sender_email": sender_email,
    }


def render_message(subject: str, body: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """Subject (one safe header line) and body with the values filled in."""
    subject_values = {k: header_safe(v) for k, v in values.items()}
    body_values = {k: body_safe(v) for k, v in values.items()}
    return header_safe(render(subject, subject_values)), render(body, body_values)
