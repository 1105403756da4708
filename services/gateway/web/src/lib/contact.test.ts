import { describe, expect, it } from "vitest";
import { addTag, emptyForm, errorFieldToInput, formatPhone, formFromContact, formToPayload, positionAtCompany, splitTags, truncate } from "./contact";

describe("display rules", () => {
  it("builds 'Position at Company' with the seed's fallbacks", () => {
    expect(positionAtCompany("CEO", "FutureTech Industries")).toBe("CEO at FutureTech Industries");
    expect(positionAtCompany("CEO", "")).toBe("CEO");
    expect(positionAtCompany(null, "GrowthCo")).toBe("GrowthCo");
    expect(positionAtCompany(undefined, null)).toBe("N/A");
  });
  it("shows E.164 numbers internationally", () => {
    expect(formatPhone("+15553210987")).toBe("+1 (555) 321-0987");
    expect(formatPhone("+442079460958")).toBe("+44 207 946 0958");
    expect(formatPhone("+4930123456")).toBe("+49 301 234 56");
    expect(formatPhone("555-1234")).toBe("555-1234");
    expect(formatPhone("")).toBe("");
  });
  it("keeps two tags inline and the rest for the i button", () => {
    expect(splitTags(["a", "b", "c", "d"])).toEqual({ visible: ["a", "b"], hidden: ["c", "d"] });
    expect(splitTags(undefined)).toEqual({ visible: [], hidden: [] });
  });
  it("truncates with an ellipsis", () => {
    expect(truncate("abcdef", 4)).toBe("abc…");
    expect(truncate("abc", 4)).toBe("abc");
  });
});

describe("tags", () => {
  it("adds trimmed tags once, case-insensitively, within the length limit", () => {
    expect(addTag(["CEO"], " enterprise ")).toEqual(["CEO", "enterprise"]);
    expect(addTag(["CEO"], "ceo")).toEqual(["CEO"]);
    expect(addTag([], "")).toEqual([]);
    expect(addTag([], "x".repeat(51))).toEqual([]);
  });
});

describe("form payload", () => {
  it("leaves out empty fields for a new contact and nests address and social", () => {
    const f = { ...emptyForm(), first_name: " Ada ", last_name: "Lovelace", email: "ada@example.com", city: "London", linkedin: "https://linkedin.com/in/ada", company_size: "250", tags: ["CEO"] };
    expect(formToPayload(f)).toEqual({
      first_name: "Ada", last_name: "Lovelace", email: "ada@example.com", stage: "New", type: "Prospect", company_size: 250, tags: ["CEO"],
      address: { city: "London" }, social: { linkedin: "https://linkedin.com/in/ada" },
    });
  });
  it("sends cleared fields as null when editing", () => {
    const c = { id: "1", first_name: "A", last_name: "B", email: "a@b.co", company: "Acme", address: { city: "X" }, tags: [] };
    const f = { ...formFromContact(c), company: "", city: "" };
    const body = formToPayload(f, true);
    expect(body.company).toBeNull();
    expect(body.address).toEqual({});
  });
  it("maps nested API error names to the inputs that show them", () => {
    expect(errorFieldToInput("address.zip")).toBe("zip");
    expect(errorFieldToInput("social.linkedin")).toBe("linkedin");
    expect(errorFieldToInput("tags.3")).toBe("tags");
    expect(errorFieldToInput("email")).toBe("email");
  });
});
