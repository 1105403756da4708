import { describe, expect, it } from "vitest";
import { ApiError, describeError, fieldErrors, toApiError } from "./errors";

describe("fieldErrors", () => {
  it("reads the gateway's details.fields lists", () => {
    expect(fieldErrors({ fields: { email: ["Not a valid email address."], first_name: ["required"] } }))
      .toEqual({ email: "Not a valid email address.", first_name: "required" });
  });
  it("flattens nested fields to dotted names", () => {
    expect(fieldErrors({ fields: { address: { zip: ["bad zip"] }, social: { linkedin: ["not a URL"] } } }))
      .toEqual({ "address.zip": "bad zip", "social.linkedin": "not a URL" });
  });
  it("joins several reasons and keeps list indexes for nested lists", () => {
    expect(fieldErrors({ fields: { tags: ["too many", "too long"] } })).toEqual({ tags: "too many too long" });
    expect(fieldErrors({ fields: { decisions: [{ action: ["bad"] }] } })).toEqual({ "decisions.0.action": "bad" });
  });
  it("accepts a single named field", () => {
    expect(fieldErrors({ field: "email", reason: "taken" })).toEqual({ email: "taken" });
  });
  it("is empty without details", () => {
    expect(fieldErrors(undefined)).toEqual({});
    expect(fieldErrors({ pending: 3 })).toEqual({});
  });
});

describe("toApiError", () => {
  it("keeps status, code, message and details of the envelope", () => {
    const e = toApiError(422, { error: { code: "validation_error", message: "Validation failed", details: { fields: { email: ["bad"] } } } });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe("validation_error");
    expect(e.fields).toEqual({ email: "bad" });
  });
  it("gives a readable message when the body is not the envelope", () => {
    expect(toApiError(503, "<html>").message).toMatch(/unavailable/);
    expect(toApiError(403, null).message).toMatch(/permission/);
  });
  it("describes errors with their field reasons for toasts", () => {
    expect(describeError(toApiError(409, { error: { code: "conflict", message: "duplicate email", details: {} } }))).toBe("duplicate email");
    expect(describeError(toApiError(422, { error: { message: "Validation failed", details: { fields: { stage: ["unknown"] } } } })))
      .toBe("Validation failed (stage: unknown)");
    expect(describeError(new Error("x"))).toBe("x");
  });
});
