/**
 * Campaigns: the daily send cap, the list with type, dates, contacts and rates, and each campaign's
 * enrollments with why a step is waiting; marketing and admins create and change status.
 */
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { campaignCount, campaignName, campaignRate, type Campaign } from "../components/actions";
import { HoldReason, SendCapPanel } from "../components/sending";
import { EmptyState, ErrorBox, Modal, SelectField, Spinner, TextField, useToast, Field } from "../components/ui";
import { useLoad } from "../hooks";
import { ApiError, describeError } from "../lib/errors";
import { percent } from "../lib/merge";
import { canManageCampaigns } from "../lib/permissions";
import { dateTime } from "../lib/time";

const TYPES = ["Email Sequence", "Cold Outreach", "Event Follow-up", "Referral", "Promotion", "Greetings"];
const NEXT: Record<string, string[]> = { Draft: ["New"], New: ["Active", "Draft"], Active: ["Inactive"], Inactive: ["Active"] };

function CampaignForm({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const toast = useToast();
  const [f, setF] = useState({ title: "", code: "", type: "Email Sequence", description: "", start_date: "", end_date: "", capacity: "" });
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof f) => (v: string) => setF({ ...f, [k]: v });
  const save = async () => {
    setError(null);
    setFields({});
    try {
      await api.post("/campaigns", {
        title: f.title, code: f.code, type: f.type, description: f.description || undefined,
        start_date: f.start_date || undefined, end_date: f.end_date || undefined, capacity: f.capacity ? Number(f.capacity) : undefined,
      });
      toast("Campaign created");
      onSaved();
      onClose();
    } catch (e) {
      if (e instanceof ApiError) setFields(e.fields);
      setError(describeError(e));
    }
  };
  return (
    <Modal title="New Campaign" onClose={onClose} footer={<button type="button" className="btn primary" onClick={save}>Create Campaign</button>}>
      <ErrorBox error={error} />
      <TextField label="Title" name="title" value={f.title} onChange={set("title")} error={fields.title} required />
      <TextField label="Code" name="code" value={f.code} onChange={set("code")} error={fields.code} required hint="Letters, digits, - or _ (e.g. Q1-LAUNCH)" />
      <SelectField label="Type" name="type" value={f.type} onChange={set("type")} options={TYPES} error={fields.type} />
      <Field label="Description" htmlFor="camp-desc" error={fields.description}><textarea id="camp-desc" rows={3} value={f.description} onChange={(e) => set("description")(e.target.value)} /></Field>
      <div className="grid2">
        <TextField label="Start date" name="start_date" type="date" value={f.start_date} onChange={set("start_date")} error={fields.start_date} />
        <TextField label="End date" name="end_date" type="date" value={f.end_date} onChange={set("end_date")} error={fields.end_date} />
      </div>
      <TextField label="Capacity (contacts)" name="capacity" type="number" value={f.capacity} onChange={set("capacity")} error={fields.capacity} />
    </Modal>
  );
}

interface Enrollment { id: string; contact_id: string; status: string; steps_done: number; next_due_at?: string | null; enrolled_at?: string; hold_reason?: string | null }

function EnrollmentsModal({ campaign, onClose }: { campaign: Campaign; onClose: () => void }) {
  const rows = useLoad(() => api.get(`/campaigns/${campaign.id}/enrollments?per_page=200`).then((d) => itemsOf<Enrollment>(d)), [campaign.id]);
  const total = (campaign as { steps?: unknown[] }).steps?.length;
  const items = rows.data ?? [];
  return (
    <Modal title={`Enrollments: ${campaignName(campaign)}`} onClose={onClose} wide>
      <ErrorBox error={rows.error} />
      {rows.loading && !rows.data ? <Spinner /> : null}
      {!items.length && !rows.loading ? <p className="muted">Nobody is enrolled yet.</p> : null}
      {items.length ? (
        <div className="table-wrap">
          <table className="simple-table">
            <thead><tr><th scope="col">Contact</th><th scope="col">Status</th><th scope="col">Steps</th><th scope="col">Next email</th></tr></thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id}>
                  <td><Link to={`/contacts/${e.contact_id}`}>Open contact</Link></td>
                  <td><span className={`status-pill ${e.status}`}>{e.status}</span></td>
                  <td>{e.steps_done}{total != null ? ` of ${total}` : ""}</td>
                  <td>{e.next_due_at ? dateTime(e.next_due_at) : "—"}<HoldReason reason={e.hold_reason} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Modal>
  );
}

export function CampaignsPage() {
  const { user } = useAuth();
  const toast = useToast();
  const list = useLoad(() => api.get("/campaigns?per_page=200").then((d) => itemsOf<Campaign>(d)), []);
  const [creating, setCreating] = useState(false);
  const [viewing, setViewing] = useState<Campaign | null>(null);
  const manage = canManageCampaigns(user);
  const move = async (c: Campaign, status: string) => {
    try { await api.patch(`/campaigns/${c.id}`, { status }); toast(`${campaignName(c)} is now ${status}`); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const items = list.data ?? [];
  return (
    <div className="page">
      <div className="page-head"><h1>Campaigns</h1>{manage ? <button type="button" className="btn primary" onClick={() => setCreating(true)}>+ New Campaign</button> : null}</div>
      <SendCapPanel />
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Spinner /> : null}
      {!items.length && !list.loading ? <EmptyState icon="⚑" title="No campaigns yet" text="Create a campaign to enroll contacts." /> : null}
      {items.length ? (
        <div className="table-wrap">
          <table className="simple-table">
            <thead><tr><th scope="col">Campaign</th><th scope="col">Type</th><th scope="col">Dates</th><th scope="col">Contacts</th><th scope="col">Open rate</th><th scope="col">Click rate</th><th scope="col">Status</th></tr></thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id}>
                  <td><strong>{campaignName(c)}</strong>{c.description ? <div className="muted small">{c.description}</div> : null}</td>
                  <td><span className="chip small">{c.type}</span></td>
                  <td className="nowrap">{c.start_date ?? "?"} to {c.end_date ?? "?"}</td>
                  <td>{campaignCount(c)} <button type="button" className="btn-link" onClick={() => setViewing(c)} aria-label={`Enrollments of ${campaignName(c)}`}>View</button></td>
                  <td>{percent(campaignRate(c, "open_rate"))}</td>
                  <td>{percent(campaignRate(c, "click_rate"))}</td>
                  <td className="nowrap">
                    <span className={`status-pill ${String(c.status).toLowerCase()}`}>{c.status}</span>
                    {manage ? (NEXT[c.status ?? ""] ?? []).map((s) => <button key={s} type="button" className="btn-link" onClick={() => move(c, s)}>→ {s}</button>) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {creating ? <CampaignForm onClose={() => setCreating(false)} onSaved={list.reload} /> : null}
      {viewing ? <EnrollmentsModal campaign={viewing} onClose={() => setViewing(null)} /> : null}
    </div>
  );
}
