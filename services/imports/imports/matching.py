"""Duplicate matching shared by imports and the database-wide scan (seed 001, seed 000 §4.1).

Rule types and their confidences come from seed 001: exact (name and email)
100, email 95, phone 90, name+company 85. Beyond them a fuzzy rule compares
normalised name (nicknames folded), company, address and phone with rapidfuzz
and reports its own, lower confidence. Candidates are always found by
blocking keys first (email, phone, name, company, a fuzzy name key), never by
comparing every pair.
"""
from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from crm_shared import validators as v
from crm_shared.errors import ValidationFailed

MATCH_TYPES = ("exact", "email", "phone", "name_company", "fuzzy")
FUZZY_FIELDS = ("company", "address", "phone", "email")

DEFAULT_RULES: dict[str, Any] = {
    "exact": {"enabled": True, "confidence": 100},
    "email": {"enabled": True, "confidence": 95},
    "phone": {"enabled": True, "confidence": 90},
    "name_company": {"enabled": True, "confidence": 85},
    "fuzzy": {"enabled": True, "name_threshold": 85, "field_threshold": 85, "max_confidence": 84,
              "fields": ["company", "address", "phone"]},
}

NICKNAMES = {
    "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert", "bill": "william",
    "billy": "william", "will": "william", "liam": "william", "jim": "james", "jimmy": "james",
    "jamie": "james", "mike": "michael", "mikey": "michael", "mick": "michael", "dave": "david",
    "davy": "david", "tom": "thomas", "tommy": "thomas", "joe": "joseph", "joey": "joseph",
    "chris": "christopher", "kate": "katherine", "katie": "katherine", "kathy": "katherine",
    "cathy": "catherine", "liz": "elizabeth", "beth": "elizabeth", "betty": "elizabeth",
    "lizzie": "elizabeth", "eliza": "elizabeth", "jen": "jennifer", "jenny": "jennifer", "tony": "anthony",
    "dan": "daniel", "danny": "daniel", "sam": "samuel", "ben": "benjamin", "nick": "nicholas",
    "matt": "matthew", "steve": "stephen", "alex": "alexander", "andy": "andrew", "drew": "andrew",
    "rick": "richard", "dick": "richard", "rich": "richard", "ted": "edward", "ed": "edward",
    "eddie": "edward", "greg": "gregory", "jeff": "jeffrey", "jon": "john", "johnny": "john",
    "jack": "john", "pat": "patrick", "peggy": "margaret", "maggie": "margaret", "meg": "margaret",
    "sue": "susan", "susie": "susan", "larry": "lawrence", "charlie": "charles", "chuck": "charles",
    "frank": "francis", "fred": "frederick", "harry": "henry", "hank": "henry", "ken": "kenneth",
    "kim": "kimberly", "abby": "abigail", "becky": "rebecca", "vicky": "victoria", "tim": "timothy",
    "ron": "ronald", "don": "donald", "doug": "douglas", "phil": "philip", "ray": "raymond",
    "walt": "walter", "al": "albert", "vince": "vincent", "gerry": "gerald", "jerry": "gerald",
    "manny": "manuel", "pete": "peter", "zach": "zachary", "nate": "nathan", "josh": "joshua",
}

_COMPANY_SUFFIXES = {"inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company",
                     "gmbh", "ag", "sa", "sas", "srl", "bv", "nv", "plc", "pty", "oy", "ab", "kg", "the", "group"}
_NON_ALNUM = re.compile(r"[^0-9a-z ]+")
_STREET_WORDS = {"street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr",
                 "lane": "ln", "suite": "ste", "apartment": "apt", "north": "n", "south": "s", "east": "e",
                 "west": "w", "place": "pl", "court": "ct", "highway": "hwy"}


def rules_with_defaults(rules: dict[str, Any] | None) -> dict[str, Any]:
    merged = copy.deepcopy(DEFAULT_RULES)
    for kind, settings in (rules or {}).items():
        if kind in merged and isinstance(settings, dict):
            merged[kind].update(settings)
    return merged


def validate_rules(data: Any) -> dict[str, Any]:
    """Check a changed rule set (422 naming each bad setting) and merge it over the defaults."""
    if not isinstance(data, dict):
        raise ValidationFailed("rules must be an object", {"fields": {"rules": ["must be an object"]}})
    errors: dict[str, list[str]] = {}
    for kind, settings in data.items():
        if kind not in MATCH_TYPES:
            errors[kind] = [f"unknown match type; one of {list(MATCH_TYPES)}"]
            continue
        if not isinstance(settings, dict):
            errors[kind] = ["must be an object"]
            continue
        allowed = set(DEFAULT_RULES[kind])
        for key, value in settings.items():
            where = f"{kind}.{key}"
            if key not in allowed:
                errors[where] = [f"unknown setting; one of {sorted(allowed)}"]
            elif key == "enabled" and not isinstance(value, bool):
                errors[where] = ["must be true or false"]
            elif key in ("confidence", "name_threshold", "field_threshold", "max_confidence") and (
                    not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100):
                errors[where] = ["must be an integer from 1 to 100"]
            elif key == "fields" and (not isinstance(value, list) or not value
                                      or any(f not in FUZZY_FIELDS for f in value)):
                errors[where] = [f"must be a non-empty list of {list(FUZZY_FIELDS)}"]
    if errors:
        raise ValidationFailed("matching rules are invalid", {"fields": errors})
    return rules_with_defaults(data)


def company_key(value: str | None) -> str:
    """Company compared without case, punctuation or legal suffixes: 'ACME, Inc.' == 'Acme'."""
    words = _NON_ALNUM.sub(" ", v.normalize_name_key(value)).split()
    kept = [w for w in words if w not in _COMPANY_SUFFIXES]
    return " ".join(kept or words)


def name_key(first: str | None, last: str | None) -> str:
    """The exact-name key: accents, case and spacing folded (same as contacts' name key)."""
    return v.normalize_name_key(f"{first or ''} {last or ''}")


def _canonical_first(first: str) -> str:
    return NICKNAMES.get(first, first)


def _address_text(address: Any) -> str:
    if isinstance(address, dict):
        address = " ".join(str(address.get(k) or "") for k in ("street", "city", "state", "zip"))
    words = _NON_ALNUM.sub(" ", v.normalize_name_key(address)).split()
    return " ".join(_STREET_WORDS.get(w, w) for w in words)


@dataclass
class MatchRecord:
    """The normalised view of a contact or an import row that matching compares."""

    ref: str
    first: str = ""
    last: str = ""
    name: str = ""
    canonical_name: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    company: str = ""
    address: str = ""
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def email(self) -> str:
        return self.emails[0] if self.emails else ""

    @property
    def phone(self) -> str:
        return self.phones[0] if self.phones else ""

    @property
    def fuzzy_key(self) -> str:
        """Blocking key for typo matching: first initial + first 3 letters of the last name."""
        if not self.last or not self.first:
            return ""
        return f"{_canonical_first(self.first)[:1]}{self.last[:3]}"


def record_from(ref: str, data: dict[str, Any]) -> MatchRecord:
    """A MatchRecord from API-shaped contact fields (as import rows and contacts both use)."""
    first = v.normalize_name_key(data.get("first_name"))
    last = v.normalize_name_key(data.get("last_name"))
    first_tokens = first.split()
    canonical_first = " ".join([_canonical_first(first_tokens[0]), *first_tokens[1:]]) if first_tokens else ""
    emails = [v.normalize_email(data.get("email"))] + [v.normalize_email(e) for e in data.get("emails") or []]
    phones = [data.get("phone")] + list(data.get("phones") or [])
    phones = [p if p and p.startswith("+") else v.normalize_phone(p) for p in phones if p]
    return MatchRecord(ref=ref, first=first, last=last, name=name_key(first, last),
                       canonical_name=f"{canonical_first} {last}".strip(),
                       emails=tuple(e for e in emails if e), phones=tuple(p for p in phones if p),
                       company=company_key(data.get("company")), address=_address_text(data.get("address")),
                       data=data)


_NICKS_OF: dict[str, list[str]] = {}
for _nick, _full in NICKNAMES.items():
    _NICKS_OF.setdefault(_full, []).append(_nick)


def name_variants(record: MatchRecord) -> list[str]:
    """Exact-name keys worth looking up: as written, nickname folded both ways, first/last swapped."""
    if not record.name:
        return []
    variants = {record.name, record.canonical_name}
    if record.first and record.last:
        variants.add(name_key(record.last, record.first))
        tokens = record.first.split()
        canonical = _canonical_first(tokens[0])
        for nick in _NICKS_OF.get(canonical, [])[:6]:
            variants.add(name_key(" ".join([nick, *tokens[1:]]), record.last))
    return sorted(v for v in variants if v)


def lookup_keys(record: MatchRecord) -> dict[str, list[str]]:
    """Keys for contacts.match_candidates: emails, phones and name variants.

    Company keys are left out on purpose: against a large database one common
    company returns thousands of contacts per lookup. Name+company matches
    still share the name key; typo matches against the database need a shared
    email, phone or name variant (inside a file every key is blocked on).
    """
    return {"emails": list(record.emails), "phones": list(record.phones), "name_keys": name_variants(record),
            "company_keys": []}


def blocking_keys(record: MatchRecord) -> dict[str, list[str]]:
    """The keys contacts.match_candidates understands, plus the fuzzy name key."""
    companies = {c for c in (v.normalize_name_key(record.data.get("company")), record.company) if c}
    return {"emails": list(record.emails), "phones": list(record.phones),
            "name_keys": [record.name] if record.name else [],
            "company_keys": sorted(companies),
            "fuzzy_keys": [record.fuzzy_key] if record.fuzzy_key else []}


def _name_similarity(a: MatchRecord, b: MatchRecord) -> float:
    if not a.canonical_name or not b.canonical_name:
        return 0.0
    score = fuzz.token_sort_ratio(a.canonical_name, b.canonical_name)
    if a.last and a.last == b.last and a.first and b.first:
        fa, fb = _canonical_first(a.first.split()[0]), _canonical_first(b.first.split()[0])
        if len(fa) == 1 or len(fb) == 1:             # 'J Smith' vs 'John Smith'
            if fa[0] == fb[0]:
                score = max(score, 90.0)
    return score


def _field_similarity(kind: str, a: MatchRecord, b: MatchRecord) -> float | None:
    """0-100, or None when either side lacks the field."""
    if kind == "company":
        if not a.company or not b.company:
            return None
        return fuzz.token_set_ratio(a.company, b.company)
    if kind == "address":
        if not a.address or not b.address:
            return None
        return fuzz.token_set_ratio(a.address, b.address)
    if kind == "phone":
        if not a.phones or not b.phones:
            return None
        return 100.0 if any(x[-7:] == y[-7:] for x in a.phones for y in b.phones) else 0.0
    if kind == "email":
        if not a.emails or not b.emails:
            return None
        best = 0.0
        for x in a.emails:
            for y in b.emails:
                lx, _, dx = x.partition("@")
                ly, _, dy = y.partition("@")
                if dx == dy:
                    best = max(best, fuzz.ratio(lx, ly))
        return best
    return None


def compare(a: MatchRecord, b: MatchRecord, rules: dict[str, Any]) -> tuple[str, int] | None:
    """The strongest enabled rule that matches a and b: (match_type, confidence), or None."""
    same_email = bool(set(a.emails) & set(b.emails))
    same_name = bool(a.name) and a.name == b.name
    if same_email and same_name and rules["exact"]["enabled"]:
        return "exact", rules["exact"]["confidence"]
    if same_email and rules["email"]["enabled"]:
        return "email", rules["email"]["confidence"]
    if set(a.phones) & set(b.phones) and rules["phone"]["enabled"]:
        return "phone", rules["phone"]["confidence"]
    if same_name and a.company and a.company == b.company and rules["name_company"]["enabled"]:
        return "name_company", rules["name_company"]["confidence"]
    fuzzy = rules["fuzzy"]
    if not fuzzy["enabled"]:
        return None
    name_score = _name_similarity(a, b)
    if name_score < fuzzy["name_threshold"]:
        return None
    evidence = [s for s in (_field_similarity(k, a, b) for k in fuzzy["fields"]) if s is not None]
    supporting = [s for s in evidence if s >= fuzzy["field_threshold"]]
    if not supporting:
        return None
    combined = 0.5 * name_score + 0.5 * (sum(supporting) / len(supporting))
    if len(evidence) > len(supporting):             # a field that clearly disagrees lowers confidence
        combined -= 5 * (len(evidence) - len(supporting))
    confidence = min(fuzzy["max_confidence"], round(combined * fuzzy["max_confidence"] / 100))
    return ("fuzzy", confidence) if confidence > 0 else None


def best_match(record: MatchRecord, candidates: Iterable[MatchRecord],
               rules: dict[str, Any]) -> tuple[MatchRecord, str, int] | None:
    """The candidate with the highest confidence (ties: the first given)."""
    best: tuple[MatchRecord, str, int] | None = None
    for candidate in candidates:
        if candidate.ref == record.ref:
            continue
        found = compare(record, candidate, rules)
        if found and (best is None or found[1] > best[2]):
            best = (candidate, found[0], found[1])
    return best


class BlockIndex:
    """Records by blocking key, for matching within a file or across the database."""

    MAX_BLOCK = 200   # a key shared by more records than this is too common to block on

    def __init__(self) -> None:
        self.blocks: dict[str, list[MatchRecord]] = defaultdict(list)

    @staticmethod
    def keys(record: MatchRecord) -> list[str]:
        keys = [f"e:{e}" for e in record.emails] + [f"p:{p}" for p in record.phones]
        if record.name:
            keys.append(f"n:{record.name}")
        if record.company:
            keys.append(f"c:{record.company}")
        if record.fuzzy_key:
            keys.append(f"f:{record.fuzzy_key}")
        return keys

    def add(self, record: MatchRecord) -> None:
        for key in self.keys(record):
            block = self.blocks[key]
            if len(block) <= self.MAX_BLOCK:
                block.append(record)

    def candidates(self, record: MatchRecord) -> list[MatchRecord]:
        seen: dict[str, MatchRecord] = {}
        for key in self.keys(record):
            block = self.blocks.get(key, ())
            if len(block) > self.MAX_BLOCK and key[0] in "ncf":      # too common to tell anyone apart
                continue
            for candidate in block:
                seen.setdefault(candidate.ref, candidate)
        return list(seen.values())


def find_groups(records: Iterable[MatchRecord], rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Database-wide duplicate groups: pairs found through blocks, joined (union-find) into groups."""
    index = BlockIndex()
    parent: dict[str, str] = {}
    pairs: list[tuple[str, str, str, int]] = []
    by_ref: dict[str, MatchRecord] = {}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for record in records:
        by_ref[record.ref] = record
        parent[record.ref] = record.ref
        for candidate in index.candidates(record):
            found = compare(record, candidate, rules)
            if found:
                pairs.append((candidate.ref, record.ref, found[0], found[1]))
                parent[root(record.ref)] = root(candidate.ref)
        index.add(record)
    groups: dict[str, dict[str, Any]] = {}
    rank = {t: i for i, t in enumerate(MATCH_TYPES)}
    for a, b, kind, confidence in pairs:
        group = groups.setdefault(root(a), {"contact_ids": [], "pairs": [], "match_type": kind,
                                            "confidence": confidence})
        for ref in (a, b):
            if ref not in group["contact_ids"]:
                group["contact_ids"].append(ref)
        group["pairs"].append({"a": a, "b": b, "match_type": kind, "confidence": confidence})
        if confidence > group["confidence"] or (confidence == group["confidence"]
                                                 and rank[kind] < rank[group["match_type"]]):
            group["match_type"], group["confidence"] = kind, confidence
    result = []
    for group in groups.values():
        group["contacts"] = [by_ref[ref].data for ref in group["contact_ids"]]
        result.append(group)
    result.sort(key=lambda g: (-g["confidence"], g["contact_ids"][0]))
    return result
