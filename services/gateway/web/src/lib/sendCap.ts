/**
 * The organisation's daily send cap (`GET/PUT /emails/daily-cap`, RELIABILITY A7) and the words the
 * client shows for it: what is left today, when it resets, why a bulk send was refused (429) and why a
 * campaign step is waiting (`hold_reason`). Pure functions so the wording is unit-tested.
 */
import { ApiError } from "./errors";

export interface SendCap {
  cap: number;
  default_cap: number;
  claimed_today: number;
  queued_today: number;
  remaining: number;
  day?: string;
  resets_at: string;
}

/** The 429 details of a bulk send that does not fit in what is left today. */
export interface CapRefusal {
  cap: number;
  remaining: number;
  requested: number | null;
  resetsAt: Date | null;
  retryAfterS: number | null;
}

export const MAX_CAP = 10_000_000;

const n = (v: number) => v.toLocaleString("en-US");

/** "1 email", "12,500 emails" (or another noun). */
export function count(v: number, noun = "email"): string {
  return `${n(v)} ${noun}${v === 1 ? "" : "s"}`;
}

/** Used today: sends already claimed plus those queued to go out today (both count against the cap). */
export function usedToday(c: SendCap): number {
  return c.claimed_today + c.queued_today;
}

/** Share of the cap used, 0-100 (a cap of 0 is fully used). */
export function usedPercent(c: SendCap): number {
  if (c.cap <= 0) return 100;
  return Math.min(100, Math.round((100 * usedToday(c)) / c.cap));
}

/** "5 h 12 min", "12 min", "45 s"; "now" for anything under a second. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 1) return "now";
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h >= 24) {
    const d = Math.floor(h / 24);
    return `${d} d ${h % 24} h`;
  }
  if (h > 0) return m ? `${h} h ${m} min` : `${h} h`;
  return `${m} min`;
}

/** The reset moment in the reader's time with how long until then: "Dec 3, 1:00 AM (in 5 h 12 min)". */
export function resetLabel(resetsAt: string | Date | null | undefined, now: Date = new Date()): string {
  if (!resetsAt) return "at midnight UTC";
  const d = resetsAt instanceof Date ? resetsAt : new Date(resetsAt);
  if (Number.isNaN(d.getTime())) return "at midnight UTC";
  const when = d.toLocaleString("en-US", { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  const left = (d.getTime() - now.getTime()) / 1000;
  return left > 0 ? `${when} (in ${formatDuration(left)})` : `${when} (now)`;
}

/** The cap details of a 429 from a send, or null when the error is something else. */
export function capRefusal(err: unknown): CapRefusal | null {
  if (!(err instanceof ApiError) || err.status !== 429) return null;
  const d = err.details ?? {};
  if (typeof d.cap !== "number" || typeof d.remaining !== "number") return null;
  const resets = typeof d.resets_at === "string" ? new Date(d.resets_at) : null;
  return {
    cap: d.cap,
    remaining: d.remaining,
    requested: typeof d.requested === "number" ? d.requested : null,
    resetsAt: resets && !Number.isNaN(resets.getTime()) ? resets : null,
    retryAfterS: typeof d.retry_after_s === "number" ? d.retry_after_s : null,
  };
}

/**
 * What to tell the sender when the cap refused the whole send (nothing was queued): how many are left
 * today, how many were asked for, and when to try again.
 */
export function capRefusalMessage(r: CapRefusal, now: Date = new Date()): string {
  const asked = r.requested != null ? ` This send has ${count(r.requested, "recipient")}.` : "";
  const left = r.remaining > 0
    ? `Only ${n(r.remaining)} of today's ${count(r.cap)} ${r.remaining === 1 ? "is" : "are"} left.${asked} Send to at most ${count(r.remaining, "recipient")}, or try again`
    : `The daily send cap of ${count(r.cap)} is used up for today.${asked} Try again`;
  // resets_at is the exact moment; retry_after_s (whole seconds, rounded down) only when it is missing
  const at = r.resetsAt != null || r.retryAfterS == null
    ? resetLabel(r.resetsAt, now)
    : resetLabel(new Date(now.getTime() + r.retryAfterS * 1000), now);
  return `Nothing was sent. ${left} after the cap resets: ${at}.`;
}

/** The warning before a send that does not fit in what is left today, or "" when it fits. */
export function capWarning(c: SendCap, recipients: number, now: Date = new Date()): string {
  if (recipients <= c.remaining) return "";
  const has = `This send has ${count(recipients, "recipient")}`;
  const when = `The cap resets ${resetLabel(c.resets_at, now)}.`;
  if (c.remaining <= 0) return `Today's daily send cap of ${count(c.cap)} is used up. ${has} and would be refused. ${when}`;
  return `Only ${n(c.remaining)} of today's ${count(c.cap)} ${c.remaining === 1 ? "is" : "are"} left. ${has} and may be refused. ${when}`;
}

const HOLD_REASONS: Record<string, string> = {
  daily_send_cap: "Waiting: today's daily send cap is used up. The next email goes out after the cap resets.",
  before_start_date: "Waiting for the campaign to start: the next email goes out on the start date.",
  campaign_ended: "Stopped: the campaign's end date has passed, so no more emails are sent.",
  campaign_inactive: "Paused: the campaign is inactive. The next email goes out when it is active again.",
  campaign_discarded: "Stopped: the campaign was discarded, so no more emails are sent.",
};

/** A campaign enrollment's `hold_reason` in plain words ("" when nothing holds it). */
export function holdReasonText(reason: string | null | undefined): string {
  if (!reason) return "";
  return HOLD_REASONS[reason] ?? `Waiting: ${reason.replace(/_/g, " ")}.`;
}

/** Whether the reason stops the enrollment for good (unless the period is changed) or only delays it. */
export function holdIsFinal(reason: string | null | undefined): boolean {
  return reason === "campaign_ended" || reason === "campaign_discarded";
}

/** The admin's cap input: a whole number from 0 to MAX_CAP, or an error to show next to the field. */
export function parseCapInput(text: string): { cap: number } | { error: string } {
  const t = text.trim().replace(/[,_\s]/g, "");
  if (!t) return { error: "Enter a number of emails per day." };
  if (!/^\d+$/.test(t)) return { error: "Use a whole number of emails, e.g. 5000." };
  const cap = Number(t);
  if (cap > MAX_CAP) return { error: `At most ${n(MAX_CAP)} emails per day.` };
  return { cap };
}
