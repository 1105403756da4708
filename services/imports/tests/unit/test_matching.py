"""Duplicate rules and confidences of seed 001, fuzzy matching, blocking and configurable rules."""
import pytest

from crm_shared.errors import ValidationFailed
from imports import matching

RULES = matching.DEFAULT_RULES


def rec(ref, **fields):
    return matching.record_from(ref, fields)


BASE = {"first_name": "John", "last_name": "Doe", "email": "john@acme.com", "phone": "+15551234567",
        "company": "Acme Corp", "address": {"street": "123 Main Street, Springfield"}}


@pytest.mark.parametrize(("other", "expected"), [
    ({**BASE}, ("exact", 100)),
    ({**BASE, "first_name": "JOHN", "last_name": "doe"}, ("exact", 100)),
    ({**BASE, "first_name": "Jane", "company": "Other"}, ("email", 95)),
    ({**BASE, "email": "jd@other.com", "first_name": "Jim", "company": "Other"}, ("phone", 90)),
    ({**BASE, "email": "jd@other.com", "phone": "+15559999999"}, ("name_company", 85)),
    ({**BASE, "email": "jd@other.com", "phone": "+15559999999", "company": "ACME, Inc."}, ("name_company", 85)),
])
def test_seed_match_types_and_confidences(other, expected):
    assert matching.compare(rec("a", **BASE), rec("b", **other), RULES) == expected


@pytest.mark.parametrize("other", [
    {"first_name": "Jon", "last_name": "Doe", "email": "jdoe@x.com", "company": "Acme Corporation"},   # typo
    {"first_name": "Johnny", "last_name": "Doe", "email": "jd@x.com", "company": "Acme"},             # nickname
    {"first_name": "Doe", "last_name": "John", "email": "x@y.com", "phone": "+15551234567"[:-1] + "0",
     "address": {"street": "123 Main St, Springfield"}},                                              # swapped
    {"first_name": "J", "last_name": "Doe", "email": "jd@x.com", "company": "Acme Corp"},              # initial
])
def test_fuzzy_matches_have_their_own_lower_confidence(other):
    found = matching.compare(rec("a", **BASE), rec("b", **other), RULES)
    assert found is not None and found[0] == "fuzzy"
    assert 50 <= found[1] <= RULES["fuzzy"]["max_confidence"]


def test_nickname_rule_is_symmetric_for_known_names():
    a = rec("a", first_name="Bob", last_name="Smith", email="b@x.com", company="Initech")
    b = rec("b", first_name="Robert", last_name="Smith", email="r@y.com", company="Initech LLC")
    assert matching.compare(a, b, RULES)[0] in ("fuzzy", "name_company")


@pytest.mark.parametrize("other", [
    {"first_name": "Jane", "last_name": "Roe", "email": "jane@acme.com".replace("jane", "roe"), "company": "Acme"},
    {"first_name": "John", "last_name": "Doe", "email": "john@else.com", "company": "Globex"},
    {"first_name": "Mary", "last_name": "Major", "email": "m@m.com"},
])
def test_different_people_do_not_match(other):
    assert matching.compare(rec("a", **BASE), rec("b", **other), RULES) is None


def test_rules_can_be_switched_off_and_confidences_changed():
    rules = matching.validate_rules({"email": {"enabled": False}, "phone": {"confidence": 70}})
    other = {**BASE, "first_name": "Jane", "company": "Other"}
    assert matching.compare(rec("a", **BASE), rec("b", **other), rules) == ("phone", 70)
    rules = matching.validate_rules({"fuzzy": {"enabled": False}})
    typo = {"first_name": "Jon", "last_name": "Doe", "email": "jdoe@x.com", "company": "Acme Corporation"}
    assert matching.compare(rec("a", **BASE), rec("b", **typo), rules) is None


@pytest.mark.parametrize("bad", [
    {"emial": {"enabled": True}}, {"email": {"enabled": "yes"}}, {"email": {"confidence": 101}},
    {"fuzzy": {"fields": ["shoe"]}}, {"exact": {"threshold": 3}}, [],
])
def test_invalid_rules_are_refused(bad):
    with pytest.raises(ValidationFailed):
        matching.validate_rules(bad)


def test_best_match_prefers_the_highest_confidence():
    incoming = rec("in", **BASE)
    candidates = [rec("c1", **{**BASE, "email": "other@acme.com", "phone": None}),
                  rec("c2", **{**BASE, "first_name": "Jane"}), rec("c3", **BASE)]
    best = matching.best_match(incoming, candidates, RULES)
    assert (best[0].ref, best[1], best[2]) == ("c3", "exact", 100)


def test_block_index_only_offers_records_sharing_a_key():
    index = matching.BlockIndex()
    for i in range(50):
        index.add(rec(f"r{i}", first_name=f"Person{i}", last_name=f"Family{i}", email=f"p{i}@x{i}.com"))
    index.add(rec("target", **BASE))
    assert [c.ref for c in index.candidates(rec("q", **BASE))] == ["target"]


def test_database_groups_join_pairs_transitively():
    records = [rec("1", **BASE), rec("2", **{**BASE, "first_name": "Jane"}),
               rec("3", **{**BASE, "email": "j2@acme.com", "first_name": "Jane"}),
               rec("4", first_name="Zed", last_name="Zulu", email="z@z.com")]
    groups = matching.find_groups(records, RULES)
    assert len(groups) == 1
    assert sorted(groups[0]["contact_ids"]) == ["1", "2", "3"]
    assert (groups[0]["match_type"], groups[0]["confidence"]) == ("email", 95)


def test_lookup_keys_carry_name_variants_but_no_company():
    keys = matching.lookup_keys(rec("a", first_name="Bob", last_name="Smith", email="b@x.com", company="Acme"))
    assert {"bob smith", "robert smith", "smith bob"} <= set(keys["name_keys"])
    assert keys["company_keys"] == [] and keys["emails"] == ["b@x.com"]
    full = matching.lookup_keys(rec("b", first_name="Robert", last_name="Smith"))
    assert "bob smith" in full["name_keys"]
