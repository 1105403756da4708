"""Field rules every service applies the same way (seed 000 "Add Contact", seed 001 §5).

One implementation of each rule: the contacts API, the import validator and
the matcher all normalise emails, phones and names through these functions.
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlparse

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

# Limits (seed 001 "Data Validation Rules" and seed 000 "Add Contact").
NAME_MIN = 2
NAME_MAX = 100
EMAIL_MAX = 254
PHONE_MAX = 20
COMPANY_MAX = 150
POSITION_MAX = 100
ADDRESS_MAX = 300
TAG_MAX_LENGTH = 50
TAGS_MAX_COUNT = 20
NOTE_MAX = 5000
CALL_NOTES_MAX = 1000

_NAME_RE = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\-.])*$", re.UNICODE)
_TAG_RE = re.compile(r"^[\w][\w \-&/+.#]*$", re.UNICODE)
DEFAULT_REGION = "US"


# Error categories of seed 001 "Error Report"; every FieldError names one.
MISSING_REQUIRED = "missing_required"
INVALID_FORMAT = "invalid_format"
DUPLICATE_RECORD = "duplicate_record"
MERGE_CONFLICT = "merge_conflict"
SKIPPED = "skipped"
FAILED = "failed_to_import"
PARTIAL = "partial_import"
ERROR_CATEGORY_LABELS = {
    MISSING_REQUIRED: "Missing Required Fields",
    INVALID_FORMAT: "Invalid Data Format",
    DUPLICATE_RECORD: "Duplicate Records",
    MERGE_CONFLICT: "Conflicts During Merge",
    SKIPPED: "Skipped Records",
    FAILED: "Failed to Import",
    PARTIAL: "Partial Imports",
}
_PHONE_CHARS_RE = re.compile(r"^[0-9 ()+\-.]+$")
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_EMAIL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}$")


class FieldError(ValueError):
    """A single field failed a rule; ``kind`` is the seed 001 error category."""

    def __init__(self, message: str, kind: str = INVALID_FORMAT, suggestion: str = ""):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.suggestion = suggestion


def normalize_text(value: str | None) -> str:
    """Unicode NFKC, trimmed, inner whitespace folded."""
    if value is None:
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).split())


def normalize_name_key(value: str | None) -> str:
    """Comparison key for names: accents stripped, lowercase, single spaces."""
    text = unicodedata.normalize("NFKD", normalize_text(value))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold()


def validate_name(value: str | None, field: str = "name", required: bool = True) -> str:
    text = normalize_text(value)
    if not text:
        if required:
            raise FieldError(f"{field} is required", MISSING_REQUIRED, f"Enter a {field.replace('_', ' ')}")
        return ""
    if len(text) < NAME_MIN:
        raise FieldError(f"{field} must be at least {NAME_MIN} characters", INVALID_FORMAT,
                         f"Enter the full {field.replace('_', ' ')}")
    if len(text) > NAME_MAX:
        raise FieldError(f"{field} is longer than {NAME_MAX} characters", INVALID_FORMAT,
                         f"Shorten to {NAME_MAX} characters")
    if not _NAME_RE.match(text):
        raise FieldError(f"{field} may contain only letters, spaces, hyphens, apostrophes and dots",
                         INVALID_FORMAT, "Remove digits and symbols")
    return text


def normalize_email(value: str | None) -> str:
    """Lowercased, trimmed email; the key used for uniqueness and duplicate matching."""
    return normalize_text(value).lower()


def validate_email_address(value: str | None, field: str = "email", required: bool = True) -> str:
    text = normalize_email(value)
    if not text:
        if required:
            raise FieldError(f"{field} is required", MISSING_REQUIRED, "Enter an email address")
        return ""
    if len(text) > EMAIL_MAX:
        raise FieldError(f"{field} is longer than {EMAIL_MAX} characters", INVALID_FORMAT)
    plain = _plain_email(text)
    if plain is not None:
        return plain
    try:
        result = validate_email(text, check_deliverability=False)
        if "." not in result.domain:
            raise EmailNotValidError("the domain needs an extension such as .com")
    except EmailNotValidError as exc:
        raise FieldError(f"{field} is not a valid email address: {exc}", INVALID_FORMAT,
                         "Use the form name@example.com") from exc
    return result.normalized.lower()


def _plain_email(text: str) -> str | None:
    """Fast path for plain ASCII addresses (most of them): email-validator's answer in a tenth of the time.

    Anything unusual (quotes, IDN, odd lengths, special-use domains) returns
    None and takes the full validator. Imports validate 50,000 rows and
    contacts validate them again on commit, so this is paid twice per row.
    """
    if not text.isascii():
        return None
    local, _, domain = text.partition("@")
    if len(local) > 64 or not _PLAIN_EMAIL.match(text) or any(len(label) > 63 for label in domain.split(".")):
        return None
    if any(domain == d or domain.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES):
        return None
    return text


def _plain_nanp_phone(text: str, region: str) -> str | None:
    """Fast path for North American numbers (+1 and 10 digits, or 10 digits in the US): phonenumbers' E.164.

    Anything else (other countries, 00 prefixes, odd lengths) returns None and takes phonenumbers.
    """
    if not _PHONE_CHARS_RE.match(text) or text.startswith("00") or "+" in text[1:]:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("+"):
        return "+" + digits if len(digits) == 11 and digits[0] == "1" else None
    return "+1" + digits if len(digits) == 10 and region == "US" else None


def normalize_phone(value: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number, or None when it cannot be parsed as a valid number."""
    text = normalize_text(value)
    if not text:
        return None
    plain = _plain_nanp_phone(text, region)
    if plain is not None:
        return plain
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_phone(value: str | None, field: str = "phone", region: str = DEFAULT_REGION,
                   require_country_code: bool = False) -> str | None:
    text = normalize_text(value)
    if not text:
        return None
    if len(text) > PHONE_MAX + 10:
        raise FieldError(f"{field} is too long", INVALID_FORMAT)
    if not _PHONE_CHARS_RE.match(text):
        raise FieldError(f"{field} may contain only numbers, spaces, hyphens, parentheses and +",
                         INVALID_FORMAT, "Remove letters and other symbols")
    if require_country_code and not text.startswith(("+", "00")):
        raise FieldError(f"{field} must include a country code (e.g. +1 555 123 4567)",
                         INVALID_FORMAT, "Prefix the number with + and the country code")
    if text.startswith("00"):
        text = "+" + text[2:]
    e164 = normalize_phone(text, region)
    if e164 is None:
        raise FieldError(f"{field} is not a valid phone number", INVALID_FORMAT,
                         "Use international format, e.g. +1 555 123 4567")
    return e164


def format_phone_international(e164: str | None) -> str | None:
    """The display form (every contact snapshot has one, so North American numbers skip phonenumbers)."""
    if not e164:
        return e164
    if len(e164) == 12 and e164.startswith("+1") and e164[2] in "23456789" and e164[2:].isdigit():
        return f"+1 {e164[2:5]}-{e164[5:8]}-{e164[8:]}"
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def validate_length(value: str | None, field: str, maximum: int) -> str:
    text = normalize_text(value)
    if len(text) > maximum:
        raise FieldError(f"{field} is longer than {maximum} characters", INVALID_FORMAT,
                         f"Shorten to {maximum} characters")
    return text


def validate_url(value: str | None, field: str = "url") -> str:
    text = normalize_text(value)
    if not text:
        return ""
    candidate = text if "://" in text else f"https://{text}"
    parsed = urlparse(candidate)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or "." not in parsed.netloc:
        raise FieldError(f"{field} is not a valid URL", INVALID_FORMAT, "Use https://example.com/...")
    return candidate


def validate_tags(values: list[str] | None, field: str = "tags") -> list[str]:
    """Trimmed, de-duplicated (case-insensitively) tags within the count and length limits."""
    seen: dict[str, str] = {}
    for raw in values or []:
        tag = normalize_text(raw)
        if not tag:
            continue
        if len(tag) > TAG_MAX_LENGTH:
            raise FieldError(f"tag '{tag[:20]}...' is longer than {TAG_MAX_LENGTH} characters",
                             INVALID_FORMAT, f"Shorten tags to {TAG_MAX_LENGTH} characters")
        if not _TAG_RE.match(tag):
            raise FieldError(f"tag '{tag}' contains characters that are not allowed", INVALID_FORMAT,
                             "Use letters, digits, spaces and - & / + . #")
        seen.setdefault(tag.casefold(), tag)
    if len(seen) > TAGS_MAX_COUNT:
        raise FieldError(f"at most {TAGS_MAX_COUNT} tags are allowed", INVALID_FORMAT,
                         f"Keep {TAGS_MAX_COUNT} tags or fewer")
    return list(seen.values())


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def neutralize_spreadsheet_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will show as text, never run as a formula (RELIABILITY A5)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text
