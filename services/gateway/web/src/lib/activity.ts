/** Activity tab filters -> the query string of GET /contacts/{id}/activity and its CSV export. */
export interface ActivityFilters {
  type?: string;
  from?: string;
  to?: string;
  userId?: string;
}

export function activityQuery(f: ActivityFilters, extra: Record<string, string> = {}): string {
  const qs = new URLSearchParams(extra);
  if (f.type) qs.set("type", f.type);
  if (f.from) qs.set("from", f.from);
  if (f.to) qs.set("to", f.to);
  if (f.userId) qs.set("user_id", f.userId);
  return qs.toString();
}

/** The server-side export (cap, audit, formula-safe cells) with the filters chosen on the tab. */
export function activityExportPath(contactId: string, f: ActivityFilters): string {
  const qs = activityQuery(f);
  return `/contacts/${encodeURIComponent(contactId)}/activity.csv${qs ? `?${qs}` : ""}`;
}
