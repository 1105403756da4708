/** Admin: the scoring model (points tables) and automation rules with a builder and a preview on past data. */
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { ErrorBox, Field, Modal, SelectField, Spinner, TextField, useToast } from "../components/ui";
import { useLoad, useUsers } from "../hooks";
import { STAGES } from "../lib/badges";
import { newGroup, serialize, validate, type Group } from "../lib/criteria";
import { ApiError, describeError } from "../lib/errors";
import { canAdminScoring } from "../lib/permissions";
import { buildRule, type RuleDraft } from "../lib/rules";
import { dateTime } from "../lib/time";
import { GroupEditor } from "./Segments";

type Rec = Record<string, unknown>;
interface Tier { key: string; label: string; points: number }
interface Model {
  active_model?: string; recency_days?: number; engagement_ceiling?: number; hot_threshold?: number; rescore_interval_hours?: number;
  roles?: { tiers: Tier[]; otherwise: number }; industries?: { tiers: Tier[]; otherwise: number };
  engagement?: Record<string, { label: string; points: number; max_count?: number }>;
  [k: string]: unknown;
}
/** The parts of the model view that PUT accepts (the rest, like version dates, is read-only). */
const MODEL_KEYS = ["active_model", "recency_days", "engagement_ceiling", "hot_threshold", "rescore_interval_hours", "pricing_url_patterns",
  "roles", "industries", "engagement", "active_interest_types", "derived", "weighted"];
interface Rule { id: string; name: string; description?: string; trigger_text?: string; actions_text?: string[]; priority?: number; enabled?: boolean; blocking?: boolean }

function ModelEditor() {
  const toast = useToast();
  const [raw, setRaw] = useState<Rec | null>(null);
  const [model, setModel] = useState<Model | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [json, setJson] = useState<string | null>(null);
  const load = () => api.get<Rec>("/scoring/model").then((d) => { setRaw(d); setModel(((d.model ?? d) as Model)); }).catch((e) => setError(describeError(e)));
  useEffect(() => { load(); }, []);
  if (!model) return error ? <ErrorBox error={error} /> : <Spinner />;
  const setNum = (k: keyof Model) => (v: string) => setModel({ ...model, [k]: Number(v) });
  const tierEdit = (group: "roles" | "industries", i: number, points: number) => {
    const g = model[group]!;
    setModel({ ...model, [group]: { ...g, tiers: g.tiers.map((t, j) => (j === i ? { ...t, points } : t)) } });
  };
  const save = async () => {
    setError(null);
    try {
      const edited = (json != null ? JSON.parse(json) : model) as Rec;
      const body = Object.fromEntries(Object.entries(edited).filter(([k]) => MODEL_KEYS.includes(k)));
      await api.put("/scoring/model", raw && "model" in raw ? { model: body } : body);
      toast("Scoring model saved; scores are recalculated");
      setJson(null);
      load();
    } catch (e) {
      setError(e instanceof SyntaxError ? `The JSON is not valid: ${e.message}` : describeError(e));
    }
  };
  return (
    <section className="card" aria-labelledby="model-title">
      <h2 id="model-title">Scoring model</h2>
      <ErrorBox error={error} />
      <div className="grid4">
        <SelectField label="Active model" name="active_model" value={String(model.active_model ?? "fit_engagement")} onChange={(v) => setModel({ ...model, active_model: v })}
          options={[{ value: "fit_engagement", label: "Fit + engagement (seed 000)" }, { value: "weighted", label: "Weighted normalised (seed 003)" }]} />
        <TextField label="Hot lead threshold" name="hot_threshold" type="number" value={String(model.hot_threshold ?? 90)} onChange={setNum("hot_threshold")} />
        <TextField label="Engagement window (days)" name="recency_days" type="number" value={String(model.recency_days ?? 90)} onChange={setNum("recency_days")} />
        <TextField label="Engagement ceiling" name="engagement_ceiling" type="number" value={String(model.engagement_ceiling ?? 100)} onChange={setNum("engagement_ceiling")} />
      </div>
      <div className="grid2">
        {(["roles", "industries"] as const).map((g) => model[g] ? (
          <table key={g} className="simple-table">
            <caption>Fit: {g === "roles" ? "roles" : "industries"}</caption>
            <thead><tr><th scope="col">Tier</th><th scope="col">Points</th></tr></thead>
            <tbody>
              {model[g]!.tiers.map((t, i) => (
                <tr key={t.key}><td>{t.label}</td><td><input type="number" aria-label={`Points for ${t.label}`} value={t.points} onChange={(e) => tierEdit(g, i, Number(e.target.value))} /></td></tr>
              ))}
              <tr><td>Otherwise</td><td><input type="number" aria-label={`Points for other ${g}`} value={model[g]!.otherwise} onChange={(e) => setModel({ ...model, [g]: { ...model[g]!, otherwise: Number(e.target.value) } })} /></td></tr>
            </tbody>
          </table>
        ) : null)}
      </div>
      {model.engagement ? (
        <table className="simple-table">
          <caption>Engagement points</caption>
          <thead><tr><th scope="col">Behaviour</th><th scope="col">Points</th><th scope="col">Counted up to</th></tr></thead>
          <tbody>
            {Object.entries(model.engagement).map(([k, e]) => (
              <tr key={k}>
                <td>{e.label}</td>
                <td><input type="number" aria-label={`Points for ${e.label}`} value={e.points} onChange={(ev) => setModel({ ...model, engagement: { ...model.engagement, [k]: { ...e, points: Number(ev.target.value) } } })} /></td>
                <td><input type="number" aria-label={`Maximum count for ${e.label}`} value={e.max_count ?? 0} onChange={(ev) => setModel({ ...model, engagement: { ...model.engagement, [k]: { ...e, max_count: Number(ev.target.value) } } })} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <details onToggle={(e) => setJson((e.target as HTMLDetailsElement).open ? JSON.stringify(model, null, 2) : null)}>
        <summary>Advanced: edit the whole model as JSON</summary>
        {json != null ? <textarea aria-label="Model JSON" className="mono" rows={16} value={json} onChange={(e) => setJson(e.target.value)} /> : null}
      </details>
      <button type="button" className="btn primary" onClick={save}>Save model</button>
    </section>
  );
}

const emptyDraft = (): RuleDraft => ({
  name: "", description: "", triggerType: "score_change", toStage: "", eventTypes: "demo_requested", minDelta: "", event: "last_activity", hours: "720", everyMinutes: "1440",
  actionType: "set_stage", stage: "Hot Lead", tags: "", ownerId: "", title: "", message: "", templateId: "", campaignId: "", priority: "5", blocking: false, mode: "periodic",
});

function RuleBuilder({ onClose, onSaved }: { onClose: () => void; onSaved: () => void }) {
  const toast = useToast();
  const users = useUsers();
  const [d, setD] = useState<RuleDraft>(emptyDraft());
  const [root, setRoot] = useState<Group>(newGroup("all", []));
  const [preview, setPreview] = useState<Rec | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof RuleDraft) => (v: string) => setD({ ...d, [k]: v });
  const body = () => buildRule(d, root.children.length ? serialize(root) : null);
  const fail = (e: unknown) => { if (e instanceof ApiError) setFields(e.fields); setError(describeError(e)); };
  const runPreview = async () => {
    setError(null); setFields({});
    try { setPreview(await api.post<Rec>("/rules/preview", { ...body(), days: 30 })); } catch (e) { fail(e); }
  };
  const save = async () => {
    setError(null); setFields({});
    try { await api.post("/rules", body()); toast("Rule created"); onSaved(); onClose(); } catch (e) { fail(e); }
  };
  const problems = validate(root);
  return (
    <Modal title="New automation rule" onClose={onClose} wide footer={<>
      <button type="button" className="btn" onClick={runPreview} disabled={!!problems.length}>Preview on last 30 days</button>
      <button type="button" className="btn primary" onClick={save} disabled={!!problems.length || !d.name.trim()}>Save Rule</button>
    </>}>
      <ErrorBox error={error} />
      <TextField label="Name" name="name" value={d.name} onChange={set("name")} error={fields.name} required />
      <h3>When (trigger)</h3>
      <div className="grid2">
        <SelectField label="Trigger" name="trigger" value={d.triggerType} onChange={set("triggerType")} error={fields["trigger.type"] ?? fields.trigger}
          options={[{ value: "score_change", label: "Score changes" }, { value: "stage_change", label: "Stage changes" }, { value: "event", label: "Engagement event" }, { value: "time_since_event", label: "Time untouched" }, { value: "schedule", label: "On a schedule" }]} />
        {d.triggerType === "stage_change" ? <SelectField label="To stage" name="to" value={d.toStage} onChange={set("toStage")} includeEmpty="Any stage" options={[...STAGES]} /> : null}
        {d.triggerType === "score_change" ? <TextField label="Minimum change (points)" name="min_delta" type="number" value={d.minDelta} onChange={set("minDelta")} error={fields["trigger.min_delta"]} /> : null}
        {d.triggerType === "event" ? <TextField label="Event types (comma separated)" name="event_types" value={d.eventTypes} onChange={set("eventTypes")} error={fields["trigger.event_types"]} /> : null}
        {d.triggerType === "time_since_event" ? <>
          <SelectField label="Since" name="event" value={d.event} onChange={set("event")} options={[{ value: "last_activity", label: "Last activity" }, { value: "created", label: "Creation" }, { value: "stage_change", label: "Last stage change" }]} error={fields["trigger.event"]} />
          <TextField label="Hours" name="hours" type="number" value={d.hours} onChange={set("hours")} error={fields["trigger.hours"]} />
        </> : null}
        {d.triggerType === "schedule" ? <TextField label="Every (minutes)" name="every_minutes" type="number" value={d.everyMinutes} onChange={set("everyMinutes")} error={fields["trigger.every_minutes"]} /> : null}
      </div>
      <h3>If (criteria, optional)</h3>
      {root.children.length ? <GroupEditor group={root} root={root} onChange={setRoot} /> : <button type="button" className="btn small" onClick={() => setRoot(newGroup("all", [{ kind: "condition", id: "c0", field: "score", op: "gte", value: "90" }]))}>+ Add criteria</button>}
      {problems.length ? <div className="field-error">{problems[0]}</div> : null}
      <h3>Then (action)</h3>
      <div className="grid2">
        <SelectField label="Action" name="action" value={d.actionType} onChange={set("actionType")} error={fields["actions.0.type"]}
          options={[{ value: "set_stage", label: "Set stage" }, { value: "add_tag", label: "Add tags" }, { value: "remove_tag", label: "Remove tags" }, { value: "assign_owner", label: "Assign owner" }, { value: "create_follow_up", label: "Create follow-up" }, { value: "notify_owner", label: "Notify owner" }, { value: "send_template_email", label: "Send template email" }, { value: "enroll_campaign", label: "Enroll in campaign" }]} />
        {d.actionType === "set_stage" ? <SelectField label="Stage" name="stage" value={d.stage} onChange={set("stage")} options={[...STAGES]} /> : null}
        {d.actionType === "add_tag" || d.actionType === "remove_tag" ? <TextField label="Tags (comma separated)" name="tags" value={d.tags} onChange={set("tags")} error={fields["actions.0.tags"]} /> : null}
        {d.actionType === "assign_owner" ? <SelectField label="Owner" name="owner_id" value={d.ownerId} onChange={set("ownerId")} includeEmpty="Choose" options={users.map((u) => ({ value: u.id, label: u.name }))} error={fields["actions.0.owner_id"]} /> : null}
        {d.actionType === "create_follow_up" ? <TextField label="Follow-up title" name="title" value={d.title} onChange={set("title")} error={fields["actions.0.title"]} /> : null}
        {d.actionType === "notify_owner" ? <TextField label="Message" name="message" value={d.message} onChange={set("message")} error={fields["actions.0.message"]} /> : null}
        {d.actionType === "send_template_email" ? <TextField label="Template id" name="template_id" value={d.templateId} onChange={set("templateId")} error={fields["actions.0.template_id"]} /> : null}
        {d.actionType === "enroll_campaign" ? <TextField label="Campaign id" name="campaign_id" value={d.campaignId} onChange={set("campaignId")} error={fields["actions.0.campaign_id"]} /> : null}
      </div>
      <div className="grid2">
        <TextField label="Priority (1 runs first … 10)" name="priority" type="number" value={d.priority} onChange={set("priority")} error={fields.priority} />
        <SelectField label="Execution mode" name="mode" value={d.mode} onChange={set("mode")} options={[{ value: "periodic", label: "Every time it triggers" }, { value: "one_time", label: "Once per contact" }]} />
      </div>
      <label className="check"><input type="checkbox" checked={d.blocking} onChange={(e) => setD({ ...d, blocking: e.target.checked })} /> Blocking: stop lower-priority rules when this one acts</label>
      {preview ? (
        <div className="card preview-result" aria-live="polite" data-testid="rule-preview">
          <strong>{String(preview.matched ?? 0)} contacts matched</strong> of {String(preview.contacts_checked ?? 0)} checked · {String(preview.trigger_text ?? "")}
          <ul>{itemsOf<Rec>(preview.actions).map((a, i) => <li key={i}>{String(a.summary ?? a.description)}</li>)}</ul>
          {itemsOf<Rec>(preview.contacts).slice(0, 10).map((c) => <Link key={String(c.contact_id)} className="chip small" to={`/contacts/${String(c.contact_id)}`}>{String(c.name || c.email)}</Link>)}
        </div>
      ) : null}
      <Field label="Description" htmlFor="rule-desc"><textarea id="rule-desc" rows={2} value={d.description} onChange={(e) => set("description")(e.target.value)} /></Field>
    </Modal>
  );
}

function RulesSection() {
  const toast = useToast();
  const list = useLoad(() => api.get("/rules?per_page=200").then((d) => itemsOf<Rule>(d)), []);
  const [creating, setCreating] = useState(false);
  const [runs, setRuns] = useState<{ rule: Rule; items: Rec[] } | null>(null);
  const toggle = async (r: Rule) => {
    try { await api.patch(`/rules/${r.id}`, { enabled: !r.enabled }); toast(`${r.name} ${r.enabled ? "switched off" : "switched on"}`); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const remove = async (r: Rule) => {
    if (!window.confirm(`Delete rule ${r.name}?`)) return;
    try { await api.del(`/rules/${r.id}`); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const showRuns = async (r: Rule) => {
    try { setRuns({ rule: r, items: itemsOf<Rec>(await api.get(`/rules/${r.id}/runs`)) }); } catch (e) { toast(describeError(e), "error"); }
  };
  return (
    <section className="card" aria-labelledby="rules-title">
      <div className="page-head"><h2 id="rules-title">Automation rules</h2><button type="button" className="btn primary" onClick={() => setCreating(true)}>+ New Rule</button></div>
      <ErrorBox error={list.error} />
      <div className="table-wrap">
        <table className="simple-table">
          <thead><tr><th scope="col">Rule</th><th scope="col">When</th><th scope="col">Then</th><th scope="col">Priority</th><th scope="col">On</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(list.data ?? []).map((r) => (
              <tr key={r.id}>
                <td><strong>{r.name}</strong>{r.blocking ? <span className="chip small">blocking</span> : null}</td>
                <td className="small">{r.trigger_text}</td>
                <td className="small">{(r.actions_text ?? []).join("; ")}</td>
                <td>{r.priority}</td>
                <td><button type="button" role="switch" aria-checked={!!r.enabled} aria-label={`Enable ${r.name}`} className={`switch ${r.enabled ? "on" : ""}`} onClick={() => toggle(r)}><span /></button></td>
                <td className="nowrap"><button type="button" className="btn-link" onClick={() => showRuns(r)}>Runs</button> <button type="button" className="btn-link danger" onClick={() => remove(r)}>Delete</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {creating ? <RuleBuilder onClose={() => setCreating(false)} onSaved={list.reload} /> : null}
      {runs ? (
        <Modal title={`Runs of ${runs.rule.name}`} onClose={() => setRuns(null)}>
          {!runs.items.length ? <p className="muted">This rule has not acted yet.</p> : (
            <ul>{runs.items.map((r, i) => <li key={i}>{dateTime(String(r.at ?? ""))}: <Link to={`/contacts/${String(r.contact_id)}`}>contact</Link> · {String(r.outcome)} · {String(r.trigger ?? "")}</li>)}</ul>
          )}
        </Modal>
      ) : null}
    </section>
  );
}

export function ScoringPage() {
  const { user } = useAuth();
  if (!canAdminScoring(user)) return <div className="page"><ErrorBox error="Only admins manage the scoring model and rules." /></div>;
  return (
    <div className="page">
      <h1>Scoring and automation</h1>
      <ModelEditor />
      <RulesSection />
    </div>
  );
}
