"""Property-based tests (Hypothesis) of the CSV reader, the field validators and the criteria parser.

Whatever bytes or values come in, each answers with a result or its own typed
refusal — never an unexpected exception, never mojibake, never a lost cell.
"""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_shared import criteria, validators
from crm_shared.errors import ValidationFailed
from imports import reader

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(st.binary(max_size=4096))
def test_reader_accepts_or_refuses_any_bytes(data):
    try:
        parsed = reader.parse(data)
    except (reader.NotCsv, reader.TooManyRows):
        return
    assert parsed.headers and all("\ufeff" not in h for h in parsed.headers)
    assert all(row.row >= 1 and row.line >= 1 for row in parsed.rows)


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00")
               | st.sampled_from([",", '"', "\n", "\r", ";", "\t", " "]), max_size=40)


@FAST
@given(st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=20), st.booleans())
def test_quoted_fields_round_trip_exactly(rows, with_bom):
    """RELIABILITY I5: embedded commas, quotes and newlines survive; a BOM never leaks into a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["Name", "Email", "Notes"])
    writer.writerows(rows)
    data = (b"\xef\xbb\xbf" if with_bom else b"") + buffer.getvalue().encode("utf-8")
    expected = [r for r in rows if any(c.strip() for c in r)]
    if not expected:
        with pytest.raises(reader.NotCsv):
            reader.parse(data)
        return
    parsed = reader.parse(data)
    assert parsed.headers == ["Name", "Email", "Notes"]
    got = [row.cells + [""] * (3 - len(row.cells)) for row in parsed.rows]
    assert got == expected


@FAST
@given(st.text(max_size=80))
def test_email_validation_is_total_and_idempotent(value):
    try:
        email = validators.validate_email_address(value)
    except validators.FieldError as err:
        assert err.kind in validators.ERROR_CATEGORY_LABELS
        return
    assert email == email.strip().lower()
    assert validators.validate_email_address(email) == email


@FAST
@given(st.text(max_size=40))
def test_phone_validation_is_total_and_idempotent(value):
    try:
        phone = validators.validate_phone(value)
    except validators.FieldError as err:
        assert err.kind in validators.ERROR_CATEGORY_LABELS
        return
    if phone is not None:
        assert phone.startswith("+") and phone[1:].isdigit()
        assert validators.validate_phone(phone) == phone


@FAST
@given(st.lists(st.text(max_size=60), max_size=30))
def test_tag_validation_never_exceeds_limits(values):
    try:
        tags = validators.validate_tags(values)
    except validators.FieldError:
        return
    assert len(tags) <= validators.TAGS_MAX_COUNT
    assert all(0 < len(t) <= validators.TAG_MAX_LENGTH for t in tags)
    assert len({t.casefold() for t in tags}) == len(tags)


@FAST
@given(st.text(max_size=60))
def test_formula_neutralising_is_total(value):
    out = validators.neutralize_spreadsheet_cell(value)
    assert not out.startswith(validators.FORMULA_PREFIXES)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
conditions = st.fixed_dictionaries({
    "field": st.sampled_from(["score", "stage", "tags", "company_size", "position", "created_at", "nope", ""]),
    "op": st.sampled_from(["eq", "ne", "contains", "gt", "between", "in", "exists", "within_days", "bad"]),
    "value": json_values,
})
criteria_trees = st.recursive(conditions, lambda children: st.dictionaries(
    st.sampled_from(["all", "any", "none"]), st.lists(children, max_size=3), min_size=1, max_size=1), max_leaves=8)


@FAST
@given(criteria_trees | json_values)
def test_criteria_parser_accepts_or_names_the_bad_part(data):
    try:
        tree = criteria.validate_criteria(data)
    except ValidationFailed as err:
        assert err.details, "a refusal must say which part is wrong"
        return
    record = {"score": 50, "stage": "New", "tags": ["vip"], "company_size": 200, "position": "CEO"}
    assert criteria.matches(tree, record) in (True, False)
