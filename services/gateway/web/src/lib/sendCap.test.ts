import { describe, expect, it } from "vitest";
import { ApiError, toApiError } from "./errors";
import { canEditSendCap, type User } from "./permissions";
import {
  capRefusal,
  capRefusalMessage,
  capWarning,
  formatDuration,
  holdIsFinal,
  holdReasonText,
  parseCapInput,
  resetLabel,
  usedPercent,
  usedToday,
  type SendCap,
} from "./sendCap";

const cap = (over: Partial<SendCap> = {}): SendCap => ({
  cap: 100, default_cap: 10_000, claimed_today: 30, queued_today: 10, remaining: 60, day: "2026-12-02",
  resets_at: "2026-12-03T00:00:00+00:00", ...over,
});
const user = (role: User["role"]): User => ({ id: "u1", role, name: role, email: `${role}@demo.crm` });

describe("daily send cap figures", () => {
  it("counts claimed and queued as used and never shows more than 100%", () => {
    expect(usedToday(cap())).toBe(40);
    expect(usedPercent(cap())).toBe(40);
    expect(usedPercent(cap({ claimed_today: 150 }))).toBe(100);
    expect(usedPercent(cap({ cap: 0, claimed_today: 0, queued_today: 0 }))).toBe(100);
  });

  it("formats durations for the reset and retry times", () => {
    expect(formatDuration(0.4)).toBe("now");
    expect(formatDuration(45)).toBe("45 s");
    expect(formatDuration(12 * 60 + 5)).toBe("12 min");
    expect(formatDuration(5 * 3600 + 12 * 60)).toBe("5 h 12 min");
    expect(formatDuration(3 * 3600)).toBe("3 h");
    expect(formatDuration(26 * 3600)).toBe("1 d 2 h");
  });

  it("names the reset moment and how long until then", () => {
    const now = new Date("2026-12-02T18:48:00Z");
    expect(resetLabel("2026-12-03T00:00:00+00:00", now)).toMatch(/\(in 5 h 12 min\)$/);
    expect(resetLabel("2026-12-02T00:00:00+00:00", now)).toMatch(/\(now\)$/);
    expect(resetLabel(null, now)).toBe("at midnight UTC");
    expect(resetLabel("not a date", now)).toBe("at midnight UTC");
  });
});

describe("a bulk send refused by the cap (429)", () => {
  const body = { error: { code: "rate_limited", message: "daily send cap of 100 reached", details: {
    cap: 100, remaining: 2, requested: 3, resets_at: "2026-12-03T00:00:00+00:00", retry_after_s: 18_720 } } };
  const now = new Date("2026-12-02T18:48:00Z");

  it("reads cap, remaining, requested and the retry time from the error details", () => {
    const r = capRefusal(toApiError(429, body));
    expect(r).toMatchObject({ cap: 100, remaining: 2, requested: 3, retryAfterS: 18_720 });
    expect(r?.resetsAt?.toISOString()).toBe("2026-12-03T00:00:00.000Z");
  });

  it("says nothing was sent, what is left and when to retry", () => {
    const msg = capRefusalMessage(capRefusal(toApiError(429, body))!, now);
    expect(msg).toContain("Nothing was sent.");
    expect(msg).toContain("Only 2 of today's 100 emails are left.");
    expect(msg).toContain("This send has 3 recipients.");
    expect(msg).toContain("Send to at most 2 recipients");
    expect(msg).toMatch(/\(in 5 h 12 min\)\.$/);
  });

  it("says the cap is used up when nothing is left, and falls back to resets_at without retry_after_s", () => {
    const details = { cap: 10_000, remaining: 0, requested: 1, resets_at: "2026-12-03T00:00:00+00:00" };
    const msg = capRefusalMessage(capRefusal(new ApiError(429, "rate_limited", "x", details))!, now);
    expect(msg).toContain("The daily send cap of 10,000 emails is used up for today.");
    expect(msg).toContain("This send has 1 recipient.");
    expect(msg).toMatch(/\(in 5 h 12 min\)\.$/);
  });

  it("uses retry_after_s only without resets_at", () => {
    const details = { cap: 1, remaining: 0, requested: 1, retry_after_s: 3600 };
    const msg = capRefusalMessage(capRefusal(new ApiError(429, "rate_limited", "x", details))!, now);
    expect(msg).toMatch(/\(in 1 h\)\.$/);
  });

  it("warns before a send that does not fit", () => {
    const c = cap({ cap: 100, remaining: 2 });
    expect(capWarning(c, 2, now)).toBe("");
    expect(capWarning(c, 3, now)).toMatch(/^Only 2 of today's 100 emails are left\. This send has 3 recipients and may be refused\. The cap resets .*\(in 5 h 12 min\)\.$/);
    expect(capWarning(cap({ cap: 0, remaining: 0 }), 1, now)).toMatch(/^Today's daily send cap of 0 emails is used up\. This send has 1 recipient and would be refused\./);
  });

  it("counts in the singular for one", () => {
    const details = { cap: 1, remaining: 1, requested: 2, resets_at: "2026-12-02T18:49:00Z", retry_after_s: 60 };
    const msg = capRefusalMessage(capRefusal(new ApiError(429, "rate_limited", "x", details))!, now);
    expect(msg).toContain("Only 1 of today's 1 email is left. This send has 2 recipients. Send to at most 1 recipient,");
    expect(msg).toMatch(/\(in 1 min\)\.$/);
  });

  it("is not mistaken for other errors or other 429s", () => {
    expect(capRefusal(new ApiError(422, "validation_failed", "x", { cap: 1, remaining: 0 }))).toBeNull();
    expect(capRefusal(new ApiError(429, "rate_limited", "too many requests", {}))).toBeNull();
    expect(capRefusal(new Error("boom"))).toBeNull();
  });
});

describe("hold reasons in plain words", () => {
  it("explains every reason the service sets", () => {
    expect(holdReasonText("daily_send_cap")).toMatch(/daily send cap is used up/);
    expect(holdReasonText("before_start_date")).toMatch(/campaign to start/);
    expect(holdReasonText("campaign_ended")).toMatch(/end date has passed/);
    expect(holdReasonText("campaign_inactive")).toMatch(/campaign is inactive/);
    expect(holdReasonText("campaign_discarded")).toMatch(/discarded/);
  });

  it("shows nothing without a reason and a readable fallback for a new one", () => {
    expect(holdReasonText(null)).toBe("");
    expect(holdReasonText("")).toBe("");
    expect(holdReasonText("some_new_reason")).toBe("Waiting: some new reason.");
  });

  it("tells stopped from waiting", () => {
    expect(holdIsFinal("campaign_ended")).toBe(true);
    expect(holdIsFinal("campaign_discarded")).toBe(true);
    expect(holdIsFinal("daily_send_cap")).toBe(false);
    expect(holdIsFinal(undefined)).toBe(false);
  });
});

describe("changing the cap", () => {
  it("only admins may change it", () => {
    expect(canEditSendCap(user("admin"))).toBe(true);
    for (const role of ["marketing", "sales", "executive"] as const) expect(canEditSendCap(user(role))).toBe(false);
    expect(canEditSendCap(null)).toBe(false);
  });

  it("takes whole numbers (separators allowed) from 0 to 10,000,000", () => {
    expect(parseCapInput("5000")).toEqual({ cap: 5000 });
    expect(parseCapInput(" 12,500 ")).toEqual({ cap: 12500 });
    expect(parseCapInput("0")).toEqual({ cap: 0 });
    expect(parseCapInput("10000000")).toEqual({ cap: 10_000_000 });
    expect(parseCapInput("10000001")).toHaveProperty("error");
    expect(parseCapInput("")).toHaveProperty("error");
    expect(parseCapInput("-5")).toHaveProperty("error");
    expect(parseCapInput("2.5")).toHaveProperty("error");
    expect(parseCapInput("lots")).toHaveProperty("error");
  });
});
