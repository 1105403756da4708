"""RPC arguments arrive as JSON: ISO 8601 strings become aware datetimes here, naming the bad field."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from messaging.rules import fail


def parse_datetime(field: str, value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise fail(field, "needs a timezone")
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(field, "not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise fail(field, "needs a timezone")
    return parsed


def parse_date(field: str, value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise fail(field, "not an ISO 8601 date") from exc


def parse_datetimes(data: Mapping[str, Any], fields: Iterable[str], dates: Iterable[str] = (),
                    nested: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """A copy of ``data`` with the named fields parsed."""
    out = dict(data or {})
    for field in fields:
        if field in out:
            out[field] = parse_datetime(field, out[field])
    for field in dates:
        if field in out:
            out[field] = parse_date(field, out[field])
    for key, inner in (nested or {}).items():
        if isinstance(out.get(key), Mapping):
            parsed = dict(out[key])
            for field in inner:
                if field in parsed:
                    parsed[field] = parse_datetime(f"{key}.{field}", parsed[field])
            out[key] = parsed
    return out
