"""Text ``contains`` compiles to ``LIKE '%...%'``: wildcards in the value are literal, trigram indexes answer it."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm_shared.criteria import matches, validate_criteria
from segments import membership, projection
from segments.models import TRIGRAM_FIELDS
from segments.query import compile_criteria

NOW = datetime.now(UTC)
PR = projection.P
# Values with LIKE's wildcards and its escape character, and names that match them only as wildcards.
TEXTS = ["100% Pure_Co", "100x Pure Co", "a\\b Ltd", "ab Ltd", "Ünïcode GmbH", "under_score", "underXscore", None]
NEEDLES = ["%", "_", "\\", "0% p", "e_s", "a\\b", "ünï", "PURE", "no such text"]


@pytest.fixture()
def texts(db_session) -> list[str]:
    tag = f"ct{uuid.uuid4().hex[:10]}"
    people = [{"id": f"{tag}-{i}", "first_name": text, "last_name": None, "company": text, "department": text,
               "email": f"{(text or 'none').replace(' ', '.')}.{tag}@example.com", "updated_at": NOW.isoformat(),
               "tags": [tag], "custom_fields": {"note": text} if text else {}}
              for i, text in enumerate(TEXTS)]
    projection.apply_snapshots(db_session, people)
    db_session.flush()
    return [p["id"] for p in people]


@pytest.mark.parametrize("needle", NEEDLES)
@pytest.mark.parametrize("field", ["email", "name", "company", "department", "custom.note"])
@pytest.mark.parametrize("op", ["contains", "not_contains"])
def test_contains_is_a_literal_substring_test(db_session, texts, field, op, needle):
    tree = validate_criteria({"all": [{"field": field, "op": op, "value": needle}]})
    in_sql = set(db_session.scalars(sa.select(PR.c.contact_id).where(PR.c.contact_id.in_(texts),
                                                                     compile_criteria(tree, NOW))))
    in_python = {cid for cid in texts if matches(tree, projection.record(db_session, cid), now=NOW)}
    assert in_sql == in_python


@pytest.mark.parametrize("field", TRIGRAM_FIELDS)
def test_contains_on_indexed_fields_uses_the_trigram_index(db_session, texts, field):
    tree = validate_criteria({"all": [{"field": field, "op": "contains", "value": "pure_co"}]})
    stmt = sa.select(sa.func.count()).select_from(PR).where(compile_criteria(tree, NOW))
    db_session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db_session.scalars(sa.text("EXPLAIN " + str(stmt.compile(
        db_session.get_bind(), compile_kwargs={"literal_binds": True})))))
    assert f"ix_projection_{field}_trgm" in plan
    tag = projection.record(db_session, texts[0])["tags"][0]
    tree = validate_criteria({"all": [*tree["all"], {"field": "tags", "op": "contains", "value": tag}]})
    expected = [cid for cid in texts if matches(tree, projection.record(db_session, cid), now=NOW)]
    result = membership.preview(db_session, tree, 5, now=NOW)
    assert (result["count"], [row["id"] for row in result["sample"]]) == (1, expected)  # "_" is no wildcard
