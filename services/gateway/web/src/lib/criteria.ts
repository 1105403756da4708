/**
 * The segment criteria builder's model and its API form (API.md "Criteria"):
 * `{"all": [...]}` / `{"any": [...]}` groups, nestable, of `{"field", "op", "value"}`.
 */

export type Op =
  | "eq" | "ne" | "contains" | "not_contains" | "gt" | "gte" | "lt" | "lte"
  | "between" | "in" | "not_in" | "exists" | "within_days";

export interface Condition {
  kind: "condition";
  id: string;
  field: string;
  op: Op;
  value: string; // as typed; converted on serialisation
}

export interface Group {
  kind: "group";
  id: string;
  join: "all" | "any";
  children: Array<Condition | Group>;
}

export type ApiCondition = { field: string; op: string; value?: unknown };
export type ApiCriteria = { all: ApiNode[] } | { any: ApiNode[] };
export type ApiNode = ApiCondition | ApiCriteria;

export interface FieldDef {
  name: string;
  label: string;
  kind: "number" | "text" | "date" | "list" | "bool";
}

export const CRITERIA_FIELDS: FieldDef[] = [
  { name: "score", label: "AI Score", kind: "number" },
  { name: "engagement_level", label: "Engagement %", kind: "number" },
  { name: "company_size", label: "Company Size", kind: "number" },
  { name: "annual_revenue", label: "Annual Revenue", kind: "number" },
  { name: "stage", label: "Stage", kind: "text" },
  { name: "type", label: "Type", kind: "text" },
  { name: "channel", label: "Channel", kind: "text" },
  { name: "position", label: "Position", kind: "text" },
  { name: "company", label: "Company", kind: "text" },
  { name: "industry", label: "Industry", kind: "text" },
  { name: "department", label: "Department", kind: "text" },
  { name: "role_class", label: "Role class", kind: "text" },
  { name: "country", label: "Country", kind: "text" },
  { name: "city", label: "City", kind: "text" },
  { name: "fit", label: "Fit score", kind: "number" },
  { name: "unsubscribed", label: "Unsubscribed", kind: "bool" },
  { name: "tags", label: "Tags", kind: "list" },
  { name: "email", label: "Email", kind: "text" },
  { name: "demo_requested", label: "Demo Requested", kind: "bool" },
  { name: "created_at", label: "Created", kind: "date" },
  { name: "last_contact_at", label: "Last Contact", kind: "date" },
];

export const OP_LABELS: Record<Op, string> = {
  eq: "=", ne: "≠", contains: "contains", not_contains: "does not contain", gt: ">", gte: "≥",
  lt: "<", lte: "≤", between: "between", in: "is one of", not_in: "is not one of", exists: "exists",
  within_days: "within last N days",
};

export function opsFor(kind: FieldDef["kind"]): Op[] {
  switch (kind) {
    case "number": return ["gt", "gte", "lt", "lte", "eq", "ne", "between", "in", "not_in", "exists"];
    case "date": return ["within_days", "gt", "gte", "lt", "lte", "between", "exists"];
    case "list": return ["contains", "not_contains", "in", "not_in", "exists"];
    case "bool": return ["eq", "ne", "exists"];
    default: return ["eq", "ne", "contains", "not_contains", "in", "not_in", "exists"];
  }
}

let seq = 0;
export function newId(): string {
  seq += 1;
  return `n${seq}-${Math.random().toString(36).slice(2, 7)}`;
}

export function newCondition(field = "score", op: Op = "gt", value = ""): Condition {
  return { kind: "condition", id: newId(), field, op, value };
}

export function newGroup(join: "all" | "any" = "all", children: Array<Condition | Group> = []): Group {
  return { kind: "group", id: newId(), join, children };
}

export function fieldDef(name: string): FieldDef {
  return CRITERIA_FIELDS.find((f) => f.name === name) ?? { name, label: name, kind: "text" };
}

function splitList(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

/** A typed value for the API from what the user typed. */
export function convertValue(cond: Condition): unknown {
  const kind = fieldDef(cond.field).kind;
  const num = (s: string) => (s.trim() !== "" && !Number.isNaN(Number(s)) ? Number(s) : s.trim());
  if (cond.op === "exists") return cond.value === "false" ? false : true;
  if (cond.op === "between") {
    const parts = splitList(cond.value);
    return kind === "number" ? parts.map(num) : parts;
  }
  if (cond.op === "in" || cond.op === "not_in") return splitList(cond.value);
  if (cond.op === "within_days") return Number(cond.value);
  if (kind === "number") return num(cond.value);
  if (kind === "bool") return cond.value !== "false";
  return cond.value.trim();
}

/** The builder's tree as API criteria; empty groups are dropped. */
export function serialize(group: Group): ApiCriteria {
  const items: ApiNode[] = [];
  for (const child of group.children) {
    if (child.kind === "condition") {
      items.push({ field: child.field, op: child.op, value: convertValue(child) });
    } else if (child.children.length) {
      items.push(serialize(child));
    }
  }
  return group.join === "all" ? { all: items } : { any: items };
}

function valueText(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(", ");
  if (v === undefined || v === null) return "";
  return String(v);
}

/** Loads API criteria back into the builder (editing a saved segment). */
export function deserialize(node: unknown): Group {
  const n = (node ?? {}) as Record<string, unknown>;
  const join: "all" | "any" = Array.isArray(n.any) ? "any" : "all";
  const list = (Array.isArray(n[join]) ? n[join] : []) as unknown[];
  const children = list.map((c) => {
    const item = (c ?? {}) as Record<string, unknown>;
    if (Array.isArray(item.all) || Array.isArray(item.any)) return deserialize(item);
    return newCondition(String(item.field ?? "score"), (item.op as Op) ?? "eq", valueText(item.value));
  });
  return newGroup(join, children);
}

/** A readable sentence: "AI Score > 80 AND Company Size > 100". */
export function describe(node: unknown, top = true): string {
  const n = (node ?? {}) as Record<string, unknown>;
  const join = Array.isArray(n.any) ? "any" : Array.isArray(n.all) ? "all" : null;
  if (!join) {
    const f = fieldDef(String(n.field ?? ""));
    const op = OP_LABELS[(n.op as Op) ?? "eq"] ?? String(n.op);
    if (n.op === "exists") return `${f.label} ${n.value === false ? "is missing" : "exists"}`;
    if (n.op === "between" && Array.isArray(n.value)) return `${f.label} between ${n.value[0]} and ${n.value[1]}`;
    return `${f.label} ${op} ${valueText(n.value)}`;
  }
  const parts = (n[join] as unknown[]).map((c) => describe(c, false)).filter(Boolean);
  const text = parts.join(join === "all" ? " AND " : " OR ");
  return top || parts.length < 2 ? text : `(${text})`;
}

/** Problems that would make the API refuse the criteria, found before sending. */
export function validate(group: Group): string[] {
  const problems: string[] = [];
  const walk = (g: Group) => {
    for (const c of g.children) {
      if (c.kind === "group") walk(c);
      else if (c.op !== "exists" && c.value.trim() === "") problems.push(`${fieldDef(c.field).label}: enter a value`);
      else if (c.op === "between" && splitList(c.value).length !== 2) problems.push(`${fieldDef(c.field).label}: enter two values separated by a comma`);
      else if (fieldDef(c.field).kind === "number" && c.op !== "between" && c.op !== "exists" && Number.isNaN(Number(c.value))) problems.push(`${fieldDef(c.field).label}: enter a number`);
    }
  };
  walk(group);
  return problems;
}

/** The seed's segment templates (seed 000 "Segment Examples"). */
export const SEGMENT_TEMPLATES: Array<{ name: string; description: string; criteria: ApiCriteria }> = [
  {
    name: "High Value Prospects",
    description: "AI Score > 80 AND Company Size > 100",
    criteria: { all: [{ field: "score", op: "gt", value: 80 }, { field: "company_size", op: "gt", value: 100 }] },
  },
  {
    name: "Product Champions",
    description: "Engagement > 70% AND Demo Requested",
    criteria: { all: [{ field: "engagement_level", op: "gt", value: 70 }, { field: "demo_requested", op: "eq", value: true }] },
  },
  {
    name: "Enterprise Leads",
    description: "Company Size > 1000 AND Position = C-Level",
    criteria: { all: [{ field: "company_size", op: "gt", value: 1000 }, { field: "position", op: "eq", value: "C-Level" }] },
  },
];
