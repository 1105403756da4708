/** Segments: list with counts, criteria builder with AND/OR groups and a live preview count, templates. */
import { useEffect, useState } from "react";
import { Link, useLocation } from "react-router-dom";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { segmentCount, type Segment } from "../components/actions";
import { EmptyState, ErrorBox, Modal, Spinner, useToast, TextField } from "../components/ui";
import { useLoad } from "../hooks";
import {
  CRITERIA_FIELDS, OP_LABELS, SEGMENT_TEMPLATES, deserialize, describe, fieldDef, newCondition, newGroup, opsFor, serialize, validate,
  type ApiCriteria, type Condition, type Group, type Op,
} from "../lib/criteria";
import { ApiError, describeError } from "../lib/errors";
import { canManageSegments } from "../lib/permissions";
import { fullName } from "../lib/contact";

type Node = Condition | Group;

function updateNode(g: Group, id: string, fn: (n: Node) => Node | null): Group {
  const children: Node[] = [];
  for (const c of g.children) {
    if (c.id === id) {
      const r = fn(c);
      if (r) children.push(r);
    } else if (c.kind === "group") children.push(updateNode(c, id, fn));
    else children.push(c);
  }
  return { ...g, children };
}

export function GroupEditor({ group, root, onChange, depth = 0 }: { group: Group; root: Group; onChange: (g: Group) => void; depth?: number }) {
  const set = (id: string, fn: (n: Node) => Node | null) => onChange(id === root.id ? (fn(root) as Group) : updateNode(root, id, fn));
  return (
    <fieldset className={`crit-group depth-${depth}`}>
      <legend>
        <span className="sr-only">Group: </span>
        <span className="seg-control" role="group" aria-label="Match">
          <button type="button" aria-pressed={group.join === "all"} className={group.join === "all" ? "active" : ""} onClick={() => set(group.id, (n) => ({ ...(n as Group), join: "all" }))}>AND</button>
          <button type="button" aria-pressed={group.join === "any"} className={group.join === "any" ? "active" : ""} onClick={() => set(group.id, (n) => ({ ...(n as Group), join: "any" }))}>OR</button>
        </span>
        <span className="muted small"> {group.join === "all" ? "all conditions must match" : "any condition may match"}</span>
      </legend>
      {group.children.map((c) => c.kind === "group" ? (
        <div key={c.id} className="crit-nested">
          <GroupEditor group={c} root={root} onChange={onChange} depth={depth + 1} />
          <button type="button" className="btn-link danger" onClick={() => set(c.id, () => null)}>Remove group</button>
        </div>
      ) : (
        <div key={c.id} className="crit-row" data-testid="crit-row">
          <select aria-label="Field" value={c.field} onChange={(e) => set(c.id, (n) => ({ ...(n as Condition), field: e.target.value, op: opsFor(fieldDef(e.target.value).kind)[0] }))}>
            {CRITERIA_FIELDS.map((f) => <option key={f.name} value={f.name}>{f.label}</option>)}
          </select>
          <select aria-label="Operator" value={c.op} onChange={(e) => set(c.id, (n) => ({ ...(n as Condition), op: e.target.value as Op }))}>
            {opsFor(fieldDef(c.field).kind).map((o) => <option key={o} value={o}>{OP_LABELS[o]}</option>)}
          </select>
          {c.op !== "exists" ? (
            fieldDef(c.field).kind === "bool"
              ? <select aria-label="Value" value={c.value || "true"} onChange={(e) => set(c.id, (n) => ({ ...(n as Condition), value: e.target.value }))}><option value="true">True</option><option value="false">False</option></select>
              : <input aria-label="Value" value={c.value} placeholder={c.op === "between" ? "low, high" : c.op === "in" || c.op === "not_in" ? "a, b, c" : ""} onChange={(e) => set(c.id, (n) => ({ ...(n as Condition), value: e.target.value }))} />
          ) : null}
          <button type="button" className="icon-btn" aria-label="Remove condition" onClick={() => set(c.id, () => null)}>✕</button>
        </div>
      ))}
      <div className="crit-add">
        <button type="button" className="btn small" onClick={() => set(group.id, (n) => ({ ...(n as Group), children: [...(n as Group).children, newCondition()] }))}>+ Condition</button>
        {depth < 2 ? <button type="button" className="btn small" onClick={() => set(group.id, (n) => ({ ...(n as Group), children: [...(n as Group).children, newGroup(group.join === "all" ? "any" : "all", [newCondition()])] }))}>+ Group</button> : null}
      </div>
    </fieldset>
  );
}

interface Preview { count: number; sample?: Array<{ id: string; name?: string; first_name?: string; last_name?: string; company?: string }> }

function SegmentEditor({ initial, onClose, onSaved }: { initial: Segment | null; onClose: () => void; onSaved: () => void }) {
  const toast = useToast();
  const [name, setName] = useState(initial?.name ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [color, setColor] = useState(initial?.color ?? "#3B82F6");
  const [root, setRoot] = useState<Group>(() => (initial?.criteria ? deserialize(initial.criteria) : newGroup("all", [newCondition("score", "gt", "80")])));
  const [preview, setPreview] = useState<Preview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const problems = validate(root);
  const criteria = serialize(root);
  const key = JSON.stringify(criteria);
  useEffect(() => {
    if (problems.length) { setPreview(null); return; }
    const t = setTimeout(() => {
      api.post<Preview>("/segments/preview", { criteria }).then((p) => { setPreview(p); setPreviewError(null); }).catch((e) => setPreviewError(describeError(e)));
    }, 350);
    return () => clearTimeout(t);
  }, [key]); // eslint-disable-line react-hooks/exhaustive-deps
  const save = async () => {
    setError(null);
    setFields({});
    try {
      const body = { name, description, color, criteria };
      if (initial?.id) await api.patch(`/segments/${initial.id}`, body);
      else await api.post("/segments", body);
      toast(initial?.id ? "Segment saved" : "Segment created");
      onSaved();
      onClose();
    } catch (e) {
      if (e instanceof ApiError) setFields(e.fields);
      setError(describeError(e));
    }
  };
  return (
    <Modal title={initial?.id ? `Edit segment ${initial.name}` : "New Segment"} onClose={onClose} wide footer={<>
      <span className="preview-count" aria-live="polite" data-testid="preview-count">{problems.length ? problems[0] : preview ? `${preview.count} matching contacts` : "Counting…"}</span>
      <button type="button" className="btn" onClick={onClose}>Cancel</button>
      <button type="button" className="btn primary" onClick={save} disabled={!!problems.length || !name.trim()}>Save Segment</button>
    </>}>
      <ErrorBox error={error} />
      <div className="grid2">
        <TextField label="Name" name="name" value={name} onChange={setName} error={fields.name} required />
        <div className="field"><label htmlFor="seg-color">Colour</label><input id="seg-color" type="color" value={color} onChange={(e) => setColor(e.target.value)} /></div>
      </div>
      <TextField label="Description" name="description" value={description} onChange={setDescription} error={fields.description} />
      <h3>Criteria</h3>
      <GroupEditor group={root} root={root} onChange={setRoot} />
      {fields.criteria || Object.keys(fields).some((k) => k.startsWith("criteria.")) ? <div className="field-error" role="alert">{Object.entries(fields).filter(([k]) => k.startsWith("criteria")).map(([k, v]) => `${k}: ${v}`).join("; ")}</div> : null}
      <p className="muted small">Reads as: {describe(criteria) || "everyone"}</p>
      <ErrorBox error={previewError} />
      {preview?.sample?.length ? (
        <div><strong>Sample:</strong> {preview.sample.slice(0, 5).map((c) => <Link key={c.id} className="chip small" to={`/contacts/${c.id}`}>{c.name ?? fullName(c)}</Link>)}</div>
      ) : null}
    </Modal>
  );
}

export function SegmentsPage() {
  const { user } = useAuth();
  const toast = useToast();
  const location = useLocation();
  const list = useLoad(() => api.get("/segments?per_page=200").then((d) => itemsOf<Segment>(d)), []);
  const templates = useLoad(() => api.get("/segments/templates").then((d) => itemsOf<{ id: string; name: string; description?: string; criteria: ApiCriteria }>(d)).catch(() => SEGMENT_TEMPLATES), []);
  const [editing, setEditing] = useState<Segment | null | "new">(new URLSearchParams(location.search).get("new") ? "new" : null);
  const manage = canManageSegments(user);
  const remove = async (s: Segment) => {
    if (!window.confirm(`Delete segment ${s.name}?`)) return;
    try { await api.del(`/segments/${s.id}`); toast("Segment deleted"); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const segments = list.data ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>Segments</h1>
        {manage ? <button type="button" className="btn primary" onClick={() => setEditing("new")}>+ New Segment</button> : null}
      </div>
      <p className="muted">{segments.length}/50 segments. Memberships refresh on every contact change and daily.</p>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Spinner /> : null}
      {manage ? (
        <section aria-labelledby="tpl-title" className="card">
          <h2 id="tpl-title" className="small-title">Start from a template</h2>
          <div className="template-grid">
            {(templates.data ?? SEGMENT_TEMPLATES).map((t) => (
              <button type="button" key={t.name} className="template-card" onClick={() => setEditing({ id: "", name: t.name, description: t.description, criteria: t.criteria })}>
                <span className="tc-name">{t.name}</span><span className="muted small">{t.description}</span>
              </button>
            ))}
          </div>
        </section>
      ) : null}
      {!segments.length && !list.loading ? <EmptyState icon="◔" title="No segments yet" text="Group contacts by criteria to target campaigns." /> : null}
      <div className="table-wrap">
        {segments.length ? (
          <table className="simple-table">
            <thead><tr><th scope="col">Segment</th><th scope="col">Criteria</th><th scope="col">Contacts</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {segments.map((s) => (
                <tr key={s.id}>
                  <td><span className="dot" style={{ background: s.color ?? "#3B82F6" }} aria-hidden="true" /> <strong>{s.name}</strong>{s.description ? <div className="muted small">{s.description}</div> : null}</td>
                  <td className="small">{s.criteria_display ?? (s.criteria ? describe(s.criteria) : "—")}</td>
                  <td><Link to={`/contacts?segment_id=${s.id}`} data-testid="segment-count">{segmentCount(s)} contacts</Link></td>
                  <td><span className="ok-text">● {s.status ?? "Active"}</span></td>
                  <td className="nowrap">{manage ? <><button type="button" className="btn-link" onClick={() => setEditing(s)}>Edit</button> <button type="button" className="btn-link danger" onClick={() => remove(s)}>Delete</button></> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </div>
      {editing ? <SegmentEditor initial={editing === "new" ? null : editing} onClose={() => setEditing(null)} onSaved={list.reload} /> : null}
    </div>
  );
}
