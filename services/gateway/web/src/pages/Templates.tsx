/** Email templates by category with real open/click rates; marketing and admins edit them. */
import { useState } from "react";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import type { Template } from "../components/actions";
import { EmptyState, ErrorBox, Field, Modal, SelectField, Spinner, TextField, useToast } from "../components/ui";
import { useLoad } from "../hooks";
import { ApiError, describeError } from "../lib/errors";
import { MERGE_FIELDS, percent, renderMerge } from "../lib/merge";
import { canManageCampaigns } from "../lib/permissions";

function TemplateForm({ initial, onClose, onSaved }: { initial: Template | null; onClose: () => void; onSaved: () => void }) {
  const toast = useToast();
  const { user } = useAuth();
  const [f, setF] = useState({ name: initial?.name ?? "", category: initial?.category ?? "Sales", subject: initial?.subject ?? "", body: initial?.body ?? "" });
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const save = async () => {
    setError(null);
    setFields({});
    try {
      if (initial) await api.patch(`/templates/${initial.id}`, f);
      else await api.post("/templates", f);
      toast("Template saved");
      onSaved();
      onClose();
    } catch (e) {
      if (e instanceof ApiError) setFields(e.fields);
      setError(describeError(e));
    }
  };
  const sample = { first_name: "David", last_name: "Thompson", company: "FutureTech Industries", position: "CEO", sender_name: user?.name, sender_email: user?.email };
  return (
    <Modal title={initial ? `Edit ${initial.name}` : "New Template"} onClose={onClose} wide footer={<button type="button" className="btn primary" onClick={save}>Save Template</button>}>
      <ErrorBox error={error} />
      <div className="grid2">
        <TextField label="Name" name="name" value={f.name} onChange={(v) => setF({ ...f, name: v })} error={fields.name} required />
        <SelectField label="Category" name="category" value={f.category} onChange={(v) => setF({ ...f, category: v })} options={["Onboarding", "Sales", "Marketing"]} error={fields.category} />
      </div>
      <TextField label="Subject" name="subject" value={f.subject} onChange={(v) => setF({ ...f, subject: v })} error={fields.subject} required />
      <Field label="Body" htmlFor="tpl-body" error={fields.body} hint={`Merge fields: ${MERGE_FIELDS.map((m) => `{${m}}`).join(" ")}`}>
        <textarea id="tpl-body" rows={8} value={f.body} onChange={(e) => setF({ ...f, body: e.target.value })} />
      </Field>
      <div className="email-preview" aria-label="Preview with sample contact">
        <div><strong>Preview subject:</strong> {renderMerge(f.subject, sample)}</div>
        <pre className="preview-body">{renderMerge(f.body, sample)}</pre>
      </div>
    </Modal>
  );
}

export function TemplatesPage() {
  const { user } = useAuth();
  const toast = useToast();
  const [category, setCategory] = useState("All");
  const list = useLoad(() => api.get("/templates?per_page=200").then((d) => itemsOf<Template>(d)), []);
  const [editing, setEditing] = useState<Template | "new" | null>(null);
  const manage = canManageCampaigns(user);
  const remove = async (t: Template) => {
    if (!window.confirm(`Delete template ${t.name}?`)) return;
    try { await api.del(`/templates/${t.id}`); toast("Template deleted"); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const items = (list.data ?? []).filter((t) => category === "All" || t.category === category);
  return (
    <div className="page">
      <div className="page-head"><h1>Email Templates</h1>{manage ? <button type="button" className="btn primary" onClick={() => setEditing("new")}>+ New Template</button> : null}</div>
      <div className="tabs-inline" role="tablist" aria-label="Categories">
        {["All", "Onboarding", "Sales", "Marketing"].map((c) => <button key={c} type="button" role="tab" aria-selected={category === c} className={category === c ? "active" : ""} onClick={() => setCategory(c)}>{c}</button>)}
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Spinner /> : null}
      {!items.length && !list.loading ? <EmptyState icon="✉" title="No templates here" /> : null}
      <div className="card-grid">
        {items.map((t) => (
          <article key={t.id} className="card tpl">
            <div className="tpl-head"><h2 className="small-title">{t.name}</h2><span className="chip small">{t.category}</span></div>
            <div className="muted small">Subject: {t.subject}</div>
            <p className="tpl-body">{t.body.slice(0, 160)}{t.body.length > 160 ? "…" : ""}</p>
            <div className="rates"><span>Open rate <strong>{percent(t.open_rate)}</strong></span><span>Click rate <strong>{percent(t.click_rate)}</strong></span></div>
            {manage ? <div><button type="button" className="btn-link" onClick={() => setEditing(t)}>Edit</button> <button type="button" className="btn-link danger" onClick={() => remove(t)}>Delete</button></div> : null}
          </article>
        ))}
      </div>
      {editing ? <TemplateForm initial={editing === "new" ? null : editing} onClose={() => setEditing(null)} onSaved={list.reload} /> : null}
    </div>
  );
}
