import { describe, expect, it } from "vitest";
import { clearDraft, draftKey, loadDraft, saveDraft, type KeyValueStore } from "./draft";
import { fileProblem, wizardStepFor } from "./imports";
import { percent, renderMerge } from "./merge";
import { canEditContact, canEditNote, canManageSegments, navFor, type User } from "./permissions";
import { filtersFromSearch, nextSort, periodRange, toQuery } from "./query";
import { buildRule, type RuleDraft } from "./rules";
import { asPercent, importSuccessRate, scaleMax, scoreBuckets, weekEnds } from "./stats";
import { scoreStyle, stageStyle } from "./badges";

class MemStore implements KeyValueStore {
  data = new Map<string, string>();
  getItem(k: string) { return this.data.get(k) ?? null; }
  setItem(k: string, v: string) { this.data.set(k, v); }
  removeItem(k: string) { this.data.delete(k); }
}

const user = (role: User["role"], id = "u1"): User => ({ id, role, name: role, email: `${role}@demo.crm` });

describe("note drafts", () => {
  it("saves, restores and clears per contact", () => {
    const s = new MemStore();
    saveDraft(s, "c1", "call back Tuesday");
    expect(loadDraft(s, "c1")).toBe("call back Tuesday");
    expect(loadDraft(s, "c2")).toBe("");
    clearDraft(s, "c1");
    expect(s.data.has(draftKey("c1"))).toBe(false);
  });
  it("does not keep whitespace-only drafts", () => {
    const s = new MemStore();
    saveDraft(s, "c1", "   ");
    expect(s.data.size).toBe(0);
  });
});

describe("merge fields", () => {
  it("fills the template fields and leaves unknown ones visible", () => {
    const ctx = { first_name: "Sarah", last_name: "Johnson", company: "TechCorp", position: "VP of Sales", sender_name: "Sam", sender_email: "sales@demo.crm" };
    expect(renderMerge("Hi {first_name} from {company_name}, {position}. {unknown} -- {sender_name} <{sender_email}>", ctx))
      .toBe("Hi Sarah from TechCorp, VP of Sales. {unknown} -- Sam <sales@demo.crm>");
  });
  it("formats rates given in percent", () => {
    expect(percent(42.35)).toBe("42.4%");
    expect(percent(0.5)).toBe("0.5%");
    expect(percent(undefined)).toBe("–");
  });
});

describe("permissions", () => {
  it("lets marketing and admin edit every contact, sales only their own, executives none", () => {
    expect(canEditContact(user("marketing"), { owner_id: "x" })).toBe(true);
    expect(canEditContact(user("admin"), { owner_id: null })).toBe(true);
    expect(canEditContact(user("sales", "s1"), { owner_id: "s1" })).toBe(true);
    expect(canEditContact(user("sales", "s1"), { owner_id: "s2" })).toBe(false);
    expect(canEditContact(user("executive"), { owner_id: "x" })).toBe(false);
  });
  it("lets note authors, contact owners and admins edit notes", () => {
    expect(canEditNote(user("sales", "s1"), { author_id: "s1" }, { owner_id: "s2" })).toBe(true);
    expect(canEditNote(user("sales", "s2"), { author_id: "s1" }, { owner_id: "s2" })).toBe(true);
    expect(canEditNote(user("marketing", "m1"), { author_id: "s1" }, { owner_id: "s2" })).toBe(false);
    expect(canEditNote(user("admin"), { author_id: "s1" }, null)).toBe(true);
  });
  it("shows scoring only to admins and no import to executives", () => {
    expect(navFor(user("admin")).map((n) => n.label)).toContain("Scoring");
    expect(navFor(user("marketing")).map((n) => n.label)).not.toContain("Scoring");
    expect(navFor(user("executive")).map((n) => n.label)).not.toContain("Import");
    expect(canManageSegments(user("sales"))).toBe(false);
  });
});

describe("list query", () => {
  it("round-trips filters through the address bar without empty values", () => {
    const f = filtersFromSearch("?q=ada&stage=Hot+Lead&score_min=&page=2&junk=1");
    expect(f).toEqual({ q: "ada", stage: "Hot Lead", page: "2" });
    expect(toQuery(f, { per_page: 50 })).toBe("q=ada&stage=Hot+Lead&page=2&per_page=50");
  });
  it("cycles sort direction per column", () => {
    expect(nextSort(undefined, "name")).toBe("name");
    expect(nextSort("name", "name")).toBe("-name");
    expect(nextSort("-name", "name")).toBe("name");
    expect(nextSort("name", "score", true)).toBe("-score");
  });
  it("turns KPI periods into creation date ranges", () => {
    const now = new Date(2024, 2, 15);
    expect(periodRange("all", now)).toEqual({});
    expect(periodRange("this_month", now)).toEqual({ created_from: "2024-03-01" });
    expect(periodRange("last_month", now)).toEqual({ created_from: "2024-02-01", created_to: "2024-02-29" });
  });
});

describe("import wizard rules", () => {
  it("refuses non-CSV, empty and too large files before upload", () => {
    expect(fileProblem("contacts.xlsx", 10)).toMatch(/CSV/);
    expect(fileProblem("contacts.csv", 0)).toMatch(/empty/);
    expect(fileProblem("contacts.CSV", 11 * 1024 * 1024)).toMatch(/10 MB/);
    expect(fileProblem("contacts.csv", 100)).toBeNull();
  });
  it("maps job statuses to wizard steps", () => {
    expect(wizardStepFor({ status: "uploaded" })).toBe(2);
    expect(wizardStepFor({ status: "processing" })).toBe(3);
    expect(wizardStepFor({ status: "review" })).toBe(4);
    expect(wizardStepFor({ status: "committing" })).toBe(4);
    expect(wizardStepFor({ status: "completed" })).toBe(5);
  });
});

describe("dashboard figures", () => {
  it("covers 0-100 with ten score buckets", () => {
    const b = scoreBuckets();
    expect(b).toHaveLength(10);
    expect(b[0]).toEqual({ label: "0-9", min: 0, max: 9 });
    expect(b[9]).toEqual({ label: "90-100", min: 90, max: 100 });
  });
  it("computes import success including merges", () => {
    expect(importSuccessRate({ total: 200, imported: 150, merged: 10 })).toBe(80);
    expect(importSuccessRate({ total: 0 })).toBe(0);
    expect(importSuccessRate(null)).toBe(0);
  });
  it("never scales by zero and reads rates", () => {
    expect(scaleMax([0, 0])).toBe(1);
    expect(scaleMax([3, 9])).toBe(9);
    expect(asPercent(12.345)).toBe(12.3);
    expect(asPercent(null)).toBe(0);
  });
  it("gives week ends oldest first, ending now", () => {
    const now = new Date(2024, 5, 20);
    const w = weekEnds(3, now);
    expect(w).toHaveLength(3);
    expect(new Date(w[2].to).getTime()).toBe(now.getTime());
    expect(new Date(w[0].to).getTime()).toBe(now.getTime() - 14 * 86_400_000);
  });
});

describe("badges", () => {
  it("uses the seed's stage colours", () => {
    expect(stageStyle("Hot Lead").bg).toBe("#DC2626");
    expect(stageStyle("Qualified").bg).toBe("#2563EB");
    expect(stageStyle("Customer").bg).toBe("#059669");
    expect(stageStyle("Cold Lead").bg).toBe("#6B7280");
  });
  it("marks scores of 90 and above green", () => {
    expect(scoreStyle(92).bg).toBe("#10B981");
    expect(scoreStyle(40).bg).not.toBe("#10B981");
  });
});

describe("rule builder", () => {
  const draft: RuleDraft = {
    name: " Hot leads ", description: "", triggerType: "score_change", toStage: "", eventTypes: "demo_requested, pricing_page_visited", minDelta: "",
    event: "last_activity", hours: "720", everyMinutes: "60", actionType: "set_stage", stage: "Hot Lead", tags: "", ownerId: "", title: "", message: "",
    templateId: "", campaignId: "", priority: "1", blocking: true, mode: "one_time",
  };
  it("sends only the keys the trigger and action need", () => {
    expect(buildRule(draft, { all: [{ field: "score", op: "gte", value: 90 }] })).toEqual({
      name: "Hot leads", description: "", trigger: { type: "score_change" }, actions: [{ type: "set_stage", stage: "Hot Lead" }],
      priority: 1, blocking: true, mode: { type: "one_time" }, criteria: { all: [{ field: "score", op: "gte", value: 90 }] },
    });
  });
  it("builds event and time triggers and tag actions", () => {
    const r = buildRule({ ...draft, triggerType: "event", actionType: "add_tag", tags: "hot, demo" }, null);
    expect(r.trigger).toEqual({ type: "event", event_types: ["demo_requested", "pricing_page_visited"] });
    expect(r.actions).toEqual([{ type: "add_tag", tags: ["hot", "demo"] }]);
    expect(r).not.toHaveProperty("criteria");
    expect(buildRule({ ...draft, triggerType: "time_since_event" }, null).trigger).toEqual({ type: "time_since_event", event: "last_activity", hours: 720 });
  });
});
