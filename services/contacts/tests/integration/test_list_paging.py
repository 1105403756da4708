"""The one-statement list page (``capped_page``) answers exactly what a separate count and page would.

It reads the page from a capped CTE of the matches whenever they fit under the
count cap, so every sort key, page, the cap itself and an empty answer are
compared with the plain ``ORDER BY ... OFFSET ... LIMIT`` query.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from contacts import rules
from contacts.models import Contact, SearchTerm
from contacts.operations import SORTS, ContactOps, _broadest, capped_page, filter_conditions, order_by, parse_filters
from crm_shared.auth import Caller
from crm_shared.testing.helpers import letters


@pytest.fixture()
def tagged(db_session) -> str:
    """Twelve contacts sharing a unique search word, with ties and gaps in the sort columns."""
    word = letters()
    now = datetime.now(UTC)
    stages = ["New", "Customer", "Hot Lead"]
    for i in range(12):
        first, last = f"Ann{letters()[:3]}", f"{word}{'abc'[i % 3]}"
        contact = Contact(id=str(uuid.uuid4()), first_name=first, last_name=last,
                          name_key=rules.name_key(first, last), email=f"{word}.{i}@paging.test",
                          company=None if i % 4 == 0 else f"Co {i % 3}", position="Buyer" if i % 2 else None,
                          stage=stages[i % 3], score=(i * 7) % 5 * 10, channel="Webinar" if i % 2 else "Event",
                          tags=[], tag_keys=[], created_at=now - timedelta(hours=i % 5),
                          updated_at=now - timedelta(minutes=i),
                          last_contact_at=None if i % 3 == 0 else now - timedelta(days=i % 4),
                          search_text=rules.search_text(first, last, None, None, [], f"{word}.{i}@paging.test"))
        db_session.add(contact)
    db_session.add_all(SearchTerm(term=f"{word}{suffix}") for suffix in "abc")  # the typo vocabulary
    db_session.flush()
    return word


def _plain(session, conds, sort, offset, limit) -> list[str]:
    return list(session.scalars(sa.select(Contact.id).where(*conds).order_by(*order_by(sort))
                                .offset(offset).limit(limit)))


@pytest.mark.parametrize("sort", [*SORTS, *[f"-{key}" for key in SORTS]])
def test_every_sort_and_page_matches_the_plain_query(db_session, tagged, sort):
    conds = filter_conditions(db_session, parse_filters({"q": tagged}))
    for offset in (0, 5, 10, 15):
        total, capped, rows = capped_page(db_session, conds, sort, offset, 5)
        assert (total, capped) == (12, False)
        assert [c.id for c in rows] == _plain(db_session, conds, sort, offset, 5), (sort, offset)


def test_filters_cap_and_empty_answers(db_session, tagged):
    conds = filter_conditions(db_session, parse_filters({"q": tagged, "stage": "Customer", "channel": "webinar"}))
    expected = _plain(db_session, conds, None, 0, 50)
    total, capped, rows = capped_page(db_session, conds, None, 0, 50)
    assert (total, capped, [c.id for c in rows]) == (len(expected), False, expected)

    everything = filter_conditions(db_session, parse_filters({"q": tagged}))
    total, capped, rows = capped_page(db_session, everything, "name", 0, 3, cap=5)  # more matches than the cap
    assert (total, capped) == (5, True)
    assert [c.id for c in rows] == _plain(db_session, everything, "name", 0, 3)

    assert capped_page(db_session, everything, None, 40, 5) == (12, False, [])  # past the last page
    nothing = filter_conditions(db_session, parse_filters({"q": letters()}))
    assert capped_page(db_session, nothing, None, 0, 5) == (0, False, [])


def test_list_retries_a_typo_and_keeps_the_envelope(db_session, tagged):
    ops = ContactOps(db_session, Caller("t", "admin", "t"))
    exact = ops.list({"q": tagged}, page=2, per_page=5, sort="-score")
    assert (exact["total"], exact["total_capped"], len(exact["items"])) == (12, False, 5)
    assert ops.list({"q": tagged, "stage": "Lost"})["total"] == 0
    typo = f"{tagged[:4]}{'z' if tagged[4] != 'z' else 'y'}{tagged[5:]}a"  # one letter off the "...a" names
    fuzzy = ops.list({"q": typo, "stage": "New"})
    assert fuzzy["total"] == 4 and {c["last_name"] for c in fuzzy["items"]} == {f"{tagged}a"}


def test_broadest_keeps_only_words_no_other_word_is_part_of():
    assert _broadest(["martin", "martinez", "mary", "martin"]) == ["martin", "mary"]
    assert _broadest(["sanchez"]) == ["sanchez"]


def test_search_ignores_case_and_accents_on_both_sides(db_session):
    """The match is a plain LIKE: it relies on ``search_text`` and ``q`` both being normalised (casefolded)."""
    word = letters()
    first, last = "Zoë", f"Ärger-{word.title()}"
    text = rules.search_text(first, last, "Straße AG", "Chief Analyst", ["VIP"], f"{word}@Case.test")
    assert text == text.casefold()
    db_session.add(Contact(id=str(uuid.uuid4()), first_name=first, last_name=last, name_key=rules.name_key(first, last),
                           email=f"{word}@case.test", stage="New", tags=["VIP"], tag_keys=["vip"], search_text=text))
    db_session.flush()
    ops = ContactOps(db_session, Caller("t", "admin", "t"))
    for q in (f"ZOE ARGER-{word.upper()}", f"ärger-{word}", "STRASSE AG", "chief ANALYST", f"{word}@CASE"):
        assert ops.list({"q": q})["total"] == 1, q
