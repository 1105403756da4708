import { describe, expect, it } from "vitest";
import { AVATAR_FALLBACK, AVATAR_PALETTE, avatarColor, initials, nameHash } from "./avatar";

describe("initials", () => {
  it("takes the first letter of first and last name", () => {
    expect(initials("David", "Thompson")).toBe("DT");
    expect(initials(" émile ", "zola")).toBe("ÉZ");
  });
  it("falls back to ? when both names are empty", () => {
    expect(initials("", "")).toBe("?");
    expect(initials(null, undefined)).toBe("?");
  });
  it("uses the one name that exists", () => {
    expect(initials("Cher", "")).toBe("C");
  });
});

describe("avatarColor", () => {
  it("is stable for the same name and ignores case and outer spaces", () => {
    expect(avatarColor("Sarah", "Johnson")).toBe(avatarColor(" sarah", "JOHNSON "));
  });
  it("always picks from the palette", () => {
    for (const [f, l] of [["a", "b"], ["David", "Thompson"], ["Emily", "Rodriguez"], ["Michael", "Chen"]]) {
      expect(AVATAR_PALETTE).toContain(avatarColor(f, l));
    }
  });
  it("spreads different names over several colours", () => {
    const names = ["Ann Lee", "Bob Ray", "Cat Poe", "Dan Fox", "Eve Kim", "Fay Orr", "Gus Wu", "Hal Ng", "Ivy Roe", "Jo Bo"];
    const colours = new Set(names.map((n) => avatarColor(...(n.split(" ") as [string, string]))));
    expect(colours.size).toBeGreaterThan(3);
  });
  it("is grey without a name", () => {
    expect(avatarColor("", "")).toBe(AVATAR_FALLBACK);
  });
  it("hashes to an unsigned 32-bit number", () => {
    const h = nameHash("x".repeat(1000));
    expect(h).toBeGreaterThanOrEqual(0);
    expect(h).toBeLessThan(2 ** 32);
  });
});
