"""Criteria as the seed shows them: "Score > 80 AND Company Size > 100"."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LABELS = {"score": "Score", "engagement_level": "Engagement", "company_size": "Company Size",
          "demo_requested": "Demo Requested", "last_email_opened_at": "Email Opened", "owner_id": "Owner",
          "role_class": "Role Class", "campaign_ids": "Campaign", "campaigns": "Campaign"}
SYMBOLS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤",
           "contains": "contains", "not_contains": "does not contain"}


def _label(field: str) -> str:
    if field in LABELS:
        return LABELS[field]
    if "." in field:
        prefix, key = field.split(".", 1)
        return f"{key.replace('_', ' ').title()} ({prefix})"
    return field.replace("_", " ").title()


def _value(field: str, value: Any) -> str:
    if isinstance(value, str):
        text = value[:10] if field.endswith("_at") and len(value) > 10 else value
        return f'"{text}"' if " " in text else text
    if field == "engagement_level" and isinstance(value, int | float):
        return f"{value:g}%"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _condition(cond: Mapping[str, Any]) -> str:
    field, op, value = cond["field"], cond["op"], cond["value"]
    label = _label(field)
    if op == "exists":
        return f"{label} is set" if value else f"{label} is not set"
    if op == "eq" and value is True:
        return label
    if op == "eq" and value is False:
        return f"NOT {label}"
    if op == "within_days":
        return f"{label} within {value} days"
    if op == "between":
        return f"{label} between {_value(field, value[0])} and {_value(field, value[1])}"
    if op in ("in", "not_in"):
        word = "in" if op == "in" else "not in"
        return f"{label} {word} ({', '.join(_value(field, v) for v in value)})"
    return f"{label} {SYMBOLS[op]} {_value(field, value)}"


def describe(tree: Mapping[str, Any] | None, nested: bool = False) -> str:
    if not tree:
        return ""
    kind, items = next(iter(tree.items()))
    parts = [_condition(n) if "field" in n else describe(n, nested=True) for n in items]
    text = (" AND " if kind == "all" else " OR ").join(parts)
    return f"({text})" if nested and len(parts) > 1 else text
