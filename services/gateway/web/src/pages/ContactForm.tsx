/** Add/edit contact: the seed's sections, API field messages next to each input, live preview card. */
import { useEffect, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api } from "../api/client";
import { useAuth } from "../auth";
import { CompanyInput, TagInput } from "../components/inputs";
import { Avatar, ErrorBox, ScoreBadge, SelectField, Spinner, StageBadge, TextField, useToast, Field } from "../components/ui";
import { useUsers } from "../hooks";
import { CHANNELS, CONTACT_TYPES, STAGES } from "../lib/badges";
import { emptyForm, errorFieldToInput, formatPhone, formFromContact, formToPayload, fullName, positionAtCompany, type Contact, type ContactForm } from "../lib/contact";
import { ApiError, describeError } from "../lib/errors";
import { canCreateContacts, canEditContact } from "../lib/permissions";

export function ContactFormPage() {
  const { id } = useParams();
  const editing = !!id;
  const { user } = useAuth();
  const users = useUsers();
  const navigate = useNavigate();
  const toast = useToast();
  const [form, setForm] = useState<ContactForm>(() => ({ ...emptyForm(), owner_id: user?.role === "sales" ? user.id : "" }));
  const [original, setOriginal] = useState<Contact | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [loading, setLoading] = useState(editing);

  useEffect(() => {
    if (!id) return;
    api.get<Contact>(`/contacts/${id}`)
      .then((c) => { setOriginal(c); setForm(formFromContact(c)); })
      .catch((e) => setError(describeError(e)))
      .finally(() => setLoading(false));
  }, [id]);

  const set = <K extends keyof ContactForm>(k: K) => (v: ContactForm[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    if (errors[k as string]) setErrors((e) => { const n = { ...e }; delete n[k as string]; return n; });
  };
  const allowed = editing ? canEditContact(user, original) : canCreateContacts(user);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setErrors({});
    try {
      const body = formToPayload(form, editing);
      const saved = editing ? await api.patch<Contact>(`/contacts/${id}`, body) : await api.post<Contact>("/contacts", body);
      toast(editing ? "Contact saved" : "Contact created");
      navigate(`/contacts/${saved.id ?? id}`);
    } catch (err) {
      if (err instanceof ApiError) {
        const mapped: Record<string, string> = {};
        for (const [k, v] of Object.entries(err.fields)) mapped[errorFieldToInput(k)] = v;
        setErrors(mapped);
        setError(err.status === 409 ? err.message : Object.keys(mapped).length ? "Please correct the highlighted fields." : describeError(err));
        const first = Object.keys(mapped)[0];
        if (first) setTimeout(() => document.querySelector<HTMLElement>(`[name="${first}"]`)?.focus(), 0);
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(false);
    }
  };

  if (loading) return <div className="page"><Spinner /></div>;
  if (!allowed) {
    return (
      <div className="page">
        <Link to={editing ? `/contacts/${id}` : "/contacts"} className="back">← Back</Link>
        <ErrorBox error={error ?? "You do not have permission to edit this contact."} />
      </div>
    );
  }
  const t = (label: string, k: keyof ContactForm, opts: { type?: string; required?: boolean; placeholder?: string; hint?: string } = {}) => (
    <TextField label={label} name={k} value={form[k] as string} onChange={set(k) as (v: string) => void} error={errors[k]} {...opts} />
  );
  return (
    <div className="page">
      <Link to={editing ? `/contacts/${id}` : "/contacts"} className="back">← {editing ? "Back to Contact" : "Back to Contacts"}</Link>
      <h1>{editing ? `Edit ${original ? fullName(original) : "contact"}` : "Add Contact"}</h1>
      <div className="form-layout">
        <form onSubmit={submit} noValidate className="contact-form" aria-label={editing ? "Edit contact" : "Add contact"}>
          <ErrorBox error={error} />
          <fieldset className="card">
            <legend>Basic Information</legend>
            <div className="grid2">
              {t("First Name", "first_name", { required: true })}
              {t("Last Name", "last_name", { required: true })}
              {t("Email", "email", { type: "email", required: true, placeholder: "name@company.com" })}
              {t("Phone", "phone", { type: "tel", placeholder: "+1 555 321 0987", hint: "Include the country code, e.g. +1" })}
              <SelectField label="Stage" name="stage" value={form.stage} onChange={set("stage")} options={[...STAGES]} error={errors.stage} />
              <SelectField label="Type" name="type" value={form.type} onChange={set("type")} options={CONTACT_TYPES} includeEmpty="—" error={errors.type} />
              <SelectField label="Channel" name="channel" value={form.channel} onChange={set("channel")} options={CHANNELS} includeEmpty="—" error={errors.channel} />
            </div>
          </fieldset>
          <fieldset className="card">
            <legend>Company Information</legend>
            <div className="grid2">
              <CompanyInput value={form.company} onChange={set("company")} error={errors.company} />
              {t("Position", "position")}
              {t("Department", "department")}
              {t("Industry", "industry")}
              {t("Company Size (employees)", "company_size", { type: "number" })}
              <SelectField label="Contact Owner" name="owner_id" value={form.owner_id} onChange={set("owner_id")} includeEmpty="Unassigned" error={errors.owner_id}
                options={users.filter((u) => u.role !== "executive").map((u) => ({ value: u.id, label: `${u.name} (${u.role})` }))} />
            </div>
          </fieldset>
          <fieldset className="card">
            <legend>Address Information</legend>
            <div className="grid2">
              {t("Street", "street")}
              {t("City", "city")}
              {t("State", "state")}
              {t("Zip Code", "zip")}
              {t("Country", "country", { placeholder: "e.g. US" })}
            </div>
          </fieldset>
          <fieldset className="card">
            <legend>Tags</legend>
            <TagInput tags={form.tags} onChange={set("tags")} error={errors.tags} />
          </fieldset>
          <fieldset className="card">
            <legend>Social Links &amp; Notes</legend>
            <div className="grid2">
              {t("LinkedIn", "linkedin", { type: "url", placeholder: "https://linkedin.com/in/…" })}
              {t("Twitter", "twitter", { type: "url", placeholder: "https://twitter.com/…" })}
              {t("Facebook", "facebook", { type: "url", placeholder: "https://facebook.com/…" })}
              {t("Instagram", "instagram", { type: "url", placeholder: "https://instagram.com/…" })}
              {t("Skype", "skype")}
            </div>
            <Field label="Notes" htmlFor="contact-notes" error={errors.notes} hint={`${form.notes.length}/2000 characters`}>
              <textarea id="contact-notes" name="notes" rows={4} maxLength={2000} value={form.notes} onChange={(e) => set("notes")(e.target.value)} />
            </Field>
          </fieldset>
          <div className="form-actions">
            <Link className="btn" to={editing ? `/contacts/${id}` : "/contacts"}>Cancel</Link>
            <button className="btn primary" type="submit" disabled={busy}>{busy ? "Saving…" : editing ? "Save Changes" : "Create Contact"}</button>
          </div>
        </form>
        <aside className="preview card" aria-label="Preview" aria-live="polite">
          <h2 className="small-title">Preview</h2>
          <div className="preview-head">
            <Avatar first={form.first_name} last={form.last_name} size={64} />
            <div>
              <div className="preview-name" data-testid="preview-name">{`${form.first_name} ${form.last_name}`.trim() || "New contact"}</div>
              <div className="muted">{positionAtCompany(form.position, form.company)}</div>
            </div>
          </div>
          <div className="preview-badges"><StageBadge stage={form.stage} /> {original ? <ScoreBadge score={original.score} long /> : null}</div>
          <ul className="preview-info">
            {form.email ? <li>✉ {form.email}</li> : null}
            {form.phone ? <li>✆ {formatPhone(form.phone)}</li> : null}
            {[form.city, form.state, form.country].filter(Boolean).length ? <li>⌖ {[form.city, form.state, form.country].filter(Boolean).join(", ")}</li> : null}
          </ul>
          <div>{form.tags.map((tg) => <span key={tg} className="chip small">{tg}</span>)}</div>
        </aside>
      </div>
    </div>
  );
}
