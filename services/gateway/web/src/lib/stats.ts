/** Figures for the executive dashboard, computed from the public API's answers. */

export interface Bucket { label: string; value: number }

/** Score ranges 0-9 ... 90-100 for the distribution chart (query score_min/score_max per bucket). */
export function scoreBuckets(): Array<{ label: string; min: number; max: number }> {
  const out = [];
  for (let lo = 0; lo < 100; lo += 10) {
    const hi = lo === 90 ? 100 : lo + 9;
    out.push({ label: `${lo}-${hi}`, min: lo, max: hi });
  }
  return out;
}

/** Week boundaries (ISO dates, oldest first) ending at `now`, for "hot leads over time". */
export function weekEnds(weeks: number, now: Date = new Date()): Array<{ label: string; to: string }> {
  const out: Array<{ label: string; to: string }> = [];
  for (let i = weeks - 1; i >= 0; i--) {
    const d = new Date(now.getTime() - i * 7 * 86_400_000);
    const label = `${d.getMonth() + 1}/${d.getDate()}`;
    out.push({ label, to: d.toISOString() });
  }
  return out;
}

/** Imported share of each import's total, in percent (0 when the import had no rows). */
export function importSuccessRate(summary: { total?: number; imported?: number; merged?: number } | null | undefined): number {
  if (!summary || !summary.total) return 0;
  const ok = (summary.imported ?? 0) + (summary.merged ?? 0);
  return Math.round((ok / summary.total) * 1000) / 10;
}

/** Bars scale against the largest value; an all-zero chart stays flat rather than dividing by zero. */
export function scaleMax(values: number[]): number {
  const m = Math.max(0, ...values);
  return m === 0 ? 1 : m;
}

/** A rate in percent as a number with one decimal (0 when missing). */
export function asPercent(rate: unknown): number {
  const n = typeof rate === "number" ? rate : Number(rate);
  if (rate == null || !Number.isFinite(n)) return 0;
  return Math.round(n * 10) / 10;
}
