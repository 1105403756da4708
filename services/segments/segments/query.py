"""Criteria trees compiled to SQL over ``contact_projection``.

The semantics are those of ``crm_shared.criteria.matches`` (case-insensitive
text, missing values satisfying only the negative operators, role classes on
``position``), so a preview count, a full refresh and the per-contact update
all agree with the Python evaluator that scoring uses. Every value is a bound
parameter. Negative operators are made two-valued with ``coalesce`` (true
on NULL); positive ones are left bare (NULL acts as false) so indexes apply.
Text ``contains`` is ``lower(column) LIKE '%...%'``, which the trigram indexes
on email, name and company answer (``models.TRIGRAM_FIELDS``).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.sql.elements import ColumnElement

from crm_shared import criteria as c
from segments.models import ContactProjection

P = ContactProjection.__table__
_NUMBER_RE = r'^\s*(?:[<>]=?\s*)?(-?\d[\d,]*(?:\.\d+)?)'
_DATE_RE = r'^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$'
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")

# Fields stored under another column name or derived.
_COLUMN = {name: name for name in c.FIELDS}


def compile_criteria(tree: Mapping[str, Any], now: datetime | None = None) -> ColumnElement[bool]:
    """A boolean SQL expression for a normalised tree (only contacts a snapshot made ``known``)."""
    moment = now or datetime.now(UTC)
    return sa.and_(P.c.known.is_(True), _group(tree, moment))


def compile_body(tree: Mapping[str, Any], now: datetime | None = None) -> ColumnElement[bool]:
    """The tree alone (the caller restricts to ``known`` contacts), e.g. inside a CASE per segment."""
    return _group(tree, now or datetime.now(UTC))


def _group(tree: Mapping[str, Any], now: datetime) -> ColumnElement[bool]:
    kind, items = next(iter(tree.items()))
    parts = [_group(node, now) if "field" not in node else _condition(node, now) for node in items]
    return sa.and_(*parts) if kind == "all" else sa.or_(*parts)


def _text_value(raw: ColumnElement) -> ColumnElement:
    return sa.func.nullif(sa.func.lower(sa.func.trim(raw)), "")


def _raw(field: str) -> ColumnElement:
    if field.startswith(c.CUSTOM_PREFIX):
        return P.c.custom_fields.op("->>")(field[len(c.CUSTOM_PREFIX):])
    if field.startswith(c.EVENT_PREFIX):
        return P.c.events.op("->>")(field[len(c.EVENT_PREFIX):])
    return P.c[_COLUMN[field]]


def _value(field: str, kind: str) -> ColumnElement:
    """The comparable value of a field for a kind, NULL when missing or unparseable.

    Projection text columns are stored trimmed with blanks as NULL, so they
    need only ``lower()``; custom field text gets the full treatment.
    """
    raw = _raw(field)
    custom = field.startswith(c.CUSTOM_PREFIX)
    if kind == c.TEXT:
        return _text_value(raw) if custom else sa.func.lower(raw)
    if kind == c.LIST:
        return raw
    if kind == c.NUMBER:
        if not custom:
            return raw
        digits = sa.func.substring(raw, _NUMBER_RE)
        return sa.cast(sa.func.replace(digits, ",", ""), sa.Numeric)
    if kind == c.BOOL:
        if not custom:
            return raw
        word = sa.func.lower(sa.func.trim(raw))
        return sa.case((word.in_(TRUE_WORDS), sa.true()), (word.in_(FALSE_WORDS), sa.false()), else_=sa.null())
    if kind == c.DATE:
        if field.startswith(c.EVENT_PREFIX):
            return sa.cast(raw, sa.DateTime(timezone=True))
        if not custom:
            return raw
        text = sa.func.trim(raw)
        return sa.case((text.op("~")(_DATE_RE), sa.cast(text, sa.DateTime(timezone=True))), else_=sa.null())
    raise ValueError(kind)


def _exists(field: str, kind: str) -> ColumnElement[bool]:
    raw = _raw(field)
    if field.startswith(c.CUSTOM_PREFIX):
        key = field[len(c.CUSTOM_PREFIX):]
        node = P.c.custom_fields.op("->")(key)
        return sa.and_(_text_value(raw).is_not(None), node != sa.cast(sa.literal("[]"), JSONB))
    ftype = c.field_type(field)
    if ftype == c.TEXT:
        return raw.is_not(None)
    if ftype == c.LIST:
        return sa.func.coalesce(sa.func.cardinality(raw), 0) > 0
    return raw.is_not(None)


def _lowered(values: list[Any]) -> list[str]:
    return [str(v).lower() for v in values]


def _positive(field: str, kind: str, op: str, expected: Any, now: datetime) -> ColumnElement[bool]:
    """The positive form of ``op`` (eq for ne, contains for not_contains, in for not_in)."""
    value = _value(field, kind)
    if kind == c.LIST:
        if op == "contains":
            return value.op("@>")(sa.cast(sa.literal([str(expected).lower()], ARRAY(sa.Text)), ARRAY(sa.Text)))
        return value.op("&&")(sa.cast(sa.literal(_lowered(expected), ARRAY(sa.Text)), ARRAY(sa.Text)))
    if kind == c.TEXT:
        if field == "position":
            return _position(value, op, expected)
        if op == "eq":
            return value == str(expected).lower()
        if op == "contains":
            return _contains(value, str(expected).lower())
        return value.in_(_lowered(expected))
    if kind == c.BOOL:
        return value == sa.literal(bool(expected))
    if kind == c.DATE:
        if op == "within_days":
            return value >= now - timedelta(days=int(expected))
        if op == "between":
            return value.between(c.to_datetime(expected[0]), c.to_datetime(expected[1]))
        return _compare(value, op, c.to_datetime(expected))
    # NUMBER
    if op == "between":
        return value.between(expected[0], expected[1])
    if op == "in":
        return value.in_(list(expected))
    return _compare(value, op, expected)


def _contains(value: ColumnElement, text: str) -> ColumnElement[bool]:
    """A substring test as ``LIKE '%text%'`` (wildcards in the text escaped), which trigram indexes answer."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return value.like(f"%{escaped}%")


def _compare(value: ColumnElement, op: str, expected: Any) -> ColumnElement[bool]:
    return {"eq": value.__eq__, "gt": value.__gt__, "gte": value.__ge__,
            "lt": value.__lt__, "lte": value.__le__}[op](expected)


def _position(value: ColumnElement, op: str, expected: Any) -> ColumnElement[bool]:
    terms = expected if op == "in" else [expected]
    parts: list[ColumnElement[bool]] = []
    for term in terms:
        text = str(term).lower()
        parts.append(_contains(value, text) if op == "contains" else value == text)
        klass = c.role_class_term(term)
        if klass is not None:
            parts.append(sa.and_(value.is_not(None), P.c.role_class == klass))
    return sa.or_(*parts)


def _condition(cond: Mapping[str, Any], now: datetime) -> ColumnElement[bool]:
    field, op, expected = cond["field"], cond["op"], cond["value"]
    kind = c.condition_kind(field, op, expected)
    if op == "exists":
        present = _exists(field, kind)
        return present if expected else sa.not_(present)
    if op in c.NEGATIVE_OPS:
        positive = {"ne": "eq", "not_contains": "contains", "not_in": "in"}[op]
        return sa.func.coalesce(sa.not_(_positive(field, kind, positive, expected, now)), sa.true())
    # Positive conditions stay bare so the planner can use indexes: a NULL is
    # already false wherever they appear (AND/OR in WHERE, bool() of a column),
    # since the only NOT in a compiled tree wraps them in coalesce above.
    return _positive(field, kind, op, expected, now)
