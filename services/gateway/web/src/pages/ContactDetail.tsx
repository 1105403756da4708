/** Contact detail from one aggregate call: header, hot lead alert, quick actions and the eight tabs. */
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, download, itemsOf, type Page } from "../api/client";
import { activityExportPath, activityQuery } from "../lib/activity";
import { useAuth } from "../auth";
import { CallModal, CampaignModal, EmailModal, FollowUpModal, SegmentModal } from "../components/actions";
import { HoldReason } from "../components/sending";
import { Avatar, Badge, ComingSoon, EmptyState, ErrorBox, Modal, ScoreBadge, Spinner, StageBadge, Unavailable, useToast } from "../components/ui";
import { useUsers } from "../hooks";
import { commStatusStyle, NOTE_TYPES, noteTypeLabel, noteTypeStyle, STAGES } from "../lib/badges";
import { addTag, formatPhone, fullName, positionAtCompany, type Contact } from "../lib/contact";
import { describeError } from "../lib/errors";
import { canEditContact, canEditNote, canManageSegments, type User } from "../lib/permissions";
import { clearDraft, DRAFT_INTERVAL_MS, loadDraft, NOTE_MAX, saveDraft } from "../lib/draft";
import { dateTime, dayHeader, isoDay, relativeDay } from "../lib/time";

type Rec = Record<string, unknown>;
interface Alert { score?: number; signals?: Array<string | Rec>; priority_action?: string; urgency?: string }
interface Membership { segment_id: string; name?: string; color?: string; manual?: boolean; qualifies?: boolean; added_at?: string; updated_at?: string; description?: string; member_count?: number }
interface Note { id: string; text: string; type?: string; tags?: string[]; author_id?: string; author_name?: string; author_role?: string; created_at?: string; updated_at?: string }
interface Detail {
  contact: Contact;
  score?: { score?: number; fit?: number; engagement?: number; engagement_level?: number; breakdown?: Rec[]; signals?: Rec[]; history?: Rec[] } | null;
  hot_lead_alert?: Alert | null;
  segments?: Membership[] | null;
  campaigns?: Rec[] | Page<Rec> | null;
  communications?: Rec[] | Page<Rec> | null;
  activity?: Rec[] | Page<Rec> | null;
  notes?: Note[] | Page<Note> | null;
  follow_ups?: Rec[] | Page<Rec> | null;
  unavailable?: string[];
}

export const TABS = ["Campaigns", "Communication", "Segments", "Activity", "Notes", "Enrichment", "AI", "Buying Signals"] as const;
type Tab = (typeof TABS)[number];
const TAB_ICONS: Record<Tab, string> = { Campaigns: "⚑", Communication: "✉", Segments: "◔", Activity: "≋", Notes: "✍", Enrichment: "★", AI: "⚡", "Buying Signals": "◎" };
const TAB_KEY = "crm.detailTab";

const str = (v: unknown) => (v == null ? "" : String(v));
const when = (r: Rec) => str(r.occurred_at ?? r.sent_at ?? r.created_at ?? r.at ?? r.timestamp);

function signalText(s: string | Rec): string {
  if (typeof s === "string") return s;
  return str(s.text ?? s.label ?? s.description ?? s.type);
}

function HotLeadAlert({ alert, score }: { alert: Alert | null | undefined; score?: number | null }) {
  const urgency = (alert?.urgency ?? "").toLowerCase();
  const level = urgency.includes("24") ? "high" : urgency.includes("48") ? "medium" : "standard";
  return (
    <section className="hot-alert" aria-label="Hot lead alert" data-testid="hot-lead-alert">
      <div className="hot-title"><span aria-hidden="true">♨ ⚠</span> HOT LEAD ALERT</div>
      <div className="hot-score"><span aria-hidden="true">★</span> {alert?.score ?? score ?? "–"}<span className="small"> AI Lead Score</span></div>
      <div className="hot-sub">Key Buying Signals:</div>
      <ul className="signals">
        {(alert?.signals ?? []).map((s, i) => <li key={i}>{signalText(s)}</li>)}
        {!alert?.signals?.length ? <li>Stage is Hot Lead</li> : null}
      </ul>
      {alert?.priority_action ? (
        <div className={`priority ${level}`}><span aria-hidden="true">⚠</span> <strong>Priority Action:</strong> {alert.priority_action}{alert.urgency && !alert.priority_action.includes("within") ? ` within ${alert.urgency}` : ""}</div>
      ) : null}
    </section>
  );
}

function NoteComposer({ contactId, onSaved, autoFocus }: { contactId: string; onSaved: () => void; autoFocus?: boolean }) {
  const toast = useToast();
  const [text, setText] = useState(() => loadDraft(localStorage, contactId));
  const [type, setType] = useState("general");
  const [tags, setTags] = useState<string[]>([]);
  const [custom, setCustom] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(text);
  latest.current = text;
  useEffect(() => {
    const timer = setInterval(() => saveDraft(localStorage, contactId, latest.current), DRAFT_INTERVAL_MS);
    const onUnload = () => saveDraft(localStorage, contactId, latest.current);
    window.addEventListener("beforeunload", onUnload);
    return () => { clearInterval(timer); window.removeEventListener("beforeunload", onUnload); saveDraft(localStorage, contactId, latest.current); };
  }, [contactId]);
  const save = async () => {
    if (!text.trim() || busy) return;
    setBusy(true);
    setError(null);
    try {
      await api.post(`/contacts/${contactId}/notes`, { text: text.trim(), type, tags });
      clearDraft(localStorage, contactId);
      latest.current = "";
      setText("");
      setTags([]);
      toast("Note added");
      onSaved();
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const QUICK = ["Follow-up", "Pricing", "Decision Maker", "Demo", "Objection", "Budget"];
  return (
    <div className="note-composer">
      <ErrorBox error={error} />
      <label htmlFor={`note-${contactId}`} className="sr-only">New note</label>
      <textarea id={`note-${contactId}`} className="note-text" placeholder="Add a new note... (Ctrl+Enter to save)" maxLength={NOTE_MAX}
        value={text} autoFocus={autoFocus}
        onChange={(e) => { setText(e.target.value); e.target.style.height = "auto"; e.target.style.height = `${Math.max(120, e.target.scrollHeight)}px`; }}
        onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); } }} />
      <div className="note-row">
        <label>Type{" "}
          <select value={type} onChange={(e) => setType(e.target.value)} aria-label="Note type">
            {NOTE_TYPES.map((t) => <option key={t} value={t}>{noteTypeLabel(t)}</option>)}
          </select>
        </label>
        <span className="muted small" aria-live="polite">{text.length}/{NOTE_MAX} characters</span>
      </div>
      <div className="note-tags" aria-label="Note tags">
        {QUICK.map((q) => (
          <button key={q} type="button" aria-pressed={tags.includes(q)} className={`chip-btn ${tags.includes(q) ? "on" : ""}`}
            onClick={() => setTags((t) => t.includes(q) ? t.filter((x) => x !== q) : [...t, q])}>#{q}</button>
        ))}
        {tags.filter((t) => !QUICK.includes(t)).map((t) => <span key={t} className="chip small">#{t}<button type="button" aria-label={`Remove tag ${t}`} onClick={() => setTags(tags.filter((x) => x !== t))}>×</button></span>)}
        <input aria-label="Custom note tag" placeholder="Custom tag" value={custom} maxLength={50} onChange={(e) => setCustom(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); setTags((t) => addTag(t, custom)); setCustom(""); } }} />
      </div>
      <div className="note-actions">
        <button type="button" className="btn primary" disabled={!text.trim() || busy} onClick={save}>Add Note</button>
      </div>
    </div>
  );
}

function NotesTab({ contact, initial, user, onChange }: { contact: Contact; initial: Note[]; user: User | null; onChange: () => void }) {
  const toast = useToast();
  const [q, setQ] = useState("");
  const [notes, setNotes] = useState<Note[]>(initial);
  const [editing, setEditing] = useState<Note | null>(null);
  const [editText, setEditText] = useState("");
  useEffect(() => setNotes(initial), [initial]);
  const search = async (text: string) => {
    try {
      setNotes(itemsOf<Note>(await api.get(`/contacts/${contact.id}/notes?q=${encodeURIComponent(text)}&per_page=50`)));
    } catch (e) {
      toast(describeError(e), "error");
    }
  };
  const remove = async (n: Note) => {
    if (!window.confirm("Delete this note?")) return;
    try { await api.del(`/notes/${n.id}`); toast("Note deleted"); onChange(); } catch (e) { toast(describeError(e), "error"); }
  };
  const saveEdit = async () => {
    if (!editing) return;
    try { await api.patch(`/notes/${editing.id}`, { text: editText }); setEditing(null); toast("Note saved"); onChange(); } catch (e) { toast(describeError(e), "error"); }
  };
  const sorted = [...notes].sort((a, b) => str(b.created_at).localeCompare(str(a.created_at)));
  return (
    <div>
      <h2 className="tab-title">Notes</h2>
      {user?.role !== "executive" ? <NoteComposer contactId={contact.id} onSaved={onChange} /> : null}
      <form className="inline-search" role="search" onSubmit={(e) => { e.preventDefault(); search(q); }}>
        <input type="search" aria-label="Search notes" placeholder="Search notes…" value={q} onChange={(e) => setQ(e.target.value)} />
        <button className="btn small" type="submit">Search</button>
      </form>
      {!sorted.length ? <EmptyState icon="✍" title="No notes yet" text="Notes you add appear here, newest first." /> : null}
      <ul className="notes" data-testid="notes-list">
        {sorted.map((n) => (
          <li key={n.id} className="note card">
            <div className="note-head">
              <span aria-hidden="true">✍</span> <span>{isoDay(n.created_at)}</span>
              <span>☺ {n.author_name ?? "Unknown"}{n.author_role ? <span className="role-badge small">{n.author_role}</span> : null}</span>
              <Badge style={noteTypeStyle(n.type)}>{noteTypeLabel(n.type)}</Badge>
              {canEditNote(user, n, contact) ? (
                <span className="note-tools">
                  <button type="button" className="btn-link" onClick={() => { setEditing(n); setEditText(n.text); }}>Edit</button>
                  <button type="button" className="btn-link danger" onClick={() => remove(n)}>Delete</button>
                </span>
              ) : null}
            </div>
            {editing?.id === n.id ? (
              <div>
                <textarea aria-label="Edit note" value={editText} maxLength={NOTE_MAX} onChange={(e) => setEditText(e.target.value)} rows={4} />
                <button type="button" className="btn small primary" onClick={saveEdit}>Save</button>{" "}
                <button type="button" className="btn small" onClick={() => setEditing(null)}>Cancel</button>
              </div>
            ) : <p className="note-body">{n.text}</p>}
            {n.tags?.length ? <div>{n.tags.map((t) => <span key={t} className="chip small">#{t}</span>)}</div> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

function CommEntry({ item }: { item: Rec }) {
  const [open, setOpen] = useState(false);
  const isCall = str(item.type ?? item.kind).toLowerCase() === "call" || item.purpose != null;
  const inbound = str(item.direction).toLowerCase() === "inbound";
  const body = str(item.content ?? item.body ?? item.text ?? item.notes);
  const status = str(item.status);
  return (
    <li className={`comm ${inbound ? "inbound" : "outbound"}`} data-testid="comm-entry">
      <button type="button" className="comm-head" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
        <span aria-hidden="true" className={isCall ? "ic-call" : "ic-mail"}>{isCall ? "✆" : "✉"}</span>
        <span className="comm-title">{isCall ? str(item.purpose) || "Call" : str(item.subject) || "(no subject)"}</span>
        {status ? <Badge style={commStatusStyle(status)}>{status}</Badge> : null}
        <Badge style={commStatusStyle(inbound ? "replied" : "outbound")}>{inbound ? "inbound" : "outbound"}</Badge>
        {isCall && item.duration_s ? <span className="badge gray">{str(item.duration_label) || `${Math.round(Number(item.duration_s) / 60)} min call`}</span> : null}
        <span className="muted small">{dateTime(when(item))}</span>
      </button>
      {body ? <p className="comm-body">{open || body.length <= 150 ? body : `${body.slice(0, 150)}… `}{!open && body.length > 150 ? <span className="link">Read more</span> : null}</p> : null}
      {open && isCall && Array.isArray(item.participants) && item.participants.length ? <p className="small">Participants: {(item.participants as string[]).join(", ")}</p> : null}
      {open && item.outcome ? <p className="small">Outcome: {str(item.outcome)}</p> : null}
      {open && (item.user_name || item.sent_by_name) ? <p className="small muted">by {str(item.user_name ?? item.sent_by_name)}</p> : null}
    </li>
  );
}

function CommunicationTab({ contact, initial, onAction, canAct }: { contact: Contact; initial: Rec[]; onAction: (a: string) => void; canAct: boolean }) {
  const [type, setType] = useState("");
  const [q, setQ] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [items, setItems] = useState<Rec[]>(initial);
  const [page, setPage] = useState(1);
  const [total, setTotal] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async (p: number) => {
    const qs = new URLSearchParams({ page: String(p) });
    if (type) qs.set("type", type);
    if (q) qs.set("q", q);
    if (from) qs.set("from", new Date(`${from}T00:00:00`).toISOString());
    if (to) qs.set("to", new Date(`${to}T23:59:59`).toISOString());
    try {
      const d = await api.get<Page<Rec>>(`/contacts/${contact.id}/communications?${qs}`);
      const got = itemsOf<Rec>(d);
      setItems((old) => (p === 1 ? got : [...old, ...got]));
      setTotal(typeof d?.total === "number" ? d.total : null);
      setPage(p);
      setError(null);
    } catch (e) {
      setError(describeError(e));
    }
  }, [contact.id, type, q, from, to]);
  useEffect(() => { setItems(initial); }, [initial]);
  useEffect(() => { if (type || from || to) load(1); }, [type, from, to]); // eslint-disable-line react-hooks/exhaustive-deps
  const groups: Array<[string, Rec[]]> = [];
  for (const it of [...items].sort((a, b) => when(b).localeCompare(when(a)))) {
    const h = when(it) ? dayHeader(when(it)) : "Undated";
    const g = groups.find(([k]) => k === h);
    if (g) g[1].push(it); else groups.push([h, [it]]);
  }
  return (
    <div>
      <div className="tab-head">
        <h2 className="tab-title">Communication History</h2>
        {canAct ? (
          <div className="actions">
            <button type="button" className="btn green" onClick={() => onAction("followup")}>Create Follow-up</button>
            <button type="button" className="btn blue" onClick={() => onAction("call")}>Call</button>
            <button type="button" className="btn purple" onClick={() => onAction("email")}>New Message</button>
          </div>
        ) : null}
      </div>
      <form className="filters-row" role="search" onSubmit={(e) => { e.preventDefault(); load(1); }}>
        <select aria-label="Communication type" value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">All</option><option value="email">Emails</option><option value="call">Calls</option>
        </select>
        <input type="date" aria-label="From date" value={from} onChange={(e) => setFrom(e.target.value)} />
        <input type="date" aria-label="To date" value={to} onChange={(e) => setTo(e.target.value)} />
        <input type="search" aria-label="Search communications" placeholder="Search…" value={q} onChange={(e) => setQ(e.target.value)} />
        <button className="btn small" type="submit">Search</button>
        <button className="btn small" type="button" onClick={() => load(1)} aria-label="Refresh communications">↻</button>
      </form>
      <ErrorBox error={error} />
      {!items.length ? <EmptyState icon="✉" title="No communication yet" text="Emails and calls with this contact appear here." /> : null}
      <div className="timeline">
        {groups.map(([h, list]) => (
          <div key={h}>
            <div className="date-header">{h}</div>
            <ul className="comm-list">{list.map((it, i) => <CommEntry key={str(it.id) || i} item={it} />)}</ul>
          </div>
        ))}
      </div>
      {total != null && items.length < total ? <button type="button" className="btn" onClick={() => load(page + 1)}>Load more</button> : null}
    </div>
  );
}

function ActivityTab({ contact, initial }: { contact: Contact; initial: Rec[] }) {
  const users = useUsers();
  const [type, setType] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [userId, setUserId] = useState("");
  const [items, setItems] = useState<Rec[]>(initial);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setItems(initial), [initial]);
  useEffect(() => {
    if (!type && !from && !to && !userId) { setItems(initial); return; }
    const qs = activityQuery({ type, from, to, userId }, { per_page: "50" });
    api.get(`/contacts/${contact.id}/activity?${qs}`).then((d) => { setItems(itemsOf<Rec>(d)); setError(null); }).catch((e) => setError(describeError(e)));
  }, [type, from, to, userId, contact.id, initial]);
  const [exporting, setExporting] = useState(false);
  const exportCsv = async () => {
    setExporting(true);
    try {
      await download(activityExportPath(contact.id, { type, from, to, userId }), `activity-${contact.id}.csv`);
      setError(null);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setExporting(false);
    }
  };
  const icon = (t: string) => ({ email: "✉", email_sent: "✉", call: "✆", call_logged: "✆", note: "✍", note_added: "✍", stage_changed: "➜", tag_added: "#", tags_added: "#", campaign: "⚑", campaign_enrolled: "⚑", segment: "◔", segment_added: "◔" } as Record<string, string>)[t] ?? "•";
  return (
    <div>
      <div className="tab-head">
        <h2 className="tab-title">Activity History</h2>
        <button type="button" className="btn" onClick={exportCsv} disabled={!items.length || exporting}>Export Activity</button>
      </div>
      <div className="filters-row">
        <select aria-label="Activity type" value={type} onChange={(e) => setType(e.target.value)}>
          <option value="">All</option><option value="email">Emails</option><option value="call">Calls</option><option value="note">Notes</option><option value="stage_changed">Status Changes</option>
        </select>
        <input type="date" aria-label="Activity from" value={from} onChange={(e) => setFrom(e.target.value)} />
        <input type="date" aria-label="Activity to" value={to} onChange={(e) => setTo(e.target.value)} />
        <select aria-label="By user" value={userId} onChange={(e) => setUserId(e.target.value)}>
          <option value="">Everyone</option>{users.map((u) => <option key={u.id} value={u.id}>{u.name}</option>)}
        </select>
      </div>
      <ErrorBox error={error} />
      {!items.length ? <EmptyState icon="≋" title="No activity yet" text="Everything that happens with this contact is listed here." /> : null}
      <ol className="activity">
        {items.map((a, i) => {
          const id = str(a.id) || String(i);
          return (
            <li key={id}>
              <button type="button" className="act-head" aria-expanded={open === id} onClick={() => setOpen(open === id ? null : id)}>
                <span className="act-icon" aria-hidden="true">{icon(str(a.type))}</span>
                <span className="act-title">{str(a.title) || str(a.type)}</span>
                <span className="muted small">{dateTime(when(a))}{a.user_name || a.actor_name ? ` · by ${str(a.user_name ?? a.actor_name)}` : ""}</span>
              </button>
              {open === id && a.details ? <pre className="act-details">{typeof a.details === "string" ? a.details : JSON.stringify(a.details, null, 2)}</pre> : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function SegmentsTab({ contact, memberships, onAdd, onChange, canManage }: { contact: Contact; memberships: Membership[]; onAdd: () => void; onChange: () => void; canManage: boolean }) {
  const toast = useToast();
  const navigate = useNavigate();
  const remove = async (m: Membership) => {
    if (!window.confirm(`Remove ${fullName(contact)} from ${m.name ?? "this segment"}?`)) return;
    try { await api.del(`/segments/${m.segment_id}/members`, { contact_ids: [contact.id] }); toast("Removed from segment"); onChange(); } catch (e) { toast(describeError(e), "error"); }
  };
  return (
    <div>
      <div className="tab-head">
        <h2 className="tab-title">Contact Segments <span className="count-badge">{memberships.length}</span></h2>
        {canManage ? <div className="actions"><button type="button" className="btn" onClick={onAdd}>Add to Segment</button><button type="button" className="btn" onClick={() => navigate("/segments?new=1")}>New Segment</button></div> : null}
      </div>
      {!memberships.length ? <EmptyState icon="◔" title="Not in any segment" text="Add this contact to a segment, or create one with criteria it meets." /> : null}
      <div className="seg-cards">
        {memberships.map((m) => (
          <div key={m.segment_id} className="seg-card" style={{ borderLeftColor: m.color ?? "#3B82F6" }}>
            {m.manual && canManage ? <button type="button" className="icon-btn seg-remove" aria-label={`Remove from ${m.name}`} onClick={() => remove(m)}>✕</button> : null}
            <div className="seg-name">{m.name}</div>
            {m.description ? <div className="muted">{m.description}</div> : null}
            <div className="small muted">Contact added on {m.added_at ? isoDay(m.added_at) : "?"} • Last updated {relativeDay(m.updated_at ?? m.added_at)}</div>
            <div className="small">
              {m.qualifies ? <span className="ok-text">✓ Meets all criteria</span> : <span className="warn-text">⚠ No longer qualifies</span>}
              {m.manual ? <span className="chip small">Manual</span> : null}
              {m.member_count != null ? <span className="count-badge">{m.member_count} members</span> : null}
            </div>
          </div>
        ))}
      </div>
    </div>
  );
}

function CampaignsTab({ campaigns, onAdd, canAdd }: { campaigns: Rec[]; onAdd: () => void; canAdd: boolean }) {
  if (!campaigns.length) {
    return <EmptyState icon="⚑" title="No active campaigns" text="This contact is not currently enrolled in any campaigns"
      action={canAdd ? <button type="button" className="btn primary" onClick={onAdd}>Add to Campaign</button> : undefined} />;
  }
  return (
    <div>
      <div className="tab-head"><h2 className="tab-title">Campaigns</h2>{canAdd ? <button type="button" className="btn" onClick={onAdd}>Add to Campaign</button> : null}</div>
      <div className="camp-cards">
        {campaigns.map((c, i) => (
          <div key={str(c.id ?? c.campaign_id) || i} className="card camp-card">
            <div className="seg-name">{str(c.title ?? c.name ?? (c.campaign as Rec | undefined)?.title) || "Campaign"}</div>
            {c.type ? <span className="chip small">{str(c.type)}</span> : null}
            <div className="small muted">Enrolled {c.enrolled_at ? isoDay(str(c.enrolled_at)) : ""} · {str(c.enrollment_status ?? c.status)}{c.campaign_status ? ` · campaign ${str(c.campaign_status)}` : ""}</div>
            <HoldReason reason={c.hold_reason ? str(c.hold_reason) : null} />
            {c.steps_total != null ? <div className="small">Steps {str(c.steps_done ?? 0)}/{str(c.steps_total)}<div className="progress" aria-label="Steps completed"><div style={{ width: `${(Number(c.steps_done ?? 0) / Math.max(1, Number(c.steps_total))) * 100}%` }} /></div></div> : null}
            {c.engagement && typeof c.engagement === "object" ? <div className="small">Open rate {str((c.engagement as Rec).open_rate ?? 0)}% · Click rate {str((c.engagement as Rec).click_rate ?? 0)}%</div> : null}
          </div>
        ))}
      </div>
      <p className="muted small">AI insights for campaigns are coming in Phase 2.</p>
    </div>
  );
}

function AiTab({ score }: { score: Detail["score"] }) {
  if (!score) return <ComingSoon what="AI insights" tooltip="Predictive scoring and recommendations" />;
  return (
    <div>
      <h2 className="tab-title">AI Lead Score</h2>
      <div className="score-split">
        <div className="card"><div className="kpi-label">Score</div><div className="kpi-value">{score.score ?? "–"}</div></div>
        <div className="card"><div className="kpi-label">Fit</div><div className="kpi-value">{score.fit ?? "–"}</div></div>
        <div className="card"><div className="kpi-label">Engagement</div><div className="kpi-value">{score.engagement ?? "–"}</div></div>
        <div className="card"><div className="kpi-label">Engagement level</div><div className="kpi-value">{score.engagement_level ?? 0}%</div></div>
      </div>
      {score.breakdown?.length ? (
        <table className="simple-table"><caption>Score breakdown</caption><thead><tr><th scope="col">Factor</th><th scope="col">Points</th></tr></thead>
          <tbody>{score.breakdown.map((b, i) => <tr key={i}><td>{str(b.label ?? b.reason ?? b.rule ?? b.factor ?? b.type)}</td><td>{str(b.points ?? b.value ?? b.score)}</td></tr>)}</tbody></table>
      ) : null}
      <p className="muted small">Predictive AI insights and next-best-action recommendations are coming in Phase 2.</p>
    </div>
  );
}

export function ContactDetailPage() {
  const { id = "" } = useParams();
  const { user } = useAuth();
  const toast = useToast();
  const navigate = useNavigate();
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>(() => (sessionStorage.getItem(TAB_KEY) as Tab) || "Communication");
  const [modal, setModal] = useState<string | null>(null);
  const [quickOpen, setQuickOpen] = useState(true);
  const [newTag, setNewTag] = useState<string | null>(null);
  const load = useCallback(async () => {
    try {
      setDetail(await api.get<Detail>(`/contacts/${id}/detail`));
      setError(null);
    } catch (e) {
      setError(describeError(e));
    }
  }, [id]);
  useEffect(() => { load(); }, [load]);
  useEffect(() => { sessionStorage.setItem(TAB_KEY, tab); }, [tab]);
  if (error && !detail) return <div className="page"><Link to="/contacts" className="back">← Back to Contacts</Link><ErrorBox error={error} /></div>;
  if (!detail) return <div className="page"><Spinner /></div>;
  const c = detail.contact;
  const canEdit = canEditContact(user, c);
  const score = detail.score?.score ?? c.score;
  const hot = c.stage === "Hot Lead" || (score ?? 0) >= 90 || !!detail.hot_lead_alert;
  const setField = async (body: Record<string, unknown>, msg: string) => {
    try { await api.patch(`/contacts/${c.id}`, body); toast(msg); load(); } catch (e) { toast(describeError(e), "error"); }
  };
  const tabsContent: Record<Tab, () => JSX.Element> = {
    Campaigns: () => <CampaignsTab campaigns={itemsOf<Rec>(detail.campaigns)} onAdd={() => setModal("campaign")} canAdd={canEdit} />,
    Communication: () => <CommunicationTab contact={c} initial={itemsOf<Rec>(detail.communications)} onAction={setModal} canAct={canEdit} />,
    Segments: () => <SegmentsTab contact={c} memberships={itemsOf<Membership>(detail.segments)} onAdd={() => setModal("segment")} onChange={load} canManage={canManageSegments(user)} />,
    Activity: () => <ActivityTab contact={c} initial={itemsOf<Rec>(detail.activity)} />,
    Notes: () => <NotesTab contact={c} initial={itemsOf<Note>(detail.notes)} user={user} onChange={load} />,
    Enrichment: () => <ComingSoon what="Enrichment" tooltip="Contact data enrichment and external data sources" />,
    AI: () => <AiTab score={detail.score} />,
    "Buying Signals": () => (
      <div>
        <ComingSoon what="Buying Signals" tooltip="AI-detected buying intent indicators and lead scoring factors" />
        {detail.score?.signals?.length ? <><h3>Signals seen so far</h3><ul>{detail.score.signals.map((s, i) => <li key={i}>{signalText(s)}</li>)}</ul></> : null}
      </div>
    ),
  };
  const quick: Array<{ key: string; label: string; icon: string; color: string; enabled: boolean; title?: string }> = [
    { key: "edit", label: "Edit Contact", icon: "✎", color: "#3B82F6", enabled: canEdit, title: canEdit ? undefined : "Needs edit permission for this contact" },
    { key: "email", label: "Email", icon: "✉", color: "#3B82F6", enabled: canEdit },
    { key: "call", label: "Call", icon: "✆", color: "#10B981", enabled: canEdit },
    { key: "enrich", label: "Enrich Contact", icon: "⛁", color: "#6B7280", enabled: false, title: "Coming Soon in Phase 2" },
    { key: "campaign", label: "Add Campaign & A", icon: "⚑", color: "#8B5CF6", enabled: canEdit },
    { key: "followup", label: "Create Follow Up", icon: "◷", color: "#F59E0B", enabled: canEdit },
    { key: "segment", label: "Add to Segment", icon: "◔", color: "#06B6D4", enabled: canManageSegments(user) },
    { key: "note", label: "Add Notes", icon: "✍", color: "#6B7280", enabled: user?.role !== "executive" },
  ];
  return (
    <div className={`detail-bg ${hot ? "hot" : ""}`} data-testid="detail-page">
      <div className="page">
        <Link to="/contacts" className="back">← Back to Contacts</Link>
        <Unavailable parts={detail.unavailable ?? []} />
        <div className="detail-top">
          <section className="card detail-header" aria-label="Contact">
            <div className="dh-main">
              <Avatar first={c.first_name} last={c.last_name} size={80} />
              <div className="dh-text">
                <h1 className="dh-name">{fullName(c)}</h1>
                <div className="dh-pos">{positionAtCompany(c.position, c.company)}</div>
                <div className="dh-badges">
                  <ScoreBadge score={score} long />
                  <StageBadge stage={c.stage} />
                  {canEdit ? (
                    <select aria-label="Change stage" value={c.stage ?? ""} onChange={(e) => setField({ stage: e.target.value }, `Stage changed to ${e.target.value}`)}>
                      {STAGES.map((s) => <option key={s}>{s}</option>)}
                    </select>
                  ) : null}
                </div>
                <div className="dh-tags" aria-label="Tags">
                  {(c.tags ?? []).map((t) => (
                    <span key={t} className="chip">{t}{canEdit ? <button type="button" aria-label={`Remove tag ${t}`} onClick={() => setField({ tags: (c.tags ?? []).filter((x) => x !== t) }, "Tag removed")}>×</button> : null}</span>
                  ))}
                  {canEdit ? (newTag === null
                    ? <button type="button" className="chip-btn" aria-label="Add tag" onClick={() => setNewTag("")}>+</button>
                    : <input aria-label="New tag" autoFocus value={newTag} maxLength={50} onChange={(e) => setNewTag(e.target.value)} onBlur={() => setNewTag(null)}
                      onKeyDown={(e) => { if (e.key === "Enter" && newTag.trim()) { setField({ tags: addTag(c.tags ?? [], newTag) }, "Tag added"); setNewTag(null); } if (e.key === "Escape") setNewTag(null); }} />) : null}
                </div>
                <ul className="dh-info">
                  <li><button type="button" className="btn-link" onClick={() => canEdit && setModal("email")}>✉ {c.email}</button>{c.emails?.length ? <span className="muted"> ({c.emails.length + 1} emails)</span> : null}</li>
                  {c.phone ? <li><button type="button" className="btn-link" onClick={() => canEdit && setModal("call")}>✆ {c.phone_display ?? formatPhone(c.phone)}</button></li> : null}
                  {c.company ? <li><Link to={`/contacts?company=${encodeURIComponent(c.company)}`}>⌂ {c.company}</Link></li> : null}
                </ul>
                <div className="last-contact">Last contact: {relativeDay(c.last_contact_at)}</div>
              </div>
            </div>
            {hot ? <HotLeadAlert alert={detail.hot_lead_alert} score={score} /> : null}
          </section>
          <aside className="card quick" aria-label="Quick Actions">
            <button type="button" className="quick-title" aria-expanded={quickOpen} onClick={() => setQuickOpen((o) => !o)}>Quick Actions <span aria-hidden="true">{quickOpen ? "▾" : "▸"}</span></button>
            {quickOpen ? (
              <ul>
                {quick.map((q) => (
                  <li key={q.key}>
                    <button type="button" className="quick-btn" disabled={!q.enabled} title={q.title} onClick={() => q.key === "edit" ? navigate(`/contacts/${c.id}/edit`) : setModal(q.key)}>
                      <span aria-hidden="true" style={{ color: q.color }}>{q.icon}</span> {q.label}{q.key === "enrich" ? <span className="soon">Phase 2</span> : null}
                    </button>
                  </li>
                ))}
              </ul>
            ) : null}
          </aside>
        </div>
        <div className="tabs" role="tablist" aria-label="Contact sections">
          {TABS.map((t) => (
            <button key={t} type="button" role="tab" id={`tab-${t}`} aria-selected={tab === t} aria-controls="tabpanel" className={tab === t ? "active" : ""} onClick={() => setTab(t)}
              onKeyDown={(e) => {
                const i = TABS.indexOf(t);
                if (e.key === "ArrowRight") { const n = TABS[(i + 1) % TABS.length]; setTab(n); document.getElementById(`tab-${n}`)?.focus(); }
                if (e.key === "ArrowLeft") { const n = TABS[(i + TABS.length - 1) % TABS.length]; setTab(n); document.getElementById(`tab-${n}`)?.focus(); }
              }}>
              <span aria-hidden="true">{TAB_ICONS[t]}</span> {t}{["Enrichment", "Buying Signals"].includes(t) ? <span className="soon">Phase 2</span> : null}
            </button>
          ))}
        </div>
        <div className="card tab-panel" role="tabpanel" id="tabpanel" aria-labelledby={`tab-${tab}`}>{tabsContent[tab]()}</div>
      </div>
      {modal === "email" ? <EmailModal contacts={[c]} onClose={() => setModal(null)} onSent={load} /> : null}
      {modal === "call" ? <CallModal contact={c} onClose={() => setModal(null)} onLogged={load} /> : null}
      {modal === "followup" ? <FollowUpModal contact={c} onClose={() => setModal(null)} onSaved={load} /> : null}
      {modal === "segment" ? <SegmentModal contactIds={[c.id]} memberships={itemsOf<Membership>(detail.segments)} onClose={() => setModal(null)} onSaved={load} /> : null}
      {modal === "campaign" ? <CampaignModal contactIds={[c.id]} onClose={() => setModal(null)} onSaved={load} /> : null}
      {modal === "note" ? (
        <Modal title="Add Notes" onClose={() => setModal(null)} wide>
          <NoteComposer contactId={c.id} autoFocus onSaved={() => { setModal(null); load(); setTab("Notes"); }} />
        </Modal>
      ) : null}
    </div>
  );
}
