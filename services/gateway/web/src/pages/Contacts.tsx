/** Contacts list: KPI cards, search, filters, sortable table with badges, selection and bulk actions, export. */
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api, download, type Page } from "../api/client";
import { useAuth } from "../auth";
import { BulkValueModal, CallModal, CampaignModal, EmailModal, SegmentModal } from "../components/actions";
import { CompanyInput } from "../components/inputs";
import { Avatar, ChannelBadge, ErrorBox, ScoreBadge, Spinner, StageBadge, TypeBadge, useToast, EmptyState, Modal } from "../components/ui";
import { useLoad, useUsers } from "../hooks";
import { CHANNELS, CONTACT_TYPES, STAGES } from "../lib/badges";
import { formatPhone, fullName, splitTags, truncate, type Contact } from "../lib/contact";
import { describeError } from "../lib/errors";
import { canCreateContacts, canDeleteContacts, canEditContact, canImport, canManageCampaigns, canManageSegments } from "../lib/permissions";
import { filtersFromSearch, nextSort, toQuery, type ContactFilters } from "../lib/query";
import { daysSince, relativeDay } from "../lib/time";

interface Kpis { total_contacts: number; hot_leads: number; avg_score: number; companies: number }
type Period = "all" | "this_month" | "last_month";
const PER_PAGE = 50;

function isInactive(c: Contact): boolean {
  if (typeof c.inactive === "boolean") return c.inactive;
  const d = daysSince(c.last_contact_at ?? c.created_at ?? null);
  return d != null && d >= 30;
}

function KpiCards() {
  const [period, setPeriod] = useState<Period>("all");
  const kpis = useLoad(() => api.get<Kpis>(`/contacts/kpis?period=${period}`), [period]);
  const k = kpis.data;
  const cards: Array<[string, string | number, string]> = [
    ["Total Contacts", k?.total_contacts ?? "–", "☷"],
    ["Hot Leads", k?.hot_leads ?? "–", "♨"],
    ["Avg. Score", k ? Math.round(k.avg_score ?? 0) : "–", "★"],
    ["Companies", k?.companies ?? "–", "⌂"],
  ];
  return (
    <section aria-label="Key figures" className="kpi-section">
      <div className="kpi-head">
        <div className="seg-control" role="group" aria-label="Period">
          {([["all", "All contacts"], ["this_month", "This month"], ["last_month", "Last month"]] as const).map(([v, l]) => (
            <button key={v} type="button" aria-pressed={period === v} className={period === v ? "active" : ""} onClick={() => setPeriod(v)}>{l}</button>
          ))}
        </div>
      </div>
      <ErrorBox error={kpis.error} />
      <div className="kpis">
        {cards.map(([label, value, icon]) => (
          <div className="kpi card" key={label}>
            <div className="kpi-icon" aria-hidden="true">{icon}</div>
            <div><div className="kpi-label">{label}</div><div className="kpi-value" data-testid={`kpi-${label}`}>{value}</div></div>
          </div>
        ))}
      </div>
    </section>
  );
}

function TagsCell({ tags }: { tags?: string[] }) {
  const [open, setOpen] = useState(false);
  const { visible, hidden } = splitTags(tags);
  return (
    <div className="tags-cell">
      {visible.map((t) => <span key={t} className="chip small">{t}</span>)}
      {hidden.length ? (
        <span className="overflow">
          <button type="button" className="info-btn" aria-label={`${hidden.length} more tags: ${hidden.join(", ")}`} aria-expanded={open}
            onClick={() => setOpen((o) => !o)} onBlur={() => setOpen(false)}>i +{hidden.length}</button>
          {open ? <span className="popover" role="tooltip">{hidden.join(", ")}</span> : null}
        </span>
      ) : null}
    </div>
  );
}

function RowMenu({ contact, onAction }: { contact: Contact; onAction: (a: string, c: Contact) => void }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => { if (!ref.current?.contains(e.target as Node)) setOpen(false); };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);
  const items: Array<[string, string]> = [["view", "View details"], ["email", "Send email"], ["call", "Call"], ["stage", "Change stage"], ["segment", "Add to segment"], ["campaign", "Add to campaign"]];
  return (
    <div className="row-menu" ref={ref}>
      <button type="button" className="icon-btn" aria-label={`Actions for ${fullName(contact)}`} aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen((o) => !o)}>⋯</button>
      {open ? (
        <ul role="menu" className="menu" onKeyDown={(e) => { if (e.key === "Escape") setOpen(false); }}>
          {items.map(([k, l]) => (
            <li key={k} role="none"><button role="menuitem" type="button" onClick={() => { setOpen(false); onAction(k, contact); }}>{l}</button></li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

type ModalState =
  | { kind: "email"; contacts: Contact[] }
  | { kind: "call"; contact: Contact }
  | { kind: "segment"; ids: string[] }
  | { kind: "campaign"; ids: string[] }
  | { kind: "bulk"; action: "set_stage" | "add_tags" | "remove_tags" | "assign_owner"; ids: string[] }
  | { kind: "delete"; ids: string[] }
  | null;

export function ContactsPage() {
  const { user } = useAuth();
  const toast = useToast();
  const users = useUsers();
  const location = useLocation();
  const navigate = useNavigate();
  const filters = useMemo(() => filtersFromSearch(location.search), [location.search]);
  const [draft, setDraft] = useState<ContactFilters>(filters);
  const [showFilters, setShowFilters] = useState(Object.keys(filters).some((k) => !["q", "sort", "page"].includes(k)));
  const [selected, setSelected] = useState<Record<string, Contact>>({});
  const [modal, setModal] = useState<ModalState>(null);
  useEffect(() => setDraft(filters), [filters]);
  const page = Number(filters.page ?? "1");
  const list = useLoad(() => api.get<Page<Contact>>(`/contacts?${toQuery(filters, { per_page: PER_PAGE, page })}`), [location.search]);
  const items = list.data?.items ?? [];
  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  const ownerName = (id?: string | null) => users.find((u) => u.id === id)?.name;

  const apply = (f: ContactFilters) => {
    const q = toQuery({ ...f, page: undefined });
    navigate(`/contacts${q ? `?${q}` : ""}`);
  };
  const sortBy = (col: string, descFirst = false) => apply({ ...filters, sort: nextSort(filters.sort, col, descFirst) });
  const sortState = (col: string): "ascending" | "descending" | "none" =>
    filters.sort === col ? "ascending" : filters.sort === `-${col}` ? "descending" : "none";
  const selIds = Object.keys(selected);
  const allOnPage = items.length > 0 && items.every((c) => selected[c.id]);
  const toggleAll = () => setSelected((s) => {
    const next = { ...s };
    if (allOnPage) items.forEach((c) => delete next[c.id]);
    else items.forEach((c) => { next[c.id] = c; });
    return next;
  });
  const onRow = (a: string, c: Contact) => {
    if (a === "view") navigate(`/contacts/${c.id}`);
    if (a === "email") setModal({ kind: "email", contacts: [c] });
    if (a === "call") setModal({ kind: "call", contact: c });
    if (a === "stage") setModal({ kind: "bulk", action: "set_stage", ids: [c.id] });
    if (a === "segment") setModal({ kind: "segment", ids: [c.id] });
    if (a === "campaign") setModal({ kind: "campaign", ids: [c.id] });
  };
  const doExport = async () => {
    try {
      await download(`/contacts/export.csv?${toQuery({ ...filters, page: undefined })}`, "contacts.csv");
    } catch (e) {
      toast(describeError(e), "error");
    }
  };
  const doDelete = async (ids: string[]) => {
    try {
      await api.post("/contacts/bulk", { ids, action: "delete" });
      toast(`${ids.length} contact${ids.length > 1 ? "s" : ""} deleted`);
      setSelected({});
      list.reload();
    } catch (e) {
      toast(describeError(e), "error");
    }
    setModal(null);
  };
  const done = () => { setSelected({}); list.reload(); };
  const activeFilters = Object.entries(filters).filter(([k, v]) => v && !["sort", "page"].includes(k));

  const th = (label: string, col?: string, descFirst = false) => col ? (
    <th scope="col" aria-sort={sortState(col)}>
      <button type="button" className="sort-btn" onClick={() => sortBy(col, descFirst)}>
        {label} <span aria-hidden="true">{sortState(col) === "ascending" ? "▲" : sortState(col) === "descending" ? "▼" : "↕"}</span>
      </button>
    </th>
  ) : <th scope="col">{label}</th>;

  return (
    <div className="page">
      <div className="page-head">
        <h1>Contacts</h1>
        <div className="actions">
          <button type="button" className="btn" onClick={doExport}>↓ Export CSV</button>
          {canImport(user) ? <Link className="btn" to="/import">Import Contacts</Link> : null}
          {canCreateContacts(user) ? <Link className="btn primary" to="/contacts/new">+ Add Contact</Link> : null}
        </div>
      </div>
      <KpiCards />
      <form className="toolbar" role="search" onSubmit={(e) => { e.preventDefault(); apply(draft); }}>
        <input aria-label="Search contacts by name, company, position or tags" placeholder="Search name, company, position, tags…" type="search"
          value={draft.q ?? ""} onChange={(e) => setDraft({ ...draft, q: e.target.value })} className="search" name="q" />
        <select aria-label="Stage" value={draft.stage ?? ""} onChange={(e) => { const f = { ...draft, stage: e.target.value }; setDraft(f); apply(f); }} name="stage">
          <option value="">All Stages</option>
          {STAGES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <button type="submit" className="btn">Search</button>
        <button type="button" className="btn" aria-expanded={showFilters} aria-controls="filters" onClick={() => setShowFilters((s) => !s)}>Filters{activeFilters.length ? ` (${activeFilters.length})` : ""}</button>
      </form>
      {showFilters ? (
        <form id="filters" className="filters card" onSubmit={(e) => { e.preventDefault(); apply(draft); }} aria-label="Filters">
          <CompanyInput value={draft.company ?? ""} onChange={(v) => setDraft({ ...draft, company: v })} label="Company" name="filter-company" />
          <div className="field"><label htmlFor="f-smin">Score from</label><input id="f-smin" type="number" min={0} max={100} value={draft.score_min ?? ""} onChange={(e) => setDraft({ ...draft, score_min: e.target.value })} /></div>
          <div className="field"><label htmlFor="f-smax">Score to</label><input id="f-smax" type="number" min={0} max={100} value={draft.score_max ?? ""} onChange={(e) => setDraft({ ...draft, score_max: e.target.value })} /></div>
          <div className="field"><label htmlFor="f-channel">Channel</label>
            <select id="f-channel" value={draft.channel ?? ""} onChange={(e) => setDraft({ ...draft, channel: e.target.value })}><option value="">Any channel</option>{CHANNELS.map((c) => <option key={c}>{c}</option>)}</select></div>
          <div className="field"><label htmlFor="f-type">Type</label>
            <select id="f-type" value={draft.type ?? ""} onChange={(e) => setDraft({ ...draft, type: e.target.value })}><option value="">Any type</option>{CONTACT_TYPES.map((c) => <option key={c}>{c}</option>)}</select></div>
          <div className="field"><label htmlFor="f-tag">Tag</label><input id="f-tag" value={draft.tag ?? ""} onChange={(e) => setDraft({ ...draft, tag: e.target.value })} /></div>
          <div className="field"><label htmlFor="f-owner">Owner</label>
            <select id="f-owner" value={draft.owner_id ?? ""} onChange={(e) => setDraft({ ...draft, owner_id: e.target.value })}><option value="">Anyone</option>{users.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}</select></div>
          <div className="field"><label htmlFor="f-from">Created from</label><input id="f-from" type="date" value={draft.created_from ?? ""} onChange={(e) => setDraft({ ...draft, created_from: e.target.value })} /></div>
          <div className="field"><label htmlFor="f-to">Created to</label><input id="f-to" type="date" value={draft.created_to ?? ""} onChange={(e) => setDraft({ ...draft, created_to: e.target.value })} /></div>
          <div className="field"><label className="check"><input type="checkbox" checked={draft.inactive_days === "30"} onChange={(e) => setDraft({ ...draft, inactive_days: e.target.checked ? "30" : "" })} /> No activity for 30 days</label></div>
          <div className="filter-actions">
            <button type="submit" className="btn primary">Apply Filters</button>
            <button type="button" className="btn" onClick={() => { setDraft({}); apply({}); }}>Clear</button>
          </div>
        </form>
      ) : null}
      {activeFilters.length ? (
        <div className="active-filters" aria-label="Active filters">
          {activeFilters.map(([k, v]) => (
            <span key={k} className="chip">{k.replace("_", " ")}: {v}
              <button type="button" aria-label={`Remove filter ${k}`} onClick={() => apply({ ...filters, [k]: undefined })}>×</button></span>
          ))}
        </div>
      ) : null}
      {selIds.length ? (
        <div className="bulk-bar" role="region" aria-label="Bulk actions">
          <strong>{selIds.length} selected</strong>
          {user?.role !== "executive" ? <>
            <button type="button" className="btn small" onClick={() => setModal({ kind: "bulk", action: "add_tags", ids: selIds })}>Add Tags</button>
            <button type="button" className="btn small" onClick={() => setModal({ kind: "bulk", action: "remove_tags", ids: selIds })}>Remove Tags</button>
            <button type="button" className="btn small" onClick={() => setModal({ kind: "bulk", action: "set_stage", ids: selIds })}>Change Stage</button>
            <button type="button" className="btn small" onClick={() => setModal({ kind: "bulk", action: "assign_owner", ids: selIds })}>Assign Owner</button>
            {canManageSegments(user) ? <button type="button" className="btn small" onClick={() => setModal({ kind: "segment", ids: selIds })}>Add to Segment</button> : null}
            {canManageCampaigns(user) ? <button type="button" className="btn small" onClick={() => setModal({ kind: "campaign", ids: selIds })}>Add to Campaign</button> : null}
            <button type="button" className="btn small" onClick={() => setModal({ kind: "email", contacts: Object.values(selected) })}>Send Email</button>
            {canDeleteContacts(user) ? <button type="button" className="btn small danger" onClick={() => setModal({ kind: "delete", ids: selIds })}>Delete</button> : null}
          </> : <span className="muted">Read-only role: no bulk changes.</span>}
          <button type="button" className="btn-link" onClick={() => setSelected({})}>Clear selection</button>
        </div>
      ) : null}
      <ErrorBox error={list.error} />
      <div className="table-wrap">
        <table className="contacts-table">
          <caption className="sr-only">Contacts, page {page} of {pages}</caption>
          <thead>
            <tr>
              <th scope="col"><input type="checkbox" aria-label="Select all contacts on this page" checked={allOnPage} onChange={toggleAll} /></th>
              {th("Contact", "name")}
              {th("Company", "company")}
              {th("Position", "position")}
              {th("Type")}
              {th("Channel")}
              {th("Contact Info")}
              {th("Score", "score", true)}
              {th("Stage", "stage")}
              {th("Tags")}
              {th("Last Contact", "last_contact_at", true)}
              {th("Actions")}
            </tr>
          </thead>
          <tbody>
            {items.map((c) => (
              <tr key={c.id} className={isInactive(c) ? "inactive" : ""} data-testid="contact-row" title={isInactive(c) ? "No activity for 30 days" : undefined}>
                <td><input type="checkbox" aria-label={`Select ${fullName(c)}`} checked={!!selected[c.id]} onChange={(e) => setSelected((s) => { const n = { ...s }; if (e.target.checked) n[c.id] = c; else delete n[c.id]; return n; })} /></td>
                <td className="contact-cell">
                  <Avatar first={c.first_name} last={c.last_name} />
                  <div><Link to={`/contacts/${c.id}`}>{fullName(c)}</Link>{ownerName(c.owner_id) ? <div className="muted small">Owner: {ownerName(c.owner_id)}</div> : null}</div>
                </td>
                <td title={c.company ?? undefined}>{c.company ? truncate(c.company, 30) : <span className="muted">—</span>}</td>
                <td title={c.position ?? undefined}>{c.position ? truncate(c.position, 25) : <span className="muted">—</span>}</td>
                <td><TypeBadge value={c.type} /></td>
                <td><ChannelBadge value={c.channel} /></td>
                <td className="info-cell">
                  <button type="button" className="btn-link" onClick={() => setModal({ kind: "email", contacts: [c] })} title="Send email">✉ {truncate(c.email, 28)}</button>
                  {c.phone ? <button type="button" className="btn-link" onClick={() => setModal({ kind: "call", contact: c })} title="Log a call">✆ {c.phone_display ?? formatPhone(c.phone)}</button> : null}
                </td>
                <td><ScoreBadge score={c.score} /></td>
                <td><StageBadge stage={c.stage} /></td>
                <td><TagsCell tags={c.tags} /></td>
                <td>{relativeDay(c.last_contact_at)}</td>
                <td><RowMenu contact={c} onAction={onRow} /></td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.loading && !items.length ? <Spinner /> : null}
        {!list.loading && !items.length && !list.error ? (
          <EmptyState icon="☷" title={activeFilters.length ? "No contacts match these filters" : "No contacts yet"}
            text={activeFilters.length ? "Try removing a filter." : "Add a contact or import a CSV file to get started."}
            action={canCreateContacts(user) ? <Link className="btn primary" to="/contacts/new">+ Add Contact</Link> : undefined} />
        ) : null}
      </div>
      <nav className="pager" aria-label="Pages">
        <span>{total} contact{total === 1 ? "" : "s"} · page {page} of {pages}</span>
        <button type="button" className="btn small" disabled={page <= 1} onClick={() => navigate(`/contacts?${toQuery({ ...filters, page: String(page - 1) })}`)}>‹ Previous</button>
        <button type="button" className="btn small" disabled={page >= pages} onClick={() => navigate(`/contacts?${toQuery({ ...filters, page: String(page + 1) })}`)}>Next ›</button>
      </nav>
      {modal?.kind === "email" ? <EmailModal contacts={modal.contacts} onClose={() => setModal(null)} onSent={done} /> : null}
      {modal?.kind === "call" ? (canEditContact(user, modal.contact)
        ? <CallModal contact={modal.contact} onClose={() => setModal(null)} onLogged={list.reload} />
        : <Modal title="Call" onClose={() => setModal(null)}><p>You can call {fullName(modal.contact)} at {formatPhone(modal.contact.phone)}; logging calls needs write access to this contact.</p></Modal>) : null}
      {modal?.kind === "segment" ? <SegmentModal contactIds={modal.ids} onClose={() => setModal(null)} onSaved={done} /> : null}
      {modal?.kind === "campaign" ? <CampaignModal contactIds={modal.ids} onClose={() => setModal(null)} onSaved={done} /> : null}
      {modal?.kind === "bulk" ? <BulkValueModal action={modal.action} ids={modal.ids} onClose={() => setModal(null)} onDone={done} /> : null}
      {modal?.kind === "delete" ? (
        <Modal title="Delete contacts" onClose={() => setModal(null)} footer={<>
          <button type="button" className="btn" onClick={() => setModal(null)}>Cancel</button>
          <button type="button" className="btn danger" onClick={() => doDelete(modal.ids)}>Delete {modal.ids.length}</button></>}>
          <p>Delete {modal.ids.length} contact{modal.ids.length > 1 ? "s" : ""}? This cannot be undone here.</p>
        </Modal>
      ) : null}
    </div>
  );
}

