"""Request parsing at the edge: marshmallow schemas, paging and the list envelope.

Unknown body fields are a 400 that names them (RELIABILITY A3); bad values a
422 that names each field and the reason.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from crm_shared.errors import BadRequest, ValidationFailed

UNKNOWN_FIELD = "Unknown field."
# Integers past this are not exact in JSON clients and overflow PostgreSQL arithmetic (offsets, bigint).
SAFE_INTEGER = 2**53 - 1
PAGE_MAX = 100_000
MAX_UTC_OFFSET = timedelta(hours=14)  # the widest real-world offset (UTC+14, Kiribati)


def check_values(data: Any, path: str = "") -> None:
    """Refuse values no service could store: NUL characters, integers beyond 2**53, offsets past ±14:00."""
    problems: dict[str, list[str]] = {}

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str) and "\x00" in value:
            problems.setdefault(where or "body", []).append("must not contain NUL characters")
        elif isinstance(value, bool):
            return
        elif isinstance(value, datetime):
            offset = value.utcoffset()
            if offset is not None and abs(offset) > MAX_UTC_OFFSET:
                problems.setdefault(where or "body", []).append("time zone offset must be within ±14:00")
        elif isinstance(value, int) and abs(value) > SAFE_INTEGER:
            problems.setdefault(where or "body", []).append(f"must be between -{SAFE_INTEGER} and {SAFE_INTEGER}")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")

    walk(data, path)
    if problems:
        raise ValidationFailed("Validation failed", {"fields": problems})


def _raise_for(exc: ValidationError) -> None:
    messages = exc.normalized_messages()
    unknown = [k for k, v in messages.items() if v == [UNKNOWN_FIELD]] if isinstance(messages, dict) else []
    if unknown and len(unknown) == len(messages):
        raise BadRequest("unknown fields in request body", {"fields": {k: ["unknown field"] for k in unknown}})
    raise ValidationFailed("Validation failed", {"fields": messages})


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        if request.data:
            raise BadRequest("request body is not valid JSON")
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return data


def load_body(schema: Schema | type[Schema], partial: bool = False) -> dict[str, Any]:
    instance = schema() if isinstance(schema, type) else schema
    body = json_body()
    check_values(body)
    try:
        loaded = instance.load(body, partial=partial, unknown=RAISE)
    except ValidationError as exc:
        _raise_for(exc)
        raise
    check_values(loaded)  # again on loaded values: dates exist only after loading
    return loaded


def load_query(schema: Schema | type[Schema]) -> dict[str, Any]:
    instance = schema() if isinstance(schema, type) else schema
    raw: dict[str, Any] = {}
    for key in request.args:
        field = instance.fields.get(key)
        values = request.args.getlist(key)
        if isinstance(field, fields.List):
            raw[key] = [v for value in values for v in value.split(",") if v != ""]
        else:
            raw[key] = values[-1]
    try:
        loaded = instance.load(raw, unknown="exclude")
    except ValidationError as exc:
        raise ValidationFailed("Invalid query parameters", {"fields": exc.normalized_messages()}) from exc
    check_values(loaded)
    if isinstance(loaded.get("page"), int) and loaded["page"] > PAGE_MAX:
        raise ValidationFailed("Invalid query parameters", {"fields": {"page": [f"must be at most {PAGE_MAX}"]}})
    return loaded


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def page_envelope(items: list, total: int, page: int, per_page: int, **extra: Any) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "per_page": per_page, **extra}


def doc(summary: str = "", body: type[Schema] | None = None, query: type[Schema] | None = None,
        response: type[Schema] | None = None, status: int = 200, tags: list[str] | None = None,
        public: bool = False) -> Callable:
    """Attach OpenAPI facts to a view; the document is built from these and the same schemas."""

    def decorator(view: Callable) -> Callable:
        view._crm_doc = {"summary": summary or (view.__doc__ or "").strip().split("\n")[0],
                         "body": body, "query": query, "response": response, "status": status,
                         "tags": tags or [], "public": public}
        return view

    return decorator
