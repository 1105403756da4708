import { describe, expect, it } from "vitest";
import { daysSince, dayHeader, isoDay, relativeDay } from "./time";

const now = new Date(2024, 5, 20, 15, 0, 0); // Jun 20, 2024 local

describe("relativeDay (seed 000 Last Contact rules)", () => {
  it("says Today and Yesterday within a day", () => {
    expect(relativeDay(new Date(2024, 5, 20, 1, 0), now)).toBe("Today");
    expect(relativeDay(new Date(2024, 5, 19, 23, 59), now)).toBe("Yesterday");
  });
  it("counts days within a week", () => {
    expect(relativeDay(new Date(2024, 5, 17, 12), now)).toBe("3 days ago");
    expect(relativeDay(new Date(2024, 5, 14, 12), now)).toBe("6 days ago");
  });
  it("shows Month Day within the current year", () => {
    expect(relativeDay(new Date(2024, 0, 15, 12), now)).toBe("Jan 15");
    expect(relativeDay(new Date(2024, 5, 13, 12), now)).toBe("Jun 13");
  });
  it("adds the year for previous years", () => {
    expect(relativeDay(new Date(2023, 0, 15, 12), now)).toBe("Jan 15, 2023");
  });
  it("says Never without a date or with garbage", () => {
    expect(relativeDay(null, now)).toBe("Never");
    expect(relativeDay("not a date", now)).toBe("Never");
  });
  it("treats a future timestamp as Today", () => {
    expect(relativeDay(new Date(2024, 5, 21), now)).toBe("Today");
  });
});

describe("other date helpers", () => {
  it("daysSince counts whole days", () => {
    expect(daysSince(new Date(2024, 4, 21, 15).toISOString(), now)).toBe(30);
    expect(daysSince(null, now)).toBeNull();
  });
  it("isoDay formats YYYY-MM-DD", () => {
    expect(isoDay(new Date(2024, 0, 5, 10))).toBe("2024-01-05");
    expect(isoDay(undefined)).toBe("");
  });
  it("dayHeader groups by day", () => {
    expect(dayHeader(new Date(2024, 5, 20, 9).toISOString(), now)).toBe("Today");
    expect(dayHeader(new Date(2024, 0, 15, 9).toISOString(), now)).toBe("Jan 15, 2024");
  });
});
