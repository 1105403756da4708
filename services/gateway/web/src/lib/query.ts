/** Contact list filters <-> URL query (API.md list parameters), so filters survive reloads and links. */

export interface ContactFilters {
  q?: string;
  stage?: string;
  company?: string;
  score_min?: string;
  score_max?: string;
  channel?: string;
  type?: string;
  tag?: string;
  owner_id?: string;
  created_from?: string;
  created_to?: string;
  segment_id?: string;
  import_id?: string;
  inactive_days?: string;
  sort?: string;
  page?: string;
}

export const FILTER_KEYS: Array<keyof ContactFilters> = [
  "q", "stage", "company", "score_min", "score_max", "channel", "type", "tag", "owner_id",
  "created_from", "created_to", "segment_id", "import_id", "inactive_days", "sort", "page",
];

export function filtersFromSearch(search: string): ContactFilters {
  const p = new URLSearchParams(search);
  const out: ContactFilters = {};
  for (const k of FILTER_KEYS) {
    const v = p.get(k);
    if (v) out[k] = v;
  }
  return out;
}

/** The query string for the API (and the address bar); empty values are left out. */
export function toQuery(f: ContactFilters, extra: Record<string, string | number> = {}): string {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = f[k];
    if (v !== undefined && v !== "") p.set(k, v);
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return p.toString();
}

/** Clicking a sortable header: first ascending, then descending, for the same column. */
export function nextSort(current: string | undefined, column: string, descFirst = false): string {
  if (current === column) return `-${column}`;
  if (current === `-${column}`) return column;
  return descFirst ? `-${column}` : column;
}

/** Date range of a KPI period, as created_from/created_to filters. */
export function periodRange(period: "all" | "this_month" | "last_month", now: Date = new Date()): { created_from?: string; created_to?: string } {
  if (period === "all") return {};
  const y = now.getFullYear();
  const m = now.getMonth();
  const p = (n: number) => String(n).padStart(2, "0");
  const day = (d: Date) => `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  if (period === "this_month") return { created_from: day(new Date(y, m, 1)) };
  return { created_from: day(new Date(y, m - 1, 1)), created_to: day(new Date(y, m, 0)) };
}
