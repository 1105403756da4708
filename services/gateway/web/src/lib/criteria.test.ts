import { describe, expect, it } from "vitest";
import { SEGMENT_TEMPLATES, convertValue, describe as describeCriteria, deserialize, newCondition, newGroup, serialize, validate } from "./criteria";

describe("serialize", () => {
  it("turns a group of conditions into {all: [...]} with typed values", () => {
    const g = newGroup("all", [newCondition("score", "gt", "80"), newCondition("company_size", "gt", "100")]);
    expect(serialize(g)).toEqual({ all: [{ field: "score", op: "gt", value: 80 }, { field: "company_size", op: "gt", value: 100 }] });
  });
  it("nests OR groups inside AND groups and drops empty groups", () => {
    const g = newGroup("all", [
      newCondition("stage", "eq", "Qualified"),
      newGroup("any", [newCondition("tags", "contains", "Enterprise"), newCondition("position", "contains", "CEO")]),
      newGroup("any", []),
    ]);
    expect(serialize(g)).toEqual({
      all: [
        { field: "stage", op: "eq", value: "Qualified" },
        { any: [{ field: "tags", op: "contains", value: "Enterprise" }, { field: "position", op: "contains", value: "CEO" }] },
      ],
    });
  });
  it("converts lists, ranges, booleans, exists and day windows", () => {
    expect(convertValue(newCondition("stage", "in", "New, Qualified ,"))).toEqual(["New", "Qualified"]);
    expect(convertValue(newCondition("score", "between", "50, 80"))).toEqual([50, 80]);
    expect(convertValue(newCondition("demo_requested", "eq", "true"))).toBe(true);
    expect(convertValue(newCondition("demo_requested", "eq", "false"))).toBe(false);
    expect(convertValue(newCondition("email", "exists", ""))).toBe(true);
    expect(convertValue(newCondition("created_at", "within_days", "30"))).toBe(30);
  });
});

describe("deserialize", () => {
  it("round-trips saved criteria back into the builder", () => {
    const criteria = { any: [{ field: "score", op: "gte", value: 90 }, { all: [{ field: "stage", op: "in", value: ["Hot Lead", "Qualified"] }] }] };
    expect(serialize(deserialize(criteria))).toEqual(criteria);
  });
  it("gives an empty AND group for nothing", () => {
    expect(serialize(deserialize(null))).toEqual({ all: [] });
  });
});

describe("describe and validate", () => {
  it("reads like the seed's criteria display", () => {
    expect(describeCriteria(SEGMENT_TEMPLATES[0].criteria)).toBe("AI Score > 80 AND Company Size > 100");
    expect(describeCriteria({ all: [{ field: "score", op: "gt", value: 1 }, { any: [{ field: "stage", op: "eq", value: "New" }, { field: "stage", op: "eq", value: "Lost" }] }] }))
      .toBe("AI Score > 1 AND (Stage = New OR Stage = Lost)");
  });
  it("flags empty values, bad numbers and half ranges", () => {
    expect(validate(newGroup("all", [newCondition("score", "gt", "")]))).toHaveLength(1);
    expect(validate(newGroup("all", [newCondition("score", "gt", "abc")]))[0]).toMatch(/number/);
    expect(validate(newGroup("all", [newCondition("score", "between", "5")]))[0]).toMatch(/two values/);
    expect(validate(newGroup("all", [newCondition("email", "exists", "")]))).toEqual([]);
  });
});
