"""The preview's count is exact and its sample is the top by score, whichever way the sample is found."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm_shared.criteria import matches, validate_criteria
from segments import membership, projection
from segments.query import compile_criteria

NOW = datetime.now(UTC)
PR = projection.P
STAGES = ["New", "Qualified", "Lost", None]


@pytest.fixture()
def tag(db_session) -> str:
    """40 contacts sharing a unique tag, with repeated scores (ties) and missing values."""
    tag = f"pv{uuid.uuid4().hex[:10]}"
    people = []
    for i in range(40):
        people.append({"id": f"pv-{tag}-{i:02d}", "first_name": f"P{i}", "last_name": "Preview",
                       "email": f"{tag}{i}@example.com", "updated_at": NOW.isoformat(),
                       "score": None if i % 13 == 0 else (i * 7) % 23, "company_size": i * 10,
                       "stage": STAGES[i % 4], "tags": [tag, "odd" if i % 2 else "even"]})
    projection.apply_snapshots(db_session, people)
    db_session.flush()
    return tag


CRITERIA = [
    [],
    [{"field": "score", "op": "gt", "value": 10}],
    [{"field": "stage", "op": "ne", "value": "Lost"}],
    [{"field": "company_size", "op": "gte", "value": 350}],
    [{"field": "tags", "op": "contains", "value": "odd"}, {"field": "score", "op": "lt", "value": 5}],
    [{"field": "email", "op": "contains", "value": "7@"}],
    [{"field": "stage", "op": "eq", "value": "nobody"}],
]


def _expected(session, tree, size: int) -> tuple[int, list[str]]:
    expr = compile_criteria(tree, NOW)
    count = session.scalar(sa.select(sa.func.count()).select_from(PR).where(expr))
    ids = list(session.scalars(sa.select(PR.c.contact_id).where(expr)
                               .order_by(PR.c.score.desc().nulls_last(), PR.c.contact_id).limit(size)))
    return count, ids


@pytest.mark.parametrize("walk", [1, 3, 5000], ids=lambda w: f"walk{w}")
@pytest.mark.parametrize("conditions", CRITERIA, ids=lambda c: "+".join(f"{x['field']}-{x['op']}" for x in c) or "tag")
def test_sample_is_the_top_by_score_whether_walked_or_filtered(db_session, tag, monkeypatch, walk, conditions):
    monkeypatch.setattr(membership, "SAMPLE_WALK", walk)
    tree = validate_criteria({"all": [{"field": "tags", "op": "contains", "value": tag}, *conditions]})
    for size in (0, 1, 10, 50):
        result = membership.preview(db_session, tree, size, now=NOW)
        count, ids = _expected(db_session, tree, size)
        assert result["count"] == count
        assert [row["id"] for row in result["sample"]] == ids
    in_python = [cid for cid in db_session.scalars(sa.select(PR.c.contact_id).where(PR.c.tags.any(tag)))
                 if matches(tree, projection.record(db_session, cid), now=NOW)]
    assert membership.preview(db_session, tree, 0, now=NOW)["count"] == len(in_python)


def _fail(*_args, **_kwargs):
    raise AssertionError("this path should not run")


def test_a_score_range_is_walked_within_itself(db_session, tag, monkeypatch):
    """Low scores: the walk starts at the criteria's own score bound, so no full scan is needed."""
    monkeypatch.setattr(membership, "_count_and_top", _fail)
    tree = validate_criteria({"all": [{"field": "score", "op": "lt", "value": 10},
                                      {"field": "tags", "op": "contains", "value": tag}]})
    result = membership.preview(db_session, tree, 3, now=NOW)
    assert (result["count"], [r["id"] for r in result["sample"]]) == _expected(db_session, tree, 3)


def test_sparse_matches_are_counted_and_sampled_in_one_scan(db_session, tag, monkeypatch):
    monkeypatch.setattr(membership, "_count", _fail)
    tree = validate_criteria({"all": [{"field": "tags", "op": "contains", "value": tag},
                                      {"field": "email", "op": "contains", "value": "7@"}]})
    result = membership.preview(db_session, tree, 10, now=NOW)
    assert result["count"] == 4
    assert (result["count"], [r["id"] for r in result["sample"]]) == _expected(db_session, tree, 10)
