"""Criteria trees over contact attributes: one parser and one evaluator for every service.

Segments (API.md "Segments") and the scoring rule engine test contacts with
the same language, so both import it from here:

    {"all": [cond | group, ...]}  or  {"any": [cond | group, ...]}     (nestable)
    cond = {"field": "<name>", "op": "<op>", "value": <value>}

``validate_criteria`` checks a tree and returns it normalised (field names
canonical, values coerced); its errors name the bad part, e.g.
``criteria.all[1].op``. ``matches`` evaluates a normalised tree over a flat
record of contact attributes in plain Python. The segments service compiles
the same tree to SQL over its projection with identical semantics:

- text compares case-insensitively; ``contains`` is a substring test; lists
  (tags, campaigns) compare element-wise, ``contains`` meaning "has element";
- a missing value (None, "", empty list) satisfies only ``ne``,
  ``not_contains``, ``not_in`` and ``exists: false``;
- ``position`` with a role class as value ("C-Level", "Founder",
  "VP/Director", "Manager") also matches positions of that class, so
  "Position = C-Level" finds the CEO, CFO, CTO ... of seed 000;
- ``within_days: N`` is true for dates at or after now - N days;
- date-only bounds ("2026-01-31") cover the whole day for ``lte`` and the
  upper end of ``between``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from crm_shared.errors import ValidationFailed

TEXT, NUMBER, DATE, BOOL, LIST, ANY = "text", "number", "date", "bool", "list", "any"

OPS: tuple[str, ...] = ("eq", "ne", "contains", "not_contains", "gt", "gte", "lt", "lte",
                        "between", "in", "not_in", "exists", "within_days")
NEGATIVE_OPS = frozenset({"ne", "not_contains", "not_in"})
OPS_BY_TYPE: dict[str, frozenset[str]] = {
    TEXT: frozenset({"eq", "ne", "contains", "not_contains", "in", "not_in", "exists"}),
    NUMBER: frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "exists"}),
    DATE: frozenset({"gt", "gte", "lt", "lte", "between", "within_days", "exists"}),
    BOOL: frozenset({"eq", "ne", "exists"}),
    LIST: frozenset({"contains", "not_contains", "in", "not_in", "exists"}),
    ANY: frozenset(OPS),
}

# Every field a criterion may name, with its type (custom.<key> and event.<type> are open-ended).
FIELDS: dict[str, str] = {
    # contact fields
    "first_name": TEXT, "last_name": TEXT, "name": TEXT, "email": TEXT, "phone": TEXT,
    "company": TEXT, "position": TEXT, "role_class": TEXT, "department": TEXT, "industry": TEXT,
    "owner_id": TEXT, "stage": TEXT, "type": TEXT, "channel": TEXT, "source": TEXT,
    "city": TEXT, "state": TEXT, "country": TEXT,
    "company_size": NUMBER, "annual_revenue": NUMBER,
    "tags": LIST,
    "created_at": DATE, "updated_at": DATE, "last_contact_at": DATE,
    "unsubscribed": BOOL,
    # scoring
    "score": NUMBER, "fit": NUMBER, "engagement": NUMBER, "engagement_level": NUMBER,
    # engagement facts
    "demo_requested": BOOL, "last_email_opened_at": DATE,
    "campaigns": LIST, "campaign_ids": LIST,
}
# Friendly names people type, mapped to the canonical field.
ALIASES: dict[str, str] = {
    "ai_score": "score", "lead_score": "score", "engagement_score": "engagement_level",
    "tag": "tags", "owner": "owner_id", "lifecycle_stage": "stage", "contact_type": "type",
    "email_opened_at": "last_email_opened_at", "campaign": "campaigns", "title": "position",
}
CUSTOM_PREFIX = "custom."
EVENT_PREFIX = "event."
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,62}$")

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_IN_VALUES = 500
MAX_TEXT = 200
MAX_WITHIN_DAYS = 3650

# Role classes of seed 000 ("Decision Maker Roles"), most senior first.
C_LEVEL, FOUNDER, VP_DIRECTOR, MANAGER, OTHER = "C-Level", "Founder", "VP/Director", "Manager", "Other"
ROLE_CLASSES: tuple[str, ...] = (C_LEVEL, FOUNDER, VP_DIRECTOR, MANAGER, OTHER)
_ROLE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (C_LEVEL, re.compile(r"\b(ceo|coo|cfo|cto|cio|cmo|cso|cpo|cro|cdo|ciso|c-level|c-suite)\b"
                         r"|\bchief\b.*\bofficer\b", re.I)),
    (FOUNDER, re.compile(r"\b(co-?founder|founder)\b", re.I)),
    (VP_DIRECTOR, re.compile(r"\b(vp|svp|evp|vice[\s-]+president|director|head\s+of)\b", re.I)),
    (MANAGER, re.compile(r"\b(manager|team\s+lead)\b", re.I)),
)
_ROLE_BY_LOWER = {name.lower(): name for name in ROLE_CLASSES}


def role_class(position: str | None) -> str | None:
    """The seed 000 role class of a job title ("Chief Financial Officer" -> "C-Level"); None if blank."""
    if position is None or not str(position).strip():
        return None
    for name, pattern in _ROLE_PATTERNS:
        if pattern.search(str(position)):
            return name
    return OTHER


def role_class_term(value: Any) -> str | None:
    """The role class a ``position`` criterion value names, if it names one."""
    return _ROLE_BY_LOWER.get(str(value).strip().lower()) if isinstance(value, str) else None


def to_number(value: Any) -> float | None:
    """A number from a stored value: 250, "250", "1,000", "101-500" (lower bound), "1000+"."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    match = re.match(r"^\s*([<>]=?\s*)?(-?\d[\d,]*(?:\.\d+)?)", str(value))
    if not match:
        return None
    try:
        return float(match.group(2).replace(",", ""))
    except ValueError:
        return None


def to_datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime, a date or an ISO 8601 string (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _is_date_only(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()))


def canonical_field(name: str) -> str | None:
    """The canonical field for ``name`` (aliases, ``custom.x``, ``event.x``), or None if unknown."""
    name = name.strip()
    lowered = name.lower()
    if lowered.startswith(CUSTOM_PREFIX) or lowered.startswith("custom_fields."):
        key = name.split(".", 1)[1]
        return CUSTOM_PREFIX + key if _KEY_RE.match(key) else None
    if lowered.startswith(EVENT_PREFIX):
        key = lowered.split(".", 1)[1]
        return EVENT_PREFIX + key if _KEY_RE.match(key) else None
    if lowered in FIELDS:
        return lowered
    return ALIASES.get(lowered)


def field_type(field: str) -> str:
    if field.startswith(CUSTOM_PREFIX):
        return ANY
    if field.startswith(EVENT_PREFIX):
        return DATE
    return FIELDS[field]


def condition_kind(field: str, op: str, value: Any) -> str:
    """The comparison kind of a (normalised) condition: its field type, or for custom fields the value's."""
    ftype = field_type(field)
    if ftype != ANY:
        return ftype
    if op == "within_days":
        return DATE
    if op == "exists":
        return ANY
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return BOOL
    if isinstance(sample, int | float):
        return NUMBER
    if op in ("gt", "gte", "lt", "lte", "between"):
        return DATE
    return TEXT


# -- validation ----------------------------------------------------------
class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.conditions = 0

    def add(self, path: str, reason: str) -> None:
        self.fields.setdefault(path, []).append(reason)


def validate_criteria(data: Any, path: str = "criteria") -> dict[str, Any]:
    """Check a criteria tree; return it normalised or raise ValidationFailed naming each bad part."""
    errors = _Errors()
    result = _group(data, path, 1, errors)
    if errors.conditions > MAX_CONDITIONS and path not in errors.fields:
        errors.add(path, f"at most {MAX_CONDITIONS} conditions")
    if errors.fields:
        raise ValidationFailed("Invalid criteria", {"fields": errors.fields})
    return result


def _group(data: Any, path: str, depth: int, errors: _Errors) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        errors.add(path, 'must be a group: {"all": [...]} or {"any": [...]}')
        return {}
    keys = set(data)
    if len(keys) != 1 or not keys <= {"all", "any"}:
        errors.add(path, 'a group has exactly one key, "all" or "any"')
        return {}
    kind = next(iter(keys))
    items = data[kind]
    here = f"{path}.{kind}"
    if not isinstance(items, list) or not items:
        errors.add(here, "must be a non-empty list of conditions or groups")
        return {}
    if depth > MAX_DEPTH:
        errors.add(here, f"groups nest at most {MAX_DEPTH} deep")
        return {}
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_path = f"{here}[{index}]"
        if isinstance(item, Mapping) and ("all" in item or "any" in item) and "field" not in item:
            out.append(_group(item, item_path, depth + 1, errors))
        else:
            out.append(_condition(item, item_path, errors))
    return {kind: out}


def _condition(data: Any, path: str, errors: _Errors) -> dict[str, Any]:
    errors.conditions += 1
    if not isinstance(data, Mapping):
        errors.add(path, 'must be a condition {"field", "op", "value"} or a group')
        return {}
    unknown = set(data) - {"field", "op", "value"}
    for key in sorted(unknown):
        errors.add(f"{path}.{key}", "unknown key")
    raw_field, op = data.get("field"), data.get("op")
    field = canonical_field(raw_field) if isinstance(raw_field, str) else None
    if field is None:
        errors.add(f"{path}.field", f"unknown field {raw_field!r}" if raw_field is not None else "required")
    if not isinstance(op, str) or op not in OPS:
        errors.add(f"{path}.op", f"unknown operator {op!r}; use one of {', '.join(OPS)}"
                   if op is not None else "required")
        return {}
    if field is None:
        return {}
    ftype = field_type(field)
    if op not in OPS_BY_TYPE[ftype]:
        errors.add(f"{path}.op", f"'{op}' does not apply to {ftype} field '{field}'; "
                                 f"use one of {', '.join(sorted(OPS_BY_TYPE[ftype]))}")
        return {}
    if "value" not in data and op != "exists":
        errors.add(f"{path}.value", "required")
        return {}
    try:
        value = _value(field, ftype, op, data.get("value", True))
    except ValueError as exc:
        errors.add(f"{path}.value", str(exc))
        return {}
    return {"field": field, "op": op, "value": value}


def _value(field: str, ftype: str, op: str, value: Any) -> Any:
    if op == "exists":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if op == "within_days":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WITHIN_DAYS:
            raise ValueError(f"must be a whole number of days from 1 to {MAX_WITHIN_DAYS}")
        return value
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("must be a list [low, high]")
        low = _scalar(field, ftype, op, value[0], upper=False)
        high = _scalar(field, ftype, op, value[1], upper=True)
        if type(low) is not type(high) and not {type(low), type(high)} <= {int, float}:
            raise ValueError("low and high must be of the same kind")
        if _order_key(low) > _order_key(high):
            raise ValueError("low must not be greater than high")
        return [low, high]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list")
        if len(value) > MAX_IN_VALUES:
            raise ValueError(f"at most {MAX_IN_VALUES} values")
        items = [_scalar(field, ftype, op, item) for item in value]
        if ftype == ANY and len({type(i) for i in items}) > 1:
            raise ValueError("values must all be numbers or all be text")
        return items
    return _scalar(field, ftype, op, value, upper=op == "lte")


def _order_key(value: Any) -> Any:
    return to_datetime(value) if isinstance(value, str) else value


def _scalar(field: str, ftype: str, op: str, value: Any, upper: bool = False) -> Any:
    kind = ftype
    if ftype == ANY:
        if isinstance(value, bool):
            kind = BOOL
        elif isinstance(value, int | float):
            kind = NUMBER
        elif isinstance(value, str) and op in ("gt", "gte", "lt", "lte", "between"):
            kind = DATE
        else:
            kind = TEXT
    if kind in (TEXT, LIST):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be text")
        text = str(value).strip()
        if not text:
            raise ValueError("must not be blank")
        if len(text) > MAX_TEXT:
            raise ValueError(f"at most {MAX_TEXT} characters")
        return text
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("must be a number")
        return int(value) if float(value).is_integer() else float(value)
    if kind == BOOL:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    # DATE
    if not isinstance(value, str) or to_datetime(value) is None:
        raise ValueError("must be an ISO 8601 date or date-time, e.g. 2026-01-31")
    moment = to_datetime(value)
    assert moment is not None
    if _is_date_only(value) and upper:
        moment = moment + timedelta(days=1) - timedelta(microseconds=1)
    return moment.astimezone(UTC).isoformat()


def fields_used(criteria: Mapping[str, Any]) -> set[str]:
    """The canonical fields a normalised tree tests (to know which changes can matter)."""
    found: set[str] = set()
    for node in next(iter(criteria.values()), []):
        if "field" in node:
            found.add(node["field"])
        else:
            found |= fields_used(node)
    return found


def iter_conditions(criteria: Mapping[str, Any]):
    """Every condition of a normalised tree, depth first."""
    for node in next(iter(criteria.values()), []):
        if "field" in node:
            yield node
        else:
            yield from iter_conditions(node)


# -- evaluation ------------------------------------------------------------
def matches(criteria: Mapping[str, Any], record: Mapping[str, Any], now: datetime | None = None) -> bool:
    """True when ``record`` satisfies the normalised tree ``criteria``.

    ``record`` is a flat mapping of contact attributes named like the fields
    (``custom_fields`` and ``events`` are nested dicts; ``address`` may hold
    city/state/country). Dates may be datetimes or ISO strings.
    """
    moment = to_datetime(now) if now is not None else datetime.now(UTC)
    assert moment is not None
    return _match_group(criteria, record, moment)


def _match_group(group: Mapping[str, Any], record: Mapping[str, Any], now: datetime) -> bool:
    kind, items = next(iter(group.items()))
    results = (_match_group(node, record, now) if "field" not in node else
               _match_condition(node, record, now) for node in items)
    return all(results) if kind == "all" else any(results)


def record_value(record: Mapping[str, Any], field: str) -> Any:
    """The raw value of ``field`` in a flat (or API-shaped) contact record."""
    if field.startswith(CUSTOM_PREFIX):
        custom = record.get("custom_fields") or record.get("custom") or {}
        return custom.get(field[len(CUSTOM_PREFIX):]) if isinstance(custom, Mapping) else None
    if field.startswith(EVENT_PREFIX):
        events = record.get("events") or {}
        return events.get(field[len(EVENT_PREFIX):]) if isinstance(events, Mapping) else None
    if field in record:
        value = record[field]
        if field == "role_class" and value is None:
            return role_class(record.get("position"))
        return value
    if field == "name":
        parts = [record.get("first_name"), record.get("last_name")]
        return " ".join(str(p) for p in parts if p) or None
    if field in ("city", "state", "country"):
        address = record.get("address") or {}
        return address.get(field) if isinstance(address, Mapping) else None
    if field == "role_class":
        return role_class(record.get("position"))
    if field == "demo_requested":
        events = record.get("events") or {}
        return bool(isinstance(events, Mapping) and events.get("demo_requested"))
    return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, list | tuple | set) and len(value) == 0)


def _match_condition(cond: Mapping[str, Any], record: Mapping[str, Any], now: datetime) -> bool:
    field, op, expected = cond["field"], cond["op"], cond["value"]
    actual = record_value(record, field)
    kind = condition_kind(field, op, expected)
    if op == "exists":
        if kind == BOOL or (kind == ANY and isinstance(actual, bool)):
            return (actual is not None) == expected
        return (not _missing(actual)) == expected
    if field == "position":
        positive = {"ne": "eq", "not_contains": "contains", "not_in": "in"}.get(op, op)
        result = _position(actual, positive, expected, record)
        return not result if op in NEGATIVE_OPS else result
    if _missing(actual) and kind != BOOL:
        return op in NEGATIVE_OPS
    if kind == LIST:
        items = {str(v).strip().lower() for v in (actual if isinstance(actual, list | tuple | set) else [actual])}
        if op in ("contains", "not_contains"):
            found = str(expected).lower() in items
        else:
            found = bool(items & {str(v).lower() for v in expected})
        return found if op in ("contains", "in") else not found
    if kind == TEXT:
        text = str(actual).strip().lower()
        if op in ("eq", "ne"):
            same = text == str(expected).lower()
            return same if op == "eq" else not same
        if op in ("contains", "not_contains"):
            found = str(expected).lower() in text
            return found if op == "contains" else not found
        inside = text in {str(v).lower() for v in expected}
        return inside if op == "in" else not inside
    if kind == BOOL:
        flag = _as_bool(actual)
        if op == "eq":
            return flag is not None and flag == expected
        return flag is None or flag != expected
    if kind == NUMBER:
        number = to_number(actual)
        if number is None:
            return op in NEGATIVE_OPS
        return _compare(number, op, expected)
    # DATE
    moment = to_datetime(actual)
    if moment is None:
        return op in NEGATIVE_OPS
    if op == "within_days":
        return moment >= now - timedelta(days=int(expected))
    if op == "between":
        return to_datetime(expected[0]) <= moment <= to_datetime(expected[1])
    return _compare(moment, op, to_datetime(expected))


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0"):
        return False
    return None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "gt":
        return actual > expected
    if op == "gte":
        return actual >= expected
    if op == "lt":
        return actual < expected
    if op == "lte":
        return actual <= expected
    if op == "between":
        return expected[0] <= actual <= expected[1]
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    raise ValueError(f"operator {op} does not compare values")


def _position(actual: Any, op: str, expected: Any, record: Mapping[str, Any]) -> bool:
    """eq/contains/in on position, where a role class name also matches positions of that class."""
    text = str(actual).strip().lower() if not _missing(actual) else None
    klass = record_value(record, "role_class") if text is not None else None
    terms = expected if op == "in" else [expected]
    for term in terms:
        term_text = str(term).lower()
        if text is not None and ((op == "contains" and term_text in text) or
                                 (op in ("eq", "in") and term_text == text)):
            return True
        if klass is not None and role_class_term(term) == klass:
            return True
    return False
