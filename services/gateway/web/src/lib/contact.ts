/** Contact display rules and the add/edit form's payload (seed 000 §7 "Add Contact", detail header). */

export interface Address { street?: string; city?: string; state?: string; zip?: string; country?: string }
export interface Social { linkedin?: string; twitter?: string; facebook?: string; instagram?: string; skype?: string }

export interface Contact {
  id: string;
  first_name: string;
  last_name: string;
  email: string;
  emails?: string[];
  phone?: string | null;
  phone_display?: string | null;
  phones?: string[];
  company?: string | null;
  position?: string | null;
  department?: string | null;
  industry?: string | null;
  company_size?: number | null;
  annual_revenue?: number | null;
  owner_id?: string | null;
  owner_name?: string | null;
  stage?: string | null;
  type?: string | null;
  channel?: string | null;
  address?: Address | null;
  tags?: string[];
  social?: Social | null;
  notes?: string | null;
  custom_fields?: Record<string, unknown>;
  score?: number | null;
  created_at?: string;
  updated_at?: string;
  last_contact_at?: string | null;
  inactive?: boolean;
  unsubscribed?: boolean;
  import_id?: string | null;
}

export function fullName(c: { first_name?: string | null; last_name?: string | null }): string {
  return `${c.first_name ?? ""} ${c.last_name ?? ""}`.trim() || "Unnamed contact";
}

/** "Position at Company", only one of them, or "N/A". */
export function positionAtCompany(position?: string | null, company?: string | null): string {
  const p = (position ?? "").trim();
  const c = (company ?? "").trim();
  if (p && c) return `${p} at ${c}`;
  return p || c || "N/A";
}

const TWO_DIGIT_CC = new Set([
  "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
  "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84",
  "86", "90", "91", "92", "93", "94", "95", "98",
]);

/** Shows an E.164 number internationally: +15553210987 -> "+1 (555) 321-0987", +442079460958 -> "+44 207 946 0958". */
export function formatPhone(phone?: string | null): string {
  if (!phone) return "";
  const m = /^\+(\d{8,15})$/.exec(phone.replace(/[\s()-]/g, ""));
  if (!m) return phone;
  const d = m[1];
  const nanp = /^1(\d{3})(\d{3})(\d{4})$/.exec(d);
  if (nanp) return `+1 (${nanp[1]}) ${nanp[2]}-${nanp[3]}`;
  const ccLen = d[0] === "7" ? 1 : TWO_DIGIT_CC.has(d.slice(0, 2)) ? 2 : 3;
  const rest = d.slice(ccLen);
  const groups: string[] = [];
  let i = 0;
  while (rest.length - i > 4) { groups.push(rest.slice(i, i + 3)); i += 3; }
  groups.push(rest.slice(i));
  return `+${d.slice(0, ccLen)} ${groups.join(" ")}`;
}

/** Cuts text to a length with an ellipsis (table columns). */
export function truncate(text: string | null | undefined, max: number): string {
  const t = (text ?? "").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Up to `shown` tags in line, the rest behind the "i" button (seed 000 "Tag Management"). */
export function splitTags(tags: string[] | undefined, shown = 2): { visible: string[]; hidden: string[] } {
  const all = tags ?? [];
  return { visible: all.slice(0, shown), hidden: all.slice(shown) };
}

export interface ContactForm {
  first_name: string; last_name: string; email: string; phone: string; stage: string;
  type: string; channel: string;
  company: string; position: string; department: string; industry: string; company_size: string;
  owner_id: string;
  street: string; city: string; state: string; zip: string; country: string;
  tags: string[];
  linkedin: string; twitter: string; facebook: string; instagram: string; skype: string;
  notes: string;
}

export function emptyForm(): ContactForm {
  return {
    first_name: "", last_name: "", email: "", phone: "", stage: "New", type: "Prospect", channel: "",
    company: "", position: "", department: "", industry: "", company_size: "", owner_id: "",
    street: "", city: "", state: "", zip: "", country: "", tags: [],
    linkedin: "", twitter: "", facebook: "", instagram: "", skype: "", notes: "",
  };
}

export function formFromContact(c: Contact): ContactForm {
  const f = emptyForm();
  return {
    ...f,
    first_name: c.first_name ?? "", last_name: c.last_name ?? "", email: c.email ?? "", phone: c.phone ?? "",
    stage: c.stage ?? "New", type: c.type ?? "", channel: c.channel ?? "",
    company: c.company ?? "", position: c.position ?? "", department: c.department ?? "", industry: c.industry ?? "",
    company_size: c.company_size != null ? String(c.company_size) : "", owner_id: c.owner_id ?? "",
    street: c.address?.street ?? "", city: c.address?.city ?? "", state: c.address?.state ?? "",
    zip: c.address?.zip ?? "", country: c.address?.country ?? "", tags: [...(c.tags ?? [])],
    linkedin: c.social?.linkedin ?? "", twitter: c.social?.twitter ?? "", facebook: c.social?.facebook ?? "",
    instagram: c.social?.instagram ?? "", skype: c.social?.skype ?? "", notes: c.notes ?? "",
  };
}

function clean<T extends Record<string, unknown>>(obj: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== "" && v !== undefined && v !== null) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

/**
 * The API body for the form. New contacts leave out empty fields; edits send empty text as null
 * so a cleared field is cleared on the server too.
 */
export function formToPayload(f: ContactForm, editing = false): Record<string, unknown> {
  const text = (v: string) => (v.trim() === "" ? (editing ? null : undefined) : v.trim());
  const size = f.company_size.trim() === "" ? (editing ? null : undefined)
    : Number.isNaN(Number(f.company_size)) ? f.company_size.trim() : Number(f.company_size);
  const address = clean({ street: f.street.trim(), city: f.city.trim(), state: f.state.trim(), zip: f.zip.trim(), country: f.country.trim() });
  const social = clean({ linkedin: f.linkedin.trim(), twitter: f.twitter.trim(), facebook: f.facebook.trim(), instagram: f.instagram.trim(), skype: f.skype.trim() });
  const body: Record<string, unknown> = {
    first_name: f.first_name.trim(),
    last_name: f.last_name.trim(),
    email: f.email.trim(),
    phone: text(f.phone),
    stage: text(f.stage),
    type: text(f.type),
    channel: text(f.channel),
    company: text(f.company),
    position: text(f.position),
    department: text(f.department),
    industry: text(f.industry),
    company_size: size,
    owner_id: text(f.owner_id),
    tags: f.tags,
    notes: text(f.notes),
  };
  if (Object.keys(address).length || editing) body.address = address;
  if (Object.keys(social).length || editing) body.social = social;
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

/** Form field names the API may name in errors, mapped to the input that shows them. */
export function errorFieldToInput(field: string): string {
  if (field.startsWith("address.")) return field.slice("address.".length);
  if (field.startsWith("social.")) return field.slice("social.".length);
  if (field.startsWith("tags")) return "tags";
  return field;
}

/** Adds a tag unless it is empty, too long or already there (case-insensitive). */
export function addTag(tags: string[], tag: string, maxLength = 50): string[] {
  const t = tag.trim().replace(/,+$/, "");
  if (!t || t.length > maxLength) return tags;
  if (tags.some((x) => x.toLowerCase() === t.toLowerCase())) return tags;
  return [...tags, t];
}

export const TAG_SUGGESTIONS = ["Enterprise", "CEO", "Decision Maker", "Utility", "Subscribed", "Schedule Demo", "SMB", "Partner", "Webinar", "Newsletter"];
