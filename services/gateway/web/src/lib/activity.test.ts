import { describe, expect, it } from "vitest";
import { activityExportPath, activityQuery } from "./activity";

describe("activity filters", () => {
  it("builds the list query with only the chosen filters", () => {
    expect(activityQuery({ type: "note", userId: "u1" }, { per_page: "50" })).toBe("per_page=50&type=note&user_id=u1");
    expect(activityQuery({})).toBe("");
  });
  it("exports with the same filters", () => {
    expect(activityExportPath("c1", {})).toBe("/contacts/c1/activity.csv");
    expect(activityExportPath("c1", { type: "email", from: "2026-01-01", to: "2026-01-31", userId: "u2" }))
      .toBe("/contacts/c1/activity.csv?type=email&from=2026-01-01&to=2026-01-31&user_id=u2");
  });
});
