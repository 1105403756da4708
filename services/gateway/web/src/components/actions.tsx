/** The quick-action and bulk-action modals: email, call, follow-up, segment, campaign, stage, tags, owner. */
import { useEffect, useMemo, useState } from "react";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { useUsers } from "../hooks";
import { STAGES } from "../lib/badges";
import { fullName, type Contact } from "../lib/contact";
import { describe as describeCriteria } from "../lib/criteria";
import { ApiError, describeError } from "../lib/errors";
import { percent, renderMerge } from "../lib/merge";
import { capRefusal, capRefusalMessage, capWarning } from "../lib/sendCap";
import { fromLocalInput, toLocalInput } from "../lib/time";
import { useSendCap } from "./sending";
import { ErrorBox, Field, Modal, SelectField, useToast } from "./ui";
import { TagInput } from "./inputs";

type Rec = Record<string, unknown>;
export interface Template { id: string; name: string; category: string; subject: string; body: string; open_rate?: number; click_rate?: number }
export interface Campaign { id: string; title?: string; name?: string; code?: string; type?: string; status?: string; start_date?: string | null; end_date?: string | null; contact_count?: number; enrolled_count?: number; enrolled?: number; open_rate?: number; click_rate?: number; description?: string; engagement?: { open_rate?: number; click_rate?: number; response_rate?: number; sent?: number } }
export interface Segment { id: string; name: string; description?: string; color?: string; criteria?: unknown; criteria_display?: string; member_count?: number; count?: number; size?: number; status?: string }

export const campaignName = (c: Campaign) => c.title ?? c.name ?? "Untitled campaign";
export const campaignCount = (c: Campaign) => c.contact_count ?? c.enrolled_count ?? c.enrolled ?? 0;
export const campaignRate = (c: Campaign, k: "open_rate" | "click_rate") => c.engagement?.[k] ?? c[k];
export const segmentCount = (s: Segment) => s.member_count ?? s.count ?? s.size ?? 0;

function useFieldErrors() {
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const fail = (e: unknown) => {
    setFields(e instanceof ApiError ? e.fields : {});
    setError(describeError(e));
  };
  const clear = () => { setError(null); setFields({}); };
  return { error, fields, fail, clear };
}

/** Compose: template by category with rates, recipients, subject/body, preview with merge fields, send. */
export function EmailModal({ contacts, onClose, onSent }: { contacts: Contact[]; onClose: () => void; onSent?: () => void }) {
  const { user } = useAuth();
  const toast = useToast();
  const [templates, setTemplates] = useState<Template[]>([]);
  const [category, setCategory] = useState("All");
  const [templateId, setTemplateId] = useState("");
  const [subject, setSubject] = useState("");
  const [body, setBody] = useState("");
  const [preview, setPreview] = useState(false);
  const [busy, setBusy] = useState(false);
  const [results, setResults] = useState<Rec[] | null>(null);
  const [capError, setCapError] = useState<string | null>(null);
  const [sends, setSends] = useState(0);
  const cap = useSendCap(sends);
  const errs = useFieldErrors();
  useEffect(() => { api.get("/templates?per_page=200").then((d) => setTemplates(itemsOf<Template>(d))).catch(errs.fail); }, []);
  const shown = templates.filter((t) => category === "All" || t.category === category);
  const pick = (id: string) => {
    setTemplateId(id);
    const t = templates.find((x) => x.id === id);
    if (t) { setSubject(t.subject); setBody(t.body); }
  };
  const first = contacts[0];
  const ctx = { first_name: first?.first_name, last_name: first?.last_name, company: first?.company, position: first?.position, sender_name: user?.name, sender_email: user?.email };
  const send = async () => {
    setBusy(true);
    errs.clear();
    setCapError(null);
    try {
      const res = await api.post<unknown>("/emails", { contact_ids: contacts.map((c) => c.id), template_id: templateId || undefined, subject, body });
      const items = itemsOf<Rec>(res).length ? itemsOf<Rec>(res) : ((res as Rec)?.results as Rec[]) ?? [];
      const refused = items.filter((r) => r.status === "refused" || r.error || r.ok === false);
      setResults(items);
      if (!refused.length) {
        toast(`Email sent to ${contacts.length} recipient${contacts.length > 1 ? "s" : ""}`);
        onSent?.();
        onClose();
      }
    } catch (e) {
      const refusal = capRefusal(e);  // 429: the daily send cap refused the whole send
      if (refusal) setCapError(capRefusalMessage(refusal));
      else errs.fail(e);
    } finally {
      setBusy(false);
      setSends((n) => n + 1);
    }
  };
  return (
    <Modal title="Send Email" onClose={onClose} wide footer={<>
      <button type="button" className="btn" onClick={() => setPreview((p) => !p)}>{preview ? "Edit" : "Preview"}</button>
      <button type="button" className="btn primary" disabled={busy || !subject.trim() || !body.trim()} onClick={send}>{busy ? "Sending…" : "Send Email"}</button>
    </>}>
      <ErrorBox error={errs.error} />
      {capError ? <div className="error-box" role="alert" data-testid="cap-refusal"><strong>Daily send cap reached.</strong> {capError}</div> : null}
      {cap.data && !capError && capWarning(cap.data, contacts.length) ? (
        <div className="warn-box" role="status" data-testid="cap-warning">{capWarning(cap.data, contacts.length)}</div>
      ) : null}
      {results ? (
        <div className="warn-box" role="status">
          {results.map((r, i) => {
            const c = contacts.find((x) => x.id === r.contact_id);
            return <div key={i}>{c ? fullName(c) : String(r.contact_id ?? "")}: {String(r.status ?? (r.error ? "refused" : "sent"))}{r.reason || r.error ? ` (${String(r.reason ?? r.error)})` : ""}</div>;
          })}
        </div>
      ) : null}
      <div className="recipients" aria-label="Recipients">
        <strong>To ({contacts.length}):</strong>{" "}
        {contacts.map((c) => <span key={c.id} className="chip">{fullName(c)} &lt;{c.email}&gt;{c.unsubscribed ? " (unsubscribed)" : ""}</span>)}
      </div>
      <div className="tabs-inline" role="tablist" aria-label="Template categories">
        {["All", "Onboarding", "Sales", "Marketing"].map((c) => (
          <button key={c} type="button" role="tab" aria-selected={category === c} className={category === c ? "active" : ""} onClick={() => setCategory(c)}>{c}</button>
        ))}
      </div>
      <div className="template-grid" role="radiogroup" aria-label="Templates">
        {shown.map((t) => (
          <button type="button" role="radio" aria-checked={templateId === t.id} key={t.id} className={`template-card ${templateId === t.id ? "selected" : ""}`} onClick={() => pick(t.id)}>
            <span className="tc-name">{t.name}</span>
            <span className="tc-cat">{t.category}</span>
            <span className="tc-rates">Open rate {percent(t.open_rate)} · Click rate {percent(t.click_rate)}</span>
          </button>
        ))}
        {!shown.length ? <p className="muted">No templates in this category. Write the message below.</p> : null}
      </div>
      {preview ? (
        <div className="email-preview" aria-label="Email preview">
          <div><strong>From:</strong> {user?.name} &lt;{user?.email}&gt;</div>
          <div><strong>To:</strong> {first ? `${fullName(first)} <${first.email}>` : ""}{contacts.length > 1 ? ` and ${contacts.length - 1} more` : ""}</div>
          <div><strong>Subject:</strong> <span data-testid="preview-subject">{renderMerge(subject, ctx)}</span></div>
          <pre className="preview-body" data-testid="preview-body">{renderMerge(body, ctx)}</pre>
        </div>
      ) : (
        <>
          <Field label="Subject" error={errs.fields.subject} htmlFor="email-subject">
            <input id="email-subject" value={subject} maxLength={255} onChange={(e) => setSubject(e.target.value)} />
          </Field>
          <Field label="Message" error={errs.fields.body} htmlFor="email-body" hint="Merge fields: {first_name} {last_name} {company_name} {position} {sender_name} {sender_email}">
            <textarea id="email-body" rows={8} value={body} onChange={(e) => setBody(e.target.value)} />
          </Field>
        </>
      )}
    </Modal>
  );
}

interface Purpose { key?: string; name: string; description?: string; script?: string[] | string; quick_tips?: string[] | string; tips?: string[] }
const CALL_STATUSES = ["Completed", "No Answer", "Busy", "Voicemail", "Rescheduled"];
const asList = (v: string[] | string | undefined) => (Array.isArray(v) ? v : v ? v.split("\n").filter(Boolean) : []);

/** Call: purpose first, then script and quick tips, log the outcome, optionally schedule a follow-up. */
export function CallModal({ contact, onClose, onLogged }: { contact: Contact; onClose: () => void; onLogged?: () => void }) {
  const toast = useToast();
  const [purposes, setPurposes] = useState<Purpose[]>([]);
  const [purpose, setPurpose] = useState<Purpose | null>(null);
  const [mode, setMode] = useState<"log" | "schedule">("log");
  const [status, setStatus] = useState("Completed");
  const [when, setWhen] = useState(toLocalInput(new Date()));
  const [minutes, setMinutes] = useState("15");
  const [notes, setNotes] = useState("");
  const [outcome, setOutcome] = useState("");
  const [participants, setParticipants] = useState("");
  const [followUp, setFollowUp] = useState(false);
  const [followUpAt, setFollowUpAt] = useState(toLocalInput(new Date(Date.now() + 2 * 86_400_000)));
  const [busy, setBusy] = useState(false);
  const errs = useFieldErrors();
  useEffect(() => { api.get("/call-purposes").then((d) => setPurposes(itemsOf<Purpose>(d))).catch(errs.fail); }, []);
  const save = async () => {
    if (!purpose) return;
    setBusy(true);
    errs.clear();
    try {
      const noDuration = ["No Answer", "Busy", "Rescheduled"].includes(status);
      const body: Rec = mode === "schedule"
        ? { contact_id: contact.id, purpose: purpose.name, status: "Scheduled", scheduled_at: fromLocalInput(when), notes }
        : {
          contact_id: contact.id, purpose: purpose.name, status, occurred_at: fromLocalInput(when), notes, outcome: outcome || undefined,
          duration_s: noDuration || !minutes ? undefined : Math.round(Number(minutes) * 60),
          participants: participants.split(",").map((p) => p.trim()).filter(Boolean),
        };
      if (status === "Rescheduled" && mode === "log") body.scheduled_at = fromLocalInput(followUpAt);
      if ((followUp || status === "Rescheduled") && mode === "log") {
        body.follow_up = { type: "call", priority: "medium", due_at: fromLocalInput(followUpAt), title: `Follow up: ${purpose.name} with ${fullName(contact)}` };
      }
      await api.post("/calls", body);
      toast(mode === "schedule" ? "Call scheduled" : "Call logged");
      onLogged?.();
      onClose();
    } catch (e) {
      errs.fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={`Call ${fullName(contact)}`} onClose={onClose} wide footer={purpose ? <>
      <button type="button" className="btn" onClick={() => setPurpose(null)}>Back</button>
      <button type="button" className="btn primary" disabled={busy} onClick={save}>{mode === "schedule" ? "Schedule Call" : "Log Call"}</button>
    </> : undefined}>
      <ErrorBox error={errs.error} />
      {!purpose ? (
        <div>
          <p>Select the purpose of the call{contact.phone ? ` to ${contact.phone}` : ""}:</p>
          <div className="purpose-grid">
            {purposes.map((p) => (
              <button type="button" key={p.name} className="purpose-card" onClick={() => setPurpose(p)}>
                <strong>{p.name}</strong>
                {p.description ? <span className="muted">{p.description}</span> : null}
              </button>
            ))}
          </div>
        </div>
      ) : (
        <div className="call-grid">
          <div>
            <h3>{purpose.name}: call script</h3>
            <ol className="script">{asList(purpose.script).map((s) => <li key={s}>{s}</li>)}</ol>
            <h3>Quick tips</h3>
            <ul className="tips">{asList(purpose.quick_tips ?? purpose.tips).map((s) => <li key={s}>{s}</li>)}</ul>
          </div>
          <div>
            <div className="tabs-inline" role="tablist" aria-label="Log or schedule">
              <button type="button" role="tab" aria-selected={mode === "log"} className={mode === "log" ? "active" : ""} onClick={() => setMode("log")}>Log a call</button>
              <button type="button" role="tab" aria-selected={mode === "schedule"} className={mode === "schedule" ? "active" : ""} onClick={() => setMode("schedule")}>Schedule a call</button>
            </div>
            {mode === "log" ? <SelectField label="Call status" name="status" value={status} onChange={setStatus} options={CALL_STATUSES} error={errs.fields.status} /> : null}
            <Field label={mode === "log" ? "Date and time" : "Scheduled for"} htmlFor="call-when" error={errs.fields.occurred_at ?? errs.fields.scheduled_at}>
              <input id="call-when" type="datetime-local" value={when} onChange={(e) => setWhen(e.target.value)} />
            </Field>
            {mode === "log" && !["No Answer", "Busy", "Rescheduled"].includes(status) ? (
              <Field label="Duration (minutes)" htmlFor="call-min" error={errs.fields.duration_s}>
                <input id="call-min" type="number" min={0} value={minutes} onChange={(e) => setMinutes(e.target.value)} />
              </Field>
            ) : null}
            {mode === "log" ? (
              <>
                <Field label="Outcome" htmlFor="call-outcome" error={errs.fields.outcome}>
                  <input id="call-outcome" value={outcome} maxLength={255} onChange={(e) => setOutcome(e.target.value)} />
                </Field>
                <Field label="Other participants (comma separated)" htmlFor="call-part" error={errs.fields.participants}>
                  <input id="call-part" value={participants} onChange={(e) => setParticipants(e.target.value)} />
                </Field>
              </>
            ) : null}
            <Field label="Call notes" htmlFor="call-notes" error={errs.fields.notes} hint={`${notes.length}/1000 characters`}>
              <textarea id="call-notes" rows={4} maxLength={1000} value={notes} onChange={(e) => setNotes(e.target.value)} />
            </Field>
            {mode === "log" ? (
              <div className="field">
                <label className="check"><input type="checkbox" checked={followUp || status === "Rescheduled"} onChange={(e) => setFollowUp(e.target.checked)} /> Schedule a follow-up</label>
                {followUp || status === "Rescheduled" ? (
                  <input aria-label="Follow-up date" type="datetime-local" value={followUpAt} onChange={(e) => setFollowUpAt(e.target.value)} />
                ) : null}
              </div>
            ) : null}
          </div>
        </div>
      )}
    </Modal>
  );
}

/** A follow-up (email, call, task, meeting, reminder), optionally from an email template. */
export function FollowUpModal({ contact, onClose, onSaved }: { contact: Contact; onClose: () => void; onSaved?: () => void }) {
  const toast = useToast();
  const [type, setType] = useState("email");
  const [priority, setPriority] = useState("medium");
  const [due, setDue] = useState(toLocalInput(new Date(Date.now() + 86_400_000)));
  const [title, setTitle] = useState(`Follow up with ${fullName(contact)}`);
  const [description, setDescription] = useState("");
  const [templateId, setTemplateId] = useState("");
  const [templates, setTemplates] = useState<Template[]>([]);
  const [busy, setBusy] = useState(false);
  const errs = useFieldErrors();
  useEffect(() => { api.get("/templates?per_page=200").then((d) => setTemplates(itemsOf<Template>(d))).catch(() => setTemplates([])); }, []);
  const save = async () => {
    setBusy(true);
    errs.clear();
    try {
      await api.post("/follow-ups", { contact_id: contact.id, type, priority, due_at: fromLocalInput(due), title, description, template_id: type === "email" && templateId ? templateId : undefined });
      toast("Follow-up created");
      onSaved?.();
      onClose();
    } catch (e) {
      errs.fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Create Follow Up" onClose={onClose} footer={<button type="button" className="btn primary" disabled={busy} onClick={save}>Create Follow Up</button>}>
      <ErrorBox error={errs.error} />
      <SelectField label="Type" name="type" value={type} onChange={setType} error={errs.fields.type}
        options={[{ value: "email", label: "Email" }, { value: "call", label: "Call" }, { value: "task", label: "Task" }, { value: "meeting", label: "Meeting" }, { value: "reminder", label: "Custom reminder" }]} />
      {type === "email" ? (
        <SelectField label="Email template" name="template_id" value={templateId} onChange={setTemplateId} includeEmpty="No template" error={errs.fields.template_id}
          options={templates.map((t) => ({ value: t.id, label: `${t.name} (${t.category})` }))} />
      ) : null}
      <SelectField label="Priority" name="priority" value={priority} onChange={setPriority} error={errs.fields.priority}
        options={[{ value: "low", label: "Low" }, { value: "medium", label: "Medium" }, { value: "high", label: "High" }, { value: "urgent", label: "Urgent" }]} />
      <Field label="Due" htmlFor="fu-due" error={errs.fields.due_at}>
        <input id="fu-due" type="datetime-local" value={due} onChange={(e) => setDue(e.target.value)} />
      </Field>
      <Field label="Title" htmlFor="fu-title" error={errs.fields.title}>
        <input id="fu-title" value={title} maxLength={200} onChange={(e) => setTitle(e.target.value)} />
      </Field>
      <Field label="Details" htmlFor="fu-desc" error={errs.fields.description}>
        <textarea id="fu-desc" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
    </Modal>
  );
}

/** Segment choice with criteria and counts; segments the contact qualifies for are highlighted. */
export function SegmentModal({ contactIds, memberships, onClose, onSaved }: {
  contactIds: string[]; memberships?: Array<{ segment_id: string; qualifies?: boolean }>; onClose: () => void; onSaved?: () => void;
}) {
  const toast = useToast();
  const [segments, setSegments] = useState<Segment[]>([]);
  const [chosen, setChosen] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const errs = useFieldErrors();
  useEffect(() => { api.get("/segments?per_page=200").then((d) => setSegments(itemsOf<Segment>(d))).catch(errs.fail); }, []);
  const member = new Set((memberships ?? []).map((m) => m.segment_id));
  const qualifies = new Set((memberships ?? []).filter((m) => m.qualifies).map((m) => m.segment_id));
  const save = async () => {
    setBusy(true);
    errs.clear();
    try {
      for (const id of chosen) await api.post(`/segments/${id}/members`, { contact_ids: contactIds });
      toast(`Added to ${chosen.length} segment${chosen.length > 1 ? "s" : ""}`);
      onSaved?.();
      onClose();
    } catch (e) {
      errs.fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Add to Segment" onClose={onClose} footer={<button type="button" className="btn primary" disabled={busy || !chosen.length} onClick={save}>Add to Segment</button>}>
      <ErrorBox error={errs.error} />
      <p className="muted">Adding a contact that does not meet the criteria keeps it as a manual member.</p>
      <ul className="pick-list">
        {segments.map((s) => (
          <li key={s.id} className={qualifies.has(s.id) ? "qualifies" : ""}>
            <label className="check">
              <input type="checkbox" disabled={member.has(s.id)} checked={chosen.includes(s.id) || member.has(s.id)}
                onChange={(e) => setChosen((c) => e.target.checked ? [...c, s.id] : c.filter((x) => x !== s.id))} />
              <span>
                <strong>{s.name}</strong> <span className="count-badge">{segmentCount(s)} contacts</span>
                {member.has(s.id) ? <span className="ok-text"> already a member</span> : null}
                {qualifies.has(s.id) ? <span className="ok-text"> ✓ qualifies</span> : null}
                <br /><span className="muted small">{s.criteria_display ?? (s.criteria ? describeCriteria(s.criteria) : s.description)}</span>
              </span>
            </label>
          </li>
        ))}
        {!segments.length ? <li className="muted">No segments yet.</li> : null}
      </ul>
    </Modal>
  );
}

/** Campaign choice with search, type, date range and contact count; several at once. */
export function CampaignModal({ contactIds, onClose, onSaved }: { contactIds: string[]; onClose: () => void; onSaved?: () => void }) {
  const toast = useToast();
  const [campaigns, setCampaigns] = useState<Campaign[]>([]);
  const [q, setQ] = useState("");
  const [chosen, setChosen] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const errs = useFieldErrors();
  useEffect(() => { api.get("/campaigns?per_page=200").then((d) => setCampaigns(itemsOf<Campaign>(d))).catch(errs.fail); }, []);
  const shown = useMemo(() => campaigns.filter((c) => (c.status ?? "Active") === "Active" && campaignName(c).toLowerCase().includes(q.toLowerCase())), [campaigns, q]);
  const save = async () => {
    setBusy(true);
    errs.clear();
    try {
      for (const id of chosen) await api.post(`/campaigns/${id}/enroll`, { contact_ids: contactIds });
      toast(`Added to ${chosen.length} campaign${chosen.length > 1 ? "s" : ""}`);
      onSaved?.();
      onClose();
    } catch (e) {
      errs.fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="Add to Campaign" onClose={onClose} footer={<button type="button" className="btn primary" disabled={busy || !chosen.length} onClick={save}>Add to {chosen.length || ""} Campaign{chosen.length === 1 ? "" : "s"}</button>}>
      <ErrorBox error={errs.error} />
      <input aria-label="Search campaigns" placeholder="Search campaigns…" value={q} onChange={(e) => setQ(e.target.value)} className="block-input" />
      <ul className="pick-list">
        {shown.map((c) => (
          <li key={c.id}>
            <label className="check">
              <input type="checkbox" checked={chosen.includes(c.id)} onChange={(e) => setChosen((x) => e.target.checked ? [...x, c.id] : x.filter((y) => y !== c.id))} />
              <span>
                <strong>{campaignName(c)}</strong> <span className="count-badge">{campaignCount(c)} contacts</span><br />
                <span className="muted small">{c.type ?? ""} · {c.start_date ?? "?"} to {c.end_date ?? "?"} · {c.status}</span>
              </span>
            </label>
          </li>
        ))}
        {!shown.length ? <li className="muted">No active campaigns match.</li> : null}
      </ul>
    </Modal>
  );
}

/** Bulk actions that take one value: stage, tags, owner (POST /contacts/bulk). */
export function BulkValueModal({ action, ids, onClose, onDone }: {
  action: "set_stage" | "add_tags" | "remove_tags" | "assign_owner"; ids: string[]; onClose: () => void; onDone: () => void;
}) {
  const toast = useToast();
  const users = useUsers();
  const [stage, setStage] = useState("Qualified");
  const [tags, setTags] = useState<string[]>([]);
  const [owner, setOwner] = useState("");
  const [busy, setBusy] = useState(false);
  const errs = useFieldErrors();
  const titles = { set_stage: "Change Stage", add_tags: "Add Tags", remove_tags: "Remove Tags", assign_owner: "Assign Owner" };
  const run = async () => {
    setBusy(true);
    errs.clear();
    try {
      const args: Rec = action === "set_stage" ? { stage } : action === "assign_owner" ? { owner_id: owner } : { tags };
      const res = await api.post<unknown>("/contacts/bulk", { ids, action, ...args });
      const items = itemsOf<Rec>(res).length ? itemsOf<Rec>(res) : (((res as Rec)?.results as Rec[]) ?? []);
      const failed = items.filter((r) => r.ok === false || r.error || (typeof r.status === "number" && r.status >= 400));
      toast(failed.length ? `${ids.length - failed.length} updated, ${failed.length} refused` : `${ids.length} contact${ids.length > 1 ? "s" : ""} updated`, failed.length ? "error" : "ok");
      onDone();
      onClose();
    } catch (e) {
      errs.fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={`${titles[action]} (${ids.length} selected)`} onClose={onClose} footer={<button type="button" className="btn primary" disabled={busy} onClick={run}>Apply</button>}>
      <ErrorBox error={errs.error} />
      {action === "set_stage" ? <SelectField label="Stage" name="stage" value={stage} onChange={setStage} options={[...STAGES]} error={errs.fields.stage} /> : null}
      {action === "assign_owner" ? <SelectField label="Owner" name="owner_id" value={owner} onChange={setOwner} includeEmpty="Choose a user" error={errs.fields.owner_id}
        options={users.filter((u) => u.role !== "executive").map((u) => ({ value: u.id, label: `${u.name} (${u.role})` }))} /> : null}
      {action === "add_tags" || action === "remove_tags" ? <TagInput tags={tags} onChange={setTags} error={errs.fields.tags} /> : null}
    </Modal>
  );
}
