"""Contact operations: create, edit, delete, list/search, KPIs, bulk, export, merge, imports.

``ContactOps`` binds the session, the verified caller and an ``emit`` function
(the outbox) so the entrypoints stay one line each. Rules come from
``contacts.rules``; every change writes its audit record and its events in the
same transaction.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from contacts import audit, rules
from contacts.activity import activity_row, add_activity
from contacts.models import Activity, Company, Contact, Note, SearchTerm, StageChange, User, new_id
from crm_shared import validators as v
from crm_shared.auth import ADMIN, MARKETING, SALES, SYSTEM, Caller
from crm_shared.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, ValidationFailed

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Any]
EmitMany = Callable[[str, list[dict[str, Any]]], Any]

SORTS: dict[str, Any] = {
    "name": (Contact.last_name, Contact.first_name), "first_name": (Contact.first_name,),
    "last_name": (Contact.last_name,), "company": (Contact.company,), "score": (Contact.score,),
    "stage": (Contact.stage,), "created_at": (Contact.created_at,), "updated_at": (Contact.updated_at,),
    "last_contact_at": (Contact.last_contact_at,), "position": (Contact.position,),
}
LIST_FILTERS = ("q", "stage", "company", "score_min", "score_max", "channel", "type", "tag", "owner_id",
                "created_from", "created_to", "segment_id", "import_id", "inactive_days", "inactive", "ids",
                "company_id", "unsubscribed")
TRIGRAM_THRESHOLD = 0.3
# The fields of a duplicate candidate (contacts.match_candidates): what imports match on and show in review.
MATCH_VIEW = ("id", "first_name", "last_name", "email", "emails", "phone", "phones", "company", "position",
              "address", "tags", "owner_id", "stage", "type", "department", "industry", "updated_at")
COUNT_CAP = 10000
SLOW_LIST_MS = 250.0
KPI_CACHE_SECONDS = 30.0
EXPORT_HOURLY_QUOTA = 20
_kpi_cache: dict[str, tuple[float, dict[str, Any]]] = {}
TAG_CACHE_SECONDS = 60.0
_tag_cache: dict[str, tuple[float, list[tuple[str, int]]]] = {}


def invalidate_kpis() -> None:
    """A write in this process makes the cached KPI cards and tag counts stale at once."""
    _kpi_cache.clear()
    _tag_cache.clear()


def email_conflict(existing_id: str) -> Conflict:
    """The 409 for an email another contact has, pointing to that contact."""
    return Conflict("a contact with this email already exists",
                    {"existing_id": existing_id, "contact_id": existing_id, "field": "email"})


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _fields_error(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed("Validation failed", {"fields": {field: [reason]}})


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(x) for x in value if str(x).strip()]
    return [part for part in str(value).split(",") if part.strip()]


def _as_datetime(value: Any, field: str, end: bool = False) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _fields_error(field, "must be an ISO 8601 date or date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _as_int(value: Any, field: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise _fields_error(field, "must be a whole number") from exc
    if not low <= number <= high:
        raise _fields_error(field, f"must be between {low} and {high}")
    return number


def parse_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    """The API.md list filters, typed; unknown names are a 400 so a typo never returns everything."""
    filters = {k: val for k, val in (filters or {}).items() if val not in (None, "", [])}
    unknown = sorted(set(filters) - set(LIST_FILTERS))
    if unknown:
        raise BadRequest("unknown filters", {"fields": {k: ["unknown filter"] for k in unknown}})
    out: dict[str, Any] = {}
    if "q" in filters:
        out["q"] = v.normalize_name_key(str(filters["q"]))[:200]
    for name in ("stage", "channel", "type", "tag", "owner_id", "company", "ids", "company_id"):
        if name in filters:
            out[name] = _as_list(filters[name])
    if "stage" in out:
        try:
            out["stage"] = [rules.canonical_stage(s) for s in out["stage"]]
        except v.FieldError as exc:
            raise _fields_error("stage", exc.message) from exc
    out["score_min"] = _as_int(filters.get("score_min"), "score_min", 0, 100)
    out["score_max"] = _as_int(filters.get("score_max"), "score_max", 0, 100)
    if out["score_min"] is not None and out["score_max"] is not None and out["score_min"] > out["score_max"]:
        raise _fields_error("score_min", "must not be above score_max")
    out["created_from"] = _as_datetime(filters.get("created_from"), "created_from")
    out["created_to"] = _as_datetime(filters.get("created_to"), "created_to", end=True)
    out["inactive_days"] = _as_int(filters.get("inactive_days"), "inactive_days", 1, 36500)
    if str(filters.get("inactive", "")).lower() in ("1", "true", "yes"):
        out["inactive_days"] = out["inactive_days"] or rules.INACTIVE_DAYS
    if "unsubscribed" in filters:
        out["unsubscribed"] = str(filters["unsubscribed"]).lower() in ("1", "true", "yes")
    for name in ("segment_id", "import_id"):
        if name in filters:
            out[name] = str(filters[name])
    return {k: val for k, val in out.items() if val is not None}


def filter_conditions(session: Session, parsed: dict[str, Any]) -> list[Any]:
    """SQL conditions for parsed filters (``segment_id`` must already be resolved into ``ids``)."""
    conds: list[Any] = []
    if parsed.get("q"):
        conds.append(_search_condition(session, parsed["q"], fuzzy=parsed.get("fuzzy", False)))
    if parsed.get("stage"):
        conds.append(Contact.stage.in_(parsed["stage"]))
    if parsed.get("channel"):
        conds.append(sa.func.lower(Contact.channel).in_([c.lower() for c in parsed["channel"]]))
    if parsed.get("type"):
        conds.append(sa.func.lower(Contact.type).in_([t.lower() for t in parsed["type"]]))
    if parsed.get("tag"):
        conds.append(Contact.tag_keys.overlap([rules.tag_key(t) for t in parsed["tag"]]))
    if parsed.get("owner_id"):
        conds.append(Contact.owner_id.in_(parsed["owner_id"]))
    if parsed.get("company"):
        keys = [rules.company_key(c) for c in parsed["company"]]
        conds.append(Contact.company_id.in_(sa.select(Company.id).where(Company.name_key.in_(keys))))
    if parsed.get("company_id"):
        conds.append(Contact.company_id.in_(parsed["company_id"]))
    if "ids" in parsed:
        conds.append(Contact.id.in_(parsed["ids"]))
    if parsed.get("score_min") is not None:
        conds.append(Contact.score >= parsed["score_min"])
    if parsed.get("score_max") is not None:
        conds.append(Contact.score <= parsed["score_max"])
    if parsed.get("created_from"):
        conds.append(Contact.created_at >= parsed["created_from"])
    if parsed.get("created_to"):
        conds.append(Contact.created_at < parsed["created_to"])
    if parsed.get("inactive_days"):
        conds.append(Contact.last_activity_at < sa.func.now() - timedelta(days=parsed["inactive_days"]))
    if parsed.get("import_id"):
        conds.append(Contact.import_id == parsed["import_id"])
    if "unsubscribed" in parsed:
        conds.append(Contact.unsubscribed.is_(parsed["unsubscribed"]))
    return conds


def _like(term: str) -> Any:
    """Substring match of a normalised term on ``search_text``.

    Both sides went through ``normalize_name_key`` (accent-free, casefolded),
    so a case-sensitive LIKE finds exactly what ILIKE did without lowercasing
    both strings for every candidate the trigram index returns: the check
    itself is about five times cheaper (0.55 against 3 µs over 200,000 search
    texts), a capped count rechecking 10,001 rows 25 instead of 32 ms.
    """
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Contact.search_text.like(f"%{escaped}%")


def similar_terms(session: Session, word: str, limit: int = 3) -> list[str]:
    """Vocabulary words that look like ``word`` (trigram similarity), closest first."""
    session.execute(sa.text(f"SET LOCAL pg_trgm.similarity_threshold = {TRIGRAM_THRESHOLD}"))
    similarity = sa.func.similarity(SearchTerm.term, word)
    return list(session.scalars(sa.select(SearchTerm.term).where(SearchTerm.term.op("%")(word))
                                .order_by(similarity.desc(), SearchTerm.term).limit(limit)))


def _search_condition(session: Session, q: str, fuzzy: bool) -> Any:
    """Substring match on ``search_text``; with ``fuzzy``, each word may be any similar vocabulary word.

    Typos are resolved against the small vocabulary table, never by rechecking
    every contact, so a misspelt search costs a few index lookups at any size.
    """
    if not fuzzy:
        return _like(q)
    per_word = []
    for word in q.split():
        candidates = [word] if len(word) < 3 else (similar_terms(session, word) or [word])
        per_word.append(sa.or_(*[_like(c) for c in _broadest(candidates)]))
    return sa.and_(*per_word)


def _broadest(words: list[str]) -> list[str]:
    """Drop words that contain another of them: "martinez" matches nothing "martin" does not.

    Each alternative is one more index scan; the substring match of the
    shorter word already covers the longer one, so the result is the same.
    """
    unique = list(dict.fromkeys(words))
    return [w for w in unique if not any(o != w and o in w for o in unique)]


def search_conditions(session: Session, parsed: dict[str, Any]) -> list[Any]:
    """Conditions for the filters; a search term with no exact hit is retried typo-tolerantly.

    The substring match is cheap on the trigram index. Only when it finds
    nothing (terms of 4+ characters) is each word swapped for the vocabulary
    words that look like it ("Sanchex" -> "sanchez") and matched again.
    """
    conds = filter_conditions(session, parsed)
    exact_hit = sa.select(sa.literal(1)).select_from(Contact).where(*conds).limit(1)
    if may_retry_fuzzy(parsed) and session.scalar(exact_hit) is None:
        conds = filter_conditions(session, {**parsed, "fuzzy": True})
    return conds


def may_retry_fuzzy(parsed: dict[str, Any]) -> bool:
    """A search term of 4+ characters with no exact hit is retried typo-tolerantly."""
    q = parsed.get("q")
    return bool(q) and len(q) >= 4


def capped_count(session: Session, conds: list[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """The number of matches, counting at most ``cap`` (a broad search never counts a million rows)."""
    inner = sa.select(sa.literal(1)).select_from(Contact).where(*conds).limit(cap + 1).subquery()
    total = session.scalar(sa.select(sa.func.count()).select_from(inner))
    return min(total, cap), total > cap


def sort_spec(sort: str | None) -> tuple[str, bool]:
    """``(SORTS key, descending)`` for an API ``sort`` value; an unknown key is a 422 naming ``sort``."""
    sort = (sort or "-created_at").strip()
    key = sort.lstrip("-+")
    if key not in SORTS:
        raise _fields_error("sort", f"must be one of {', '.join(sorted(SORTS))} (prefix - for descending)")
    return key, sort.startswith("-")


def _ordering(columns: list[Any], nullable: list[bool], id_column: Any, descending: bool) -> list[Any]:
    # NULLS LAST only where a column can be null: on NOT NULL columns it would stop the index serving the order
    ordered = [(c.desc().nulls_last() if descending else c.asc().nulls_last()) if null else
               (c.desc() if descending else c.asc()) for c, null in zip(columns, nullable, strict=True)]
    return [*ordered, id_column.desc() if descending else id_column.asc()]


def order_by(sort: str | None) -> list[Any]:
    key, descending = sort_spec(sort)
    columns = list(SORTS[key])
    return _ordering(columns, [c.nullable for c in columns], Contact.id, descending)


def capped_page(session: Session, conds: list[Any], sort: str | None, offset: int, limit: int,
                cap: int = COUNT_CAP) -> tuple[int, bool, list[Contact]]:
    """``(total up to cap, capped, page rows)`` in one statement whenever the matches fit under the cap.

    The matches' ids and sort keys are collected once (at most ``cap + 1`` of
    them, a materialised CTE); their number is the capped count and, when it
    is within the cap, the CTE holds every match, so the page is the top of it
    and only ``limit`` whole rows are read. Counting and paging separately
    scanned the same index and heap twice. Only a broad match (over the cap)
    needs a second statement for the page, which the sort index then serves.
    """
    key, descending = sort_spec(sort)
    columns = list(SORTS[key])
    hits = (sa.select(Contact.id.label("id"), *[c.label(f"s{i}") for i, c in enumerate(columns)])
            .where(*conds).limit(cap + 1).cte("hits").prefix_with("MATERIALIZED"))
    hit_count = sa.select(sa.func.count()).select_from(hits).scalar_subquery()
    top = (sa.select(hits.c.id).where(hit_count <= cap)
           .order_by(*_ordering([hits.c[f"s{i}"] for i in range(len(columns))], [c.nullable for c in columns],
                                hits.c.id, descending))
           .offset(offset).limit(limit).subquery("top"))
    counted = sa.select(hit_count.label("n")).subquery("counted")
    statement = (sa.select(counted.c.n, Contact).select_from(counted)
                 .outerjoin(top, sa.true()).outerjoin(Contact, Contact.id == top.c.id)
                 .order_by(*order_by(sort)))
    result = session.execute(statement).all()
    total = result[0].n if result else 0
    if total > cap:
        rows = list(session.scalars(sa.select(Contact).where(*conds).order_by(*order_by(sort))
                                    .offset(offset).limit(limit)))
        return cap, True, rows
    return total, False, [row.Contact for row in result if row.Contact is not None]


def search_page(session: Session, parsed: dict[str, Any], sort: str | None, offset: int,
                limit: int) -> tuple[int, bool, list[Contact]]:
    """``capped_page`` for parsed filters; a search term with no exact hit is retried typo-tolerantly.

    The exact attempt's count doubles as the "any exact hit?" probe, so a
    search that matches costs one statement (two when over the count cap).
    """
    total, capped, rows = capped_page(session, filter_conditions(session, parsed), sort, offset, limit)
    if total == 0 and may_retry_fuzzy(parsed):
        fuzzy = filter_conditions(session, {**parsed, "fuzzy": True})
        total, capped, rows = capped_page(session, fuzzy, sort, offset, limit)
    return total, capped, rows


class ContactOps:
    """The contacts use cases for one caller in one transaction."""

    def __init__(self, session: Session, caller: Caller, emit: Emit | None = None,
                 segment_members: Callable[[str], list[str]] | None = None,
                 emit_many: EmitMany | None = None):
        self.session = session
        self.caller = caller
        self.emit = emit or (lambda event_type, data: None)
        self.emit_many = emit_many or (lambda event_type, items: [self.emit(event_type, d) for d in items])
        self.segment_members = segment_members
        self._users: dict[str, User] | None = None
        self._companies: dict[str, tuple[str, str]] = {}
        # set while a batch collects search words to insert once (``flush_search_terms``)
        self._pending_terms: set[str] | None = None

    # -- helpers ------------------------------------------------------------
    @property
    def actor_id(self) -> str:
        return self.caller.user_id

    def users(self) -> dict[str, User]:
        if self._users is None:
            self._users = {u.id: u for u in self.session.scalars(sa.select(User))}
        return self._users

    def to_api(self, c: Contact, now: datetime | None = None) -> dict[str, Any]:
        owner = self.users().get(c.owner_id) if c.owner_id else None
        return {
            "id": c.id, "first_name": c.first_name, "last_name": c.last_name,
            "name": f"{c.first_name} {c.last_name}", "email": c.email, "emails": list(c.emails or []),
            "phone": c.phone, "phone_display": v.format_phone_international(c.phone), "phones": list(c.phones or []),
            "company": c.company, "company_id": c.company_id, "position": c.position, "department": c.department,
            "industry": c.industry, "company_size": c.company_size, "annual_revenue": c.annual_revenue,
            "address": dict(c.address or {}), "social": dict(c.social or {}), "type": c.type, "channel": c.channel,
            "stage": c.stage, "owner_id": c.owner_id, "owner_name": owner.name if owner else None,
            "tags": list(c.tags or []), "custom_fields": dict(c.custom_fields or {}), "notes": c.notes,
            "score": c.score, "unsubscribed": c.unsubscribed, "source": c.source, "import_id": c.import_id,
            "created_by": c.created_by, "updated_by": c.updated_by, "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at), "last_contact_at": iso(c.last_contact_at),
            "last_activity_at": iso(c.last_activity_at),
            "inactive": rules.is_inactive(c.last_activity_at, now), "version": c.version,
        }

    def load(self, contact_id: str, lock: bool = False) -> Contact:
        query = sa.select(Contact).where(Contact.id == str(contact_id))
        if lock:
            query = query.with_for_update()
        contact = self.session.scalar(query)
        if contact is None:
            raise NotFound("contact not found", {"contact_id": contact_id})
        return contact

    def deny(self, what: str, contact_id: str | None, owner_id: str | None) -> Forbidden:
        """Write the denial to the audit log in its own transaction and return the 403 to raise (A1)."""
        self.session.rollback()
        audit.reset_chain(self.session)
        audit.append(self.session, self.caller, "denied", "contact", contact_id,
                     details={"attempted": what, "owner_id": owner_id})
        self.session.commit()
        audit.reset_chain(self.session)
        return Forbidden(f"you may only {what} contacts you own", {"role": self.caller.role, "owner_id": owner_id,
                                                                   "contact_id": contact_id})

    def require_write(self, contact: Contact, what: str = "change") -> None:
        if not rules.can_write_contact(self.caller, contact.owner_id):
            if self.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
                raise Forbidden(f"role '{self.caller.role}' may not {what} contacts", {"role": self.caller.role})
            raise self.deny(what, contact.id, contact.owner_id)

    def _check_owner(self, owner_id: str | None) -> None:
        if owner_id is None:
            return
        user = self.users().get(owner_id)
        if user is None or not user.active:
            raise _fields_error("owner_id", "no active user with this id")

    def _company(self, name: str | None) -> tuple[str | None, str | None]:
        key = rules.company_key(name)
        if not key:
            return None, None
        if key not in self._companies:
            self.prefetch_companies([name])
        return self._companies[key]

    def prefetch_companies(self, names: list[str | None]) -> None:
        """Find or add the companies of many names in two statements (one row per name key)."""
        wanted: dict[str, str] = {}
        for name in names:
            key = rules.company_key(name)
            if key and key not in self._companies and key not in wanted:
                wanted[key] = str(name)
        if not wanted:
            return
        table = Company.__table__
        self.session.execute(insert(table).on_conflict_do_nothing(index_elements=[table.c.name_key]),
                             [{"id": new_id(), "name": n, "name_key": k} for k, n in sorted(wanted.items())])
        for row in self.session.execute(sa.select(Company.id, Company.name, Company.name_key)
                                        .where(Company.name_key.in_(list(wanted)))):
            self._companies[row.name_key] = (row.id, row.name)

    def add_search_terms(self, words: set[str]) -> None:
        if not words:
            return
        if self._pending_terms is not None:
            self._pending_terms |= words
            return
        table = SearchTerm.__table__
        # most words are known already: a primary-key lookup is far cheaper than an INSERT that conflicts
        known = set(self.session.scalars(sa.select(table.c.term).where(table.c.term.in_(sorted(words)))))
        if words - known:
            self.session.execute(insert(table).on_conflict_do_nothing(index_elements=[table.c.term]),
                                 [{"term": w} for w in sorted(words - known)])

    def collect_search_terms(self) -> None:
        """From now on keep the search words of changed contacts for one insert (``flush_search_terms``)."""
        if self._pending_terms is None:
            self._pending_terms = set()

    def forget_batch_state(self) -> None:
        """After a rolled-back savepoint the companies it added and the words it collected are gone."""
        self._companies.clear()
        self._pending_terms = None

    def buffered(self, events: list[tuple[str, dict[str, Any]]]) -> ContactOps:
        """A twin with this one's caches whose events go to ``events``, to be written set-based."""
        twin = ContactOps(self.session, self.caller, emit=lambda event_type, data: events.append((event_type, data)),
                          segment_members=self.segment_members)
        twin._users = self.users()
        twin._companies = self._companies
        twin._pending_terms = self._pending_terms
        return twin

    def flush_search_terms(self) -> None:
        """End a batch's collection of search words and insert them in one statement."""
        pending, self._pending_terms = self._pending_terms, None
        self.add_search_terms(pending or set())

    def _email_taken(self, email: str, except_id: str | None = None) -> str | None:
        query = sa.select(Contact.id).where(Contact.email == email)
        if except_id:
            query = query.where(Contact.id != except_id)
        return self.session.scalar(query)

    def apply_values(self, contact: Contact, values: dict[str, Any]) -> None:
        """Set cleaned values on a contact and keep the derived columns in step."""
        for field, value in values.items():
            if field == "company":
                contact.company_id, contact.company = self._company(value)
            elif field in ("emails", "phones", "tags"):
                setattr(contact, field, list(value or []))
            elif field in ("address", "social", "custom_fields"):
                setattr(contact, field, dict(value or {}))
            else:
                setattr(contact, field, value)
        for column, value in rules.derived_columns(contact.first_name, contact.last_name, contact.company,
                                                   contact.position, list(contact.tags or []),
                                                   contact.email).items():
            setattr(contact, column, value)
        self.add_search_terms(rules.search_words(contact.search_text))

    def snapshot_event(self, event_type: str, contact: Contact, changed: list[str]) -> dict[str, Any]:
        data = self.to_api(contact)
        self.emit(event_type, self.snapshot_data(contact.id, data, changed))
        return data

    def snapshot_data(self, contact_id: str, data: dict[str, Any], changed: list[str]) -> dict[str, Any]:
        """The body of a contact_created/contact_updated event."""
        return {"contact_id": contact_id, "contact": data, "changed": changed, "actor_id": self.actor_id}

    def _record_stage(self, contact: Contact, before: str | None, at: datetime | None = None) -> None:
        self.session.add(StageChange(contact_id=contact.id, from_stage=before, to_stage=contact.stage,
                                     actor_id=self.actor_id, actor_name=self.caller.name,
                                     changed_at=at or datetime.now(UTC)))
        add_activity(self.session, contact, "stage_changed", f"Stage changed: {before or '-'} → {contact.stage}",
                     {"from": before, "to": contact.stage}, self.caller)
        self.emit("stage_changed", {"contact_id": contact.id, "from_stage": before, "to_stage": contact.stage,
                                    "actor_id": self.actor_id, "owner_id": contact.owner_id})

    # -- reads ----------------------------------------------------------------
    def get(self, contact_id: str) -> dict[str, Any]:
        return self.to_api(self.load(contact_id))

    def get_many(self, contact_ids: list[str]) -> list[dict[str, Any]]:
        if not isinstance(contact_ids, list) or len(contact_ids) > 10000:
            raise _fields_error("contact_ids", "give a list of at most 10000 ids")
        rows = self.session.scalars(sa.select(Contact).where(Contact.id.in_([str(i) for i in contact_ids])))
        by_id = {c.id: c for c in rows}
        return [self.to_api(by_id[str(i)]) for i in contact_ids if str(i) in by_id]

    def _resolved(self, filters: dict[str, Any] | None) -> dict[str, Any]:
        parsed = parse_filters(filters)
        if parsed.get("segment_id"):
            if self.segment_members is None:
                raise BadRequest("segment_id cannot be resolved here")
            members = [str(i) for i in self.segment_members(parsed.pop("segment_id"))]
            parsed["ids"] = [i for i in parsed.get("ids", members) if i in set(members)]
        return parsed

    def list(self, filters: dict[str, Any] | None, page: int = 1, per_page: int = rules.PER_PAGE_DEFAULT,
             sort: str | None = None) -> dict[str, Any]:
        page = _as_int(page, "page", 1, 10**6) or 1
        per_page = _as_int(per_page, "per_page", 1, rules.PER_PAGE_MAX) or rules.PER_PAGE_DEFAULT
        sort_spec(sort)  # a bad sort is a 422 before any query runs
        started = time.perf_counter()
        parsed = self._resolved(filters)
        total, capped, rows = search_page(self.session, parsed, sort, (page - 1) * per_page, per_page)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > SLOW_LIST_MS:
            log.info("slow contact list", extra={"elapsed_ms": round(elapsed_ms, 1), "total": total,
                                                 "filters": sorted(parsed), "sort": sort, "page": page})
        now = datetime.now(UTC)
        return {"items": [self.to_api(c, now) for c in rows], "total": total, "page": page, "per_page": per_page,
                "total_capped": capped}

    def resolve_ids(self, filters: dict[str, Any] | None, limit: int = 10000) -> list[str]:
        limit = _as_int(limit, "limit", 1, 50000) or 10000
        conds = search_conditions(self.session, self._resolved(filters))
        return list(self.session.scalars(sa.select(Contact.id).where(*conds).order_by(Contact.id).limit(limit)))

    def iterate(self, after_id: str | None = None, limit: int = 1000) -> dict[str, Any]:
        limit = _as_int(limit, "limit", 1, 5000) or 1000
        query = sa.select(Contact).order_by(Contact.id).limit(limit)
        if after_id:
            query = query.where(Contact.id > str(after_id))
        items = [self.to_api(c) for c in self.session.scalars(query)]
        return {"items": items, "next_after_id": items[-1]["id"] if len(items) == limit else None}

    def match_candidates(self, keys: dict[str, Any], limit: int = 2000, view: str = "full") -> list[dict[str, Any]]:
        """Contacts sharing an email, phone, name key or company key with ``keys`` (duplicate blocking).

        ``view="match"`` gives only ``MATCH_VIEW``, what matching compares and the review shows, read
        as plain columns: imports ask for thousands a chunk, and full contacts cost their match stage.
        """
        if not isinstance(keys, dict):
            raise _fields_error("keys", "must be an object")
        emails = [v.normalize_email(e) for e in keys.get("emails") or [] if e]
        phones = [p for p in (v.normalize_phone(x) or x for x in keys.get("phones") or [] if x) if p]
        names = [v.normalize_name_key(n) for n in keys.get("name_keys") or [] if n]
        companies = [v.normalize_name_key(c) for c in keys.get("company_keys") or [] if c]
        if view not in ("full", "match"):
            raise _fields_error("view", "must be full or match")
        conds = []
        if emails:
            conds += [Contact.email.in_(emails), Contact.emails.overlap(emails)]
        if phones:
            conds += [Contact.phone.in_(phones), Contact.phones.overlap(phones)]
        if names:
            conds.append(Contact.name_key.in_(names))
        if companies:
            conds.append(Contact.company_id.in_(sa.select(Company.id).where(Company.name_key.in_(companies))))
        if not conds:
            return []
        # One index-driven query per key kind, not one OR: with an OR (and ORDER BY id) PostgreSQL walked
        # the primary key over the whole table, seconds a call at 1M contacts. Without column statistics for
        # mostly empty arrays it also takes an overlap with many values to match nearly every row and
        # would scan the table; every condition here has its index, so scans are off for this transaction.
        self.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        found: dict[str, Any] = {}
        for cond in conds:
            if view == "full":
                rows: Any = self.session.scalars(sa.select(Contact).where(cond).limit(limit))
            else:
                rows = self.session.execute(sa.select(*[getattr(Contact, name) for name in MATCH_VIEW])
                                            .where(cond).limit(limit))
            for row in rows:
                found.setdefault(row.id, row)
            if len(found) >= limit:
                break
        found = dict(list(found.items())[:limit])
        if view == "full":
            return [self.to_api(c) for c in found.values()]
        return [{**row._asdict(), "emails": list(row.emails or []), "phones": list(row.phones or []),
                 "address": dict(row.address or {}), "tags": list(row.tags or []),
                 "updated_at": iso(row.updated_at)} for row in found.values()]

    def kpis(self, period: str = "all") -> dict[str, Any]:
        """The four KPI cards (seed 000 §7); cached briefly, dropped on any write in this process."""
        start, end = rules.period_range(period or "all")
        cached = _kpi_cache.get(period)
        if cached and time.monotonic() - cached[0] < KPI_CACHE_SECONDS:
            return cached[1]
        conds = []
        if start is not None:
            conds = [Contact.created_at >= start, Contact.created_at < end]
        total, avg = self.session.execute(
            sa.select(sa.func.count(), sa.func.avg(Contact.score)).select_from(Contact).where(*conds)).one()
        hot = self.session.scalar(sa.select(sa.func.count()).select_from(Contact)
                                  .where(Contact.stage == rules.HOT_LEAD, *conds))
        if start is None:
            companies = self.session.scalar(sa.select(sa.func.count()).select_from(Company).where(
                sa.exists().where(Contact.company_id == Company.id)))
        else:
            companies = self.session.scalar(sa.select(sa.func.count(sa.distinct(Contact.company_id)))
                                            .where(*conds))
        result = {"period": period, "total_contacts": total, "hot_leads": hot,
                  "avg_score": int(round(float(avg))) if avg is not None else 0, "companies": companies,
                  "from": iso(start), "to": iso(end)}
        _kpi_cache[period] = (time.monotonic(), result)
        return result

    def companies(self, q: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Company autocomplete: prefix and trigram matches, with how many contacts each has."""
        limit = _as_int(limit, "limit", 1, 100) or 20
        count = (sa.select(sa.func.count()).where(Contact.company_id == Company.id)
                 .correlate(Company).scalar_subquery())
        query = sa.select(Company.id, Company.name, count.label("contacts"))
        key = v.normalize_name_key(q or "")
        if key:
            escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # ``%`` lets the trigram GIN find the similar names; similarity() alone was computed for every
            # company (320 ms at 50,000 companies, 16 ms with the index); the strict > keeps the old rule
            self.session.execute(sa.text(f"SET LOCAL pg_trgm.similarity_threshold = {TRIGRAM_THRESHOLD}"))
            similar = sa.and_(Company.name_key.op("%")(key),
                              sa.func.similarity(Company.name_key, key) > TRIGRAM_THRESHOLD)
            query = query.where(sa.or_(Company.name_key.ilike(f"%{escaped}%"), similar))
            query = query.order_by(Company.name_key.ilike(f"{escaped}%").desc(),
                                   sa.func.similarity(Company.name_key, key).desc(), Company.name)
        else:
            query = query.order_by(Company.name)
        return [{"id": r.id, "name": r.name, "contacts": r.contacts}
                for r in self.session.execute(query.limit(limit))]

    def tags(self, q: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Tag autocomplete: tags in use (most used first) and the predefined suggestions, matching ``q``."""
        limit = _as_int(limit, "limit", 1, 100) or 20
        cached = _tag_cache.get("all")
        if cached is None or time.monotonic() - cached[0] > TAG_CACHE_SECONDS:
            tag = sa.func.unnest(Contact.tags).label("tag")
            inner = sa.select(tag).subquery()
            rows = self.session.execute(sa.select(inner.c.tag, sa.func.count()).group_by(inner.c.tag)
                                        .order_by(sa.func.count().desc(), inner.c.tag).limit(1000)).all()
            cached = (time.monotonic(), [(r[0], r[1]) for r in rows])
            _tag_cache["all"] = cached
        counts: dict[str, tuple[str, int]] = {}
        for name, count in cached[1]:  # most used first: the first spelling of a tag is the one shown
            key = rules.tag_key(name)
            shown, total = counts.get(key, (name, 0))
            counts[key] = (shown, total + count)
        for name in rules.SUGGESTED_TAGS:
            counts.setdefault(rules.tag_key(name), (name, 0))
        needle = rules.tag_key(q or "")
        matches = [(name, count) for key, (name, count) in counts.items() if needle in key]
        matches.sort(key=lambda item: (not rules.tag_key(item[0]).startswith(needle), -item[1], item[0].casefold()))
        return [{"tag": name, "contacts": count, "suggested": name in rules.SUGGESTED_TAGS}
                for name, count in matches[:limit]]

    # -- writes -------------------------------------------------------------
    def create(self, data: dict[str, Any], source: str = "manual", import_id: str | None = None,
               form: dict[str, Any] | None = None, owner_id: str | None = None,
               audit_action: str = "create") -> dict[str, Any]:
        values, owner, form_tags = self.prepare_new(data, form, owner_id)
        existing = self._email_taken(values["email"])
        if existing:
            raise email_conflict(existing)
        now = datetime.now(UTC)
        contact = self.build_new(values, owner, source, import_id, now)
        self.session.add(contact)
        self.session.flush()
        rows = self.creation_rows(contact, form_tags, source, import_id, now)
        if rows["note"]:
            self.session.add(Note(**rows["note"]))
        self.session.add(Activity(**rows["activity"]))
        self.session.add(StageChange(**rows["stage"]))
        data_out = self.snapshot_event("contact_created", contact, [])
        audit.append(self.session, self.caller, audit_action, "contact", contact.id, None, data_out,
                     rows["audit_details"])
        invalidate_kpis()
        return data_out

    def build_new(self, values: dict[str, Any], owner: str | None, source: str, import_id: str | None,
                  now: datetime) -> Contact:
        """A new (not yet added) contact with its defaults, values and derived columns."""
        values = dict(values)
        contact = Contact(id=new_id(), owner_id=owner, source=source, import_id=import_id,
                          stage=values.pop("stage", None) or rules.DEFAULT_STAGE, emails=[], phones=[], tags=[],
                          address={}, social={}, custom_fields={}, score=0, version=1, unsubscribed=False,
                          created_by=self.actor_id, updated_by=self.actor_id, created_at=now, updated_at=now,
                          last_activity_at=now, last_contact_at=None, notes=None)
        self.apply_values(contact, values)
        return contact

    def creation_rows(self, contact: Contact, form_tags: list[str], source: str, import_id: str | None,
                      now: datetime) -> dict[str, Any]:
        """What goes with a new contact: its note, first timeline entry, stage history and audit details."""
        title = "Contact imported" if source == "import" else "Contact created"
        note = None
        if contact.notes:
            note = {"id": new_id(), "contact_id": contact.id, "author_id": self.actor_id,
                    "author_name": self.caller.name, "author_role": self.caller.role, "type": "general",
                    "text": contact.notes, "tags": []}
        return {
            "note": note,
            "activity": activity_row(contact.id, "contact_created", title,
                                     {"source": source, "import_id": import_id, "initial_tags": form_tags},
                                     self.caller, now),
            "stage": {"contact_id": contact.id, "from_stage": None, "to_stage": contact.stage,
                      "actor_id": self.actor_id, "actor_name": self.caller.name, "changed_at": now},
            "audit_details": {"source": source, "import_id": import_id} if import_id else {"source": source},
        }

    def prepare_new(self, data: dict[str, Any], form: dict[str, Any] | None = None,
                    owner_id: str | None = None) -> tuple[dict[str, Any], str | None, list[str]]:
        """The checked values, owner and initial tags of a new contact (single add and set-based import)."""
        if self.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
            raise Forbidden(f"role '{self.caller.role}' may not add contacts", {"role": self.caller.role})
        values = rules.clean_contact(data)
        owner = values.pop("owner_id", None) or owner_id
        if owner is None and self.caller.role != SYSTEM:
            owner = self.caller.user_id
        if not rules.can_set_owner_on_create(self.caller, owner):
            raise Forbidden("sales users may only add contacts they own", {"owner_id": owner})
        self._check_owner(owner)
        form_tags = rules.initial_tags({**(values.get("custom_fields") or {}), **(form or {}),
                                        "position": values.get("position")})
        if form_tags:
            values["tags"] = rules.merge_tags(values.get("tags") or [], form_tags)[: v.TAGS_MAX_COUNT]
        return values, owner, form_tags

    def update(self, contact_id: str, data: dict[str, Any], expected_version: int | None = None) -> dict[str, Any]:
        contact = self.load(contact_id, lock=True)
        self.require_write(contact, "change")
        values = rules.clean_contact(data, partial=True)
        if "owner_id" in values and values["owner_id"] != contact.owner_id:
            if not rules.can_change_owner(self.caller):
                raise Forbidden("only admins transfer contact ownership", {"role": self.caller.role})
            self._check_owner(values["owner_id"])
        existing = self._email_taken(values["email"], contact.id) if values.get("email") else None
        if existing:
            raise email_conflict(existing)
        if expected_version is not None and contact.version != expected_version:
            raise Conflict("the contact changed since you loaded it", {"version": contact.version})
        before = self.to_api(contact)
        old_stage, old_tags = contact.stage, list(contact.tags or [])
        self.apply_values(contact, values)
        after = self.to_api(contact)
        changes = rules.diff(before, after)
        changes.pop("name", None)
        for derived in ("phone_display", "owner_name", "company_id", "inactive", "updated_at"):
            changes.pop(derived, None)
        if not changes:
            return before
        self.touch(contact)
        if contact.stage != old_stage:
            self._record_stage(contact, old_stage)
        self.tag_activity(contact, old_tags)
        other = [f for f in changes if f not in ("stage", "tags")]
        if other:
            add_activity(self.session, contact, "contact_updated", "Contact updated: " + ", ".join(sorted(other)),
                         {"changes": {f: changes[f] for f in other}}, self.caller)
        out = self.snapshot_event("contact_updated", contact, sorted(changes))
        audit.append(self.session, self.caller, "update", "contact", contact.id,
                     {f: c["before"] for f, c in changes.items()}, {f: c["after"] for f, c in changes.items()})
        invalidate_kpis()
        return out

    def touch(self, contact: Contact) -> None:
        contact.version = (contact.version or 0) + 1
        contact.updated_at = datetime.now(UTC)
        contact.updated_by = self.actor_id

    def tag_activity(self, contact: Contact, old_tags: list[str]) -> None:
        added = rules.remove_tags(contact.tags or [], old_tags)
        removed = rules.remove_tags(old_tags, contact.tags or [])
        if added:
            add_activity(self.session, contact, "tag_added", "Tags added: " + ", ".join(added), {"tags": added},
                         self.caller)
        if removed:
            add_activity(self.session, contact, "tag_removed", "Tags removed: " + ", ".join(removed),
                         {"tags": removed}, self.caller)

    def delete(self, contact_id: str, reason: str = "delete") -> dict[str, Any]:
        contact = self.load(contact_id, lock=True)
        self.require_write(contact, "delete")
        before = self.to_api(contact)
        self.session.delete(contact)
        self.session.flush()
        self.emit("contact_deleted", {"contact_id": before["id"], "actor_id": self.actor_id,
                                      "email": before["email"]})
        audit.append(self.session, self.caller, reason, "contact", before["id"], before, None)
        invalidate_kpis()
        return {"id": before["id"], "deleted": True}

    def set_stage(self, contact_id: str, stage: str) -> dict[str, Any]:
        return self.update(contact_id, {"stage": stage})

    def _per_id(self, contact_ids: list[str], action: str, fn: Callable[[Contact], bool]) -> list[dict[str, Any]]:
        """Run ``fn`` on each contact in its own savepoint; per-id results, denials audited."""
        if not isinstance(contact_ids, list) or not contact_ids:
            raise _fields_error("contact_ids", "give a non-empty list of contact ids")
        if len(contact_ids) > 10000:
            raise _fields_error("contact_ids", "at most 10000 contacts per action")
        if self.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
            raise Forbidden(f"role '{self.caller.role}' may not change contacts", {"role": self.caller.role})
        rows = {c.id: c for c in self.session.scalars(
            sa.select(Contact).where(Contact.id.in_([str(i) for i in contact_ids])).with_for_update())}
        results = []
        for raw in dict.fromkeys(str(i) for i in contact_ids):
            contact = rows.get(raw)
            if contact is None:
                results.append({"id": raw, "ok": False, "error": "not_found"})
                continue
            if not rules.can_write_contact(self.caller, contact.owner_id):
                audit.append(self.session, self.caller, "denied", "contact", raw,
                             details={"attempted": action, "owner_id": contact.owner_id})
                results.append({"id": raw, "ok": False, "error": "forbidden"})
                continue
            try:
                with self.session.begin_nested():
                    changed = fn(contact)
            except (ValidationFailed, Conflict, Forbidden) as exc:
                results.append({"id": raw, "ok": False, "error": exc.code, "message": exc.message})
                continue
            results.append({"id": raw, "ok": True, "changed": changed})
        invalidate_kpis()
        return results

    def _bulk_update(self, contact: Contact, values: dict[str, Any], action: str) -> bool:
        before = self.to_api(contact)
        old_stage, old_tags = contact.stage, list(contact.tags or [])
        self.apply_values(contact, values)
        after = self.to_api(contact)
        changes = {f: c for f, c in rules.diff(before, after).items()
                   if f in ("stage", "tags", "owner_id")}
        if not changes:
            return False
        self.touch(contact)
        if contact.stage != old_stage:
            self._record_stage(contact, old_stage)
        self.tag_activity(contact, old_tags)
        if "owner_id" in changes:
            add_activity(self.session, contact, "owner_changed", f"Owner changed to {after['owner_name'] or '-'}",
                         {"from": before["owner_id"], "to": after["owner_id"]}, self.caller)
        self.snapshot_event("contact_updated", contact, sorted(changes))
        audit.append(self.session, self.caller, action, "contact", contact.id,
                     {f: c["before"] for f, c in changes.items()}, {f: c["after"] for f, c in changes.items()})
        return True

    def add_tags(self, contact_ids: list[str], tags: list[str]) -> list[dict[str, Any]]:
        clean = rules.clean_tags(tags)

        def apply(contact: Contact) -> bool:
            merged = rules.merge_tags(list(contact.tags or []), clean)
            if len(merged) > v.TAGS_MAX_COUNT:
                raise _fields_error("tags", f"at most {v.TAGS_MAX_COUNT} tags are allowed")
            return self._bulk_update(contact, {"tags": merged}, "add_tags")

        return self._per_id(contact_ids, "add_tags", apply)

    def remove_tags(self, contact_ids: list[str], tags: list[str]) -> list[dict[str, Any]]:
        clean = rules.clean_tags(tags)
        return self._per_id(contact_ids, "remove_tags", lambda c: self._bulk_update(
            c, {"tags": rules.remove_tags(list(c.tags or []), clean)}, "remove_tags"))

    def set_stage_many(self, contact_ids: list[str], stage: str) -> list[dict[str, Any]]:
        try:
            canonical = rules.canonical_stage(stage)
        except v.FieldError as exc:
            raise _fields_error("stage", exc.message) from exc
        return self._per_id(contact_ids, "set_stage", lambda c: self._bulk_update(c, {"stage": canonical},
                                                                                  "set_stage"))

    def assign_owner(self, contact_ids: list[str], owner_id: str) -> list[dict[str, Any]]:
        if not rules.can_change_owner(self.caller):
            raise Forbidden("only admins transfer contact ownership", {"role": self.caller.role})
        if not owner_id:
            raise _fields_error("owner_id", "required")
        self._check_owner(str(owner_id))
        return self._per_id(contact_ids, "assign_owner", lambda c: self._bulk_update(c, {"owner_id": str(owner_id)},
                                                                                     "assign_owner"))

    def delete_many(self, contact_ids: list[str]) -> list[dict[str, Any]]:
        def apply(contact: Contact) -> bool:
            before = self.to_api(contact)
            self.session.delete(contact)
            self.session.flush()
            self.emit("contact_deleted", {"contact_id": contact.id, "actor_id": self.actor_id,
                                          "email": before["email"]})
            audit.append(self.session, self.caller, "delete", "contact", contact.id, before, None)
            return True

        return self._per_id(contact_ids, "delete", apply)

    def bulk(self, action: str, contact_ids: list[str] | None, filters: dict[str, Any] | None,
             args: dict[str, Any]) -> dict[str, Any]:
        """Bulk actions over ids or a whole filter (seed 000 "Quick Bulk Actions")."""
        if contact_ids is None:
            contact_ids = self.resolve_ids(filters or {}, limit=10000)
            if not contact_ids:
                return {"action": action, "results": [], "ok": 0, "failed": 0}
        handlers: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "add_tags": lambda: self.add_tags(contact_ids, args.get("tags")),
            "remove_tags": lambda: self.remove_tags(contact_ids, args.get("tags")),
            "set_stage": lambda: self.set_stage_many(contact_ids, args.get("stage")),
            "assign_owner": lambda: self.assign_owner(contact_ids, args.get("owner_id")),
            "delete": lambda: self.delete_many(contact_ids),
        }
        if action not in handlers:
            raise _fields_error("action", f"must be one of {', '.join(sorted(handlers))}")
        results = handlers[action]()
        ok = sum(1 for r in results if r["ok"])
        return {"action": action, "results": results, "ok": ok, "failed": len(results) - ok}

    def check_writable(self, contact_ids: list[str], action: str) -> dict[str, Any]:
        """For bulk actions another service carries out: which ids exist and may this caller change."""
        if self.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
            raise Forbidden(f"role '{self.caller.role}' may not {action}", {"role": self.caller.role})
        rows = dict(self.session.execute(sa.select(Contact.id, Contact.owner_id)
                                         .where(Contact.id.in_([str(i) for i in contact_ids]))).all())
        allowed, results = [], []
        for raw in dict.fromkeys(str(i) for i in contact_ids):
            if raw not in rows:
                results.append({"id": raw, "ok": False, "error": "not_found"})
            elif not rules.can_write_contact(self.caller, rows[raw]):
                audit.append(self.session, self.caller, "denied", "contact", raw,
                             details={"attempted": action, "owner_id": rows[raw]})
                results.append({"id": raw, "ok": False, "error": "forbidden"})
            else:
                allowed.append(raw)
        return {"allowed": allowed, "rejected": results}

    # -- export -------------------------------------------------------------
    def export(self, filters: dict[str, Any] | None, sort: str | None = None,
               quota: int = EXPORT_HOURLY_QUOTA) -> dict[str, Any]:
        """At most 1000 rows a download, an hourly per-user quota, one audit record each (A4, A5)."""
        self._check_export_quota(quota)
        conds = search_conditions(self.session, self._resolved(filters))
        total, _ = capped_count(self.session, conds)
        rows = self.session.scalars(sa.select(Contact).where(*conds).order_by(*order_by(sort))
                                    .limit(rules.EXPORT_MAX_ROWS))
        now = datetime.now(UTC)
        items = [self.to_api(c, now) for c in rows]
        body = rules.export_csv(items)
        audit.append(self.session, self.caller, "export", "contacts", None, None, None,
                     {"filters": {k: (f"{len(val)} ids" if k == "ids" else val) for k, val in (filters or {}).items()},
                      "rows": len(items),
                      "matched": total, "sort": sort})
        return {"csv": body, "rows": len(items), "matched": total, "truncated": total > len(items)}

    def _check_export_quota(self, quota: int) -> None:
        """Every export (contact list or activity) counts towards one hourly per-user quota."""
        from contacts.models import AuditEntry

        now = datetime.now(UTC)
        window = (AuditEntry.actor_id == self.actor_id, AuditEntry.action == "export",
                  AuditEntry.at >= now - timedelta(hours=1))
        done = self.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*window))
        if done >= quota:
            # a slot frees when enough of the window's exports have aged out of it (a sliding hour)
            frees = self.session.scalar(sa.select(AuditEntry.at).where(*window).order_by(AuditEntry.at)
                                        .offset(done - quota).limit(1))
            wait = (frees + timedelta(hours=1) - now).total_seconds() if frees else 3600
            raise RateLimited("hourly export quota reached, try again later",
                              {"limit": quota, "window_s": 3600, "retry_after_s": max(1, math.ceil(wait))})

    def export_activity(self, contact_id: str, filters: dict[str, Any],
                        quota: int = EXPORT_HOURLY_QUOTA) -> dict[str, Any]:
        """A contact's timeline as CSV: the list's filters, the contact export's cap, quota, audit and cells."""
        from contacts import activity

        self._check_export_quota(quota)
        items, total = activity.export_rows(self.session, str(contact_id), filters.get("type"),
                                            filters.get("from"), filters.get("to"), filters.get("user_id"),
                                            rules.EXPORT_MAX_ROWS)
        body = rules.export_csv(items, rules.ACTIVITY_EXPORT_COLUMNS)
        audit.append(self.session, self.caller, "export", "activity", str(contact_id), None, None,
                     {"filters": {k: (val.isoformat() if hasattr(val, "isoformat") else val)
                                  for k, val in filters.items() if val not in (None, "", [])},
                      "rows": len(items), "matched": total})
        return {"csv": body, "rows": len(items), "matched": total, "truncated": total > len(items)}

    # -- merge ----------------------------------------------------------------
    def merge(self, primary_id: str, duplicate_ids: list[str], fields: dict[str, str] | None) -> dict[str, Any]:
        if self.caller.role not in (ADMIN, MARKETING, SALES, SYSTEM):
            raise Forbidden(f"role '{self.caller.role}' may not merge contacts", {"role": self.caller.role})
        if not isinstance(duplicate_ids, list) or not duplicate_ids:
            raise _fields_error("duplicate_ids", "give at least one contact to merge into the primary")
        dup_ids = [str(i) for i in dict.fromkeys(duplicate_ids) if str(i) != str(primary_id)]
        if not dup_ids:
            raise _fields_error("duplicate_ids", "must name contacts other than the primary")
        if len(dup_ids) > 20:
            raise _fields_error("duplicate_ids", "at most 20 contacts per merge")
        primary = self.load(primary_id, lock=True)
        duplicates = []
        for dup_id in dup_ids:
            duplicates.append(self.load(dup_id, lock=True))
        for contact in (primary, *duplicates):
            self.require_write(contact, "merge")
        before_primary = self.to_api(primary)
        dup_dicts = [self.to_api(d) for d in duplicates]
        merged = rules.merge_values(before_primary, dup_dicts, fields or {})
        if merged["owner_id"] != primary.owner_id and not rules.can_change_owner(self.caller):
            merged["owner_id"] = primary.owner_id
        score = merged.pop("score")
        for dup in duplicates:  # re-point history before the duplicates go
            for model in (Note, Activity, StageChange):
                self.session.execute(sa.update(model).where(model.contact_id == dup.id)
                                     .values(contact_id=primary.id))
        self.session.flush()
        for dup in duplicates:
            self.session.delete(dup)
        self.session.flush()
        old_stage, old_tags = primary.stage, list(primary.tags or [])
        self.apply_values(primary, merged)
        primary.score = score
        primary.last_activity_at = max([primary.last_activity_at, *[d.last_activity_at for d in duplicates]])
        contacts_dates = [d for d in [primary.last_contact_at, *[d.last_contact_at for d in duplicates]] if d]
        primary.last_contact_at = max(contacts_dates) if contacts_dates else None
        primary.created_at = min([primary.created_at, *[d.created_at for d in duplicates]])
        self.touch(primary)
        if primary.stage != old_stage:
            self._record_stage(primary, old_stage)
        self.tag_activity(primary, old_tags)
        names = ", ".join(f"{d['name']} <{d['email']}>" for d in dup_dicts)
        add_activity(self.session, primary, "contacts_merged", f"Merged with {names}",
                     {"merged_ids": dup_ids, "fields": fields or {}}, self.caller)
        after = self.to_api(primary)
        self.emit("contacts_merged", {"primary_id": primary.id, "merged_ids": dup_ids, "contact": after,
                                      "actor_id": self.actor_id})
        self.snapshot_event("contact_updated", primary, sorted(rules.diff(before_primary, after)))
        audit.append(self.session, self.caller, "merge", "contact", primary.id,
                     {"primary": before_primary, "duplicates": dup_dicts}, after)
        invalidate_kpis()
        return after
