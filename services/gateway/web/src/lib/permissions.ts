/** What the signed-in role may do (SPEC.md "Permissions"); the API enforces the same rules. */

export type Role = "admin" | "marketing" | "sales" | "executive";

export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
}

export interface Owned {
  owner_id?: string | null;
}

export function canCreateContacts(u: User | null): boolean {
  return !!u && (u.role === "admin" || u.role === "marketing" || u.role === "sales");
}

/** Marketing and admin edit every contact, sales only their own, executives nothing. */
export function canEditContact(u: User | null, c: Owned | null | undefined): boolean {
  if (!u || !c) return false;
  if (u.role === "admin" || u.role === "marketing") return true;
  if (u.role === "sales") return !!c.owner_id && c.owner_id === u.id;
  return false;
}

export function canDeleteContacts(u: User | null): boolean {
  return !!u && (u.role === "admin" || u.role === "marketing");
}

export function canImport(u: User | null): boolean {
  return !!u && (u.role === "admin" || u.role === "marketing" || u.role === "sales");
}

export function canManageSegments(u: User | null): boolean {
  return !!u && (u.role === "admin" || u.role === "marketing");
}

export function canManageCampaigns(u: User | null): boolean {
  return !!u && (u.role === "admin" || u.role === "marketing");
}

/** Emails, calls and follow-ups: anyone who may write to the contact. */
export function canCommunicate(u: User | null, c: Owned | null | undefined): boolean {
  return canEditContact(u, c);
}

/** The organisation's daily send cap: everyone sees it, only admins change it. */
export function canEditSendCap(u: User | null): boolean {
  return !!u && u.role === "admin";
}

export function canAdminScoring(u: User | null): boolean {
  return !!u && u.role === "admin";
}

export function canExport(u: User | null): boolean {
  return !!u;
}

/** Notes: the author, the owner of the contact, or an admin. */
export function canEditNote(u: User | null, note: { author_id?: string | null; user_id?: string | null }, c: Owned | null): boolean {
  if (!u) return false;
  if (u.role === "admin") return true;
  if (u.role === "executive") return false;
  const author = note.author_id ?? note.user_id;
  return author === u.id || (!!c?.owner_id && c.owner_id === u.id);
}

/** The navigation a role sees. */
export function navFor(u: User | null): Array<{ to: string; label: string }> {
  if (!u) return [];
  const items = [{ to: "/contacts", label: "Contacts" }];
  if (canImport(u)) items.push({ to: "/import", label: "Import" });
  items.push({ to: "/segments", label: "Segments" });
  items.push({ to: "/campaigns", label: "Campaigns" });
  items.push({ to: "/templates", label: "Templates" });
  if (u.role !== "executive") items.push({ to: "/follow-ups", label: "Follow-ups" });
  items.push({ to: "/dashboard", label: "Dashboard" });
  if (canAdminScoring(u)) items.push({ to: "/scoring", label: "Scoring" });
  return items;
}
