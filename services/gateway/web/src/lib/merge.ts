/** Filling template merge fields for the email preview (API.md "Messaging"). */

export interface MergeContext {
  first_name?: string | null;
  last_name?: string | null;
  company?: string | null;
  position?: string | null;
  sender_name?: string | null;
  sender_email?: string | null;
}

export const MERGE_FIELDS = ["first_name", "last_name", "company_name", "position", "sender_name", "sender_email"] as const;

/** Replaces `{field}` placeholders; unknown placeholders stay as typed so the user sees them. */
export function renderMerge(text: string, ctx: MergeContext): string {
  const values: Record<string, string> = {
    first_name: ctx.first_name ?? "",
    last_name: ctx.last_name ?? "",
    company_name: ctx.company ?? "",
    position: ctx.position ?? "",
    sender_name: ctx.sender_name ?? "",
    sender_email: ctx.sender_email ?? "",
  };
  return text.replace(/\{([a-z_]+)\}/g, (whole, key: string) => (key in values ? values[key] : whole));
}

/** Percent text for a rate the API reports in percent (0..100, one decimal). */
export function percent(rate: number | null | undefined): string {
  if (rate == null || Number.isNaN(Number(rate))) return "–";
  return `${Math.round(Number(rate) * 10) / 10}%`;
}
