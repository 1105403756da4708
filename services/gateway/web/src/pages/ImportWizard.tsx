/** The 5-step CSV import wizard over the Imports API (seed 001 §5, §7, §9). */
import { useEffect, useRef, useState, type DragEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, download, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { ErrorBox, useToast } from "../components/ui";
import { SUMMARY_COLORS } from "../lib/badges";
import { describeError } from "../lib/errors";
import { canImport } from "../lib/permissions";
import { IMPORT_FIELDS, MATCH_FILTERS, STEP_LABELS, fileProblem, wizardStepFor, type ImportJob } from "../lib/imports";

type Rec = Record<string, unknown>;
interface Dup { id: string; row: number; incoming: Rec; existing: Rec | null; match_type: string; confidence: number; decision: string | null; source?: string }

const METHODS = [
  { key: "csv", name: "CSV File", text: "Upload a .csv file from any spreadsheet or CRM export", popular: true },
  { key: "gmail", name: "Gmail Contacts", text: "Connect your Google account" },
  { key: "outlook", name: "Outlook Contacts", text: "Connect Microsoft 365" },
  { key: "salesforce", name: "Salesforce", text: "Sync contacts and leads" },
  { key: "hubspot", name: "HubSpot", text: "Sync your HubSpot CRM" },
  { key: "linkedin", name: "LinkedIn", text: "Import your connections" },
  { key: "zapier", name: "Zapier", text: "Automate imports from 5,000+ apps" },
  { key: "api", name: "API Import", text: "Push contacts from your own systems" },
];

function Progress({ step }: { step: number }) {
  return (
    <ol className="wizard-steps" aria-label="Import progress">
      {STEP_LABELS.map((label, i) => {
        const n = i + 1;
        const state = n < step ? "done" : n === step ? "current" : "todo";
        return (
          <li key={label} className={state} aria-current={state === "current" ? "step" : undefined}>
            <span className="step-dot" aria-hidden="true">{state === "done" ? "✓" : n}</span>
            <span className="step-label">{label}<span className="sr-only">{state === "done" ? " (completed)" : state === "current" ? " (current step)" : ""}</span></span>
          </li>
        );
      })}
    </ol>
  );
}

const show = (v: unknown) => (v == null || v === "" ? "—" : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? Object.values(v as Rec).filter(Boolean).join(", ") : String(v));
const PAIR_FIELDS = ["name", "first_name", "last_name", "email", "phone", "company", "position", "address", "tags"];

function recordName(r: Rec | null): string {
  if (!r) return "";
  return String(r.name ?? `${r.first_name ?? ""} ${r.last_name ?? ""}`.trim());
}

export function ImportWizard() {
  const { user } = useAuth();
  const navigate = useNavigate();
  const toast = useToast();
  const [step, setStep] = useState(1);
  const [file, setFile] = useState<File | null>(null);
  const [fileError, setFileError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [job, setJob] = useState<ImportJob | null>(null);
  const [mapping, setMapping] = useState<Record<string, string | null>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dups, setDups] = useState<Dup[]>([]);
  const [dupTotal, setDupTotal] = useState(0);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [filter, setFilter] = useState("");
  const fileInput = useRef<HTMLInputElement>(null);
  const polling = useRef<number | null>(null);

  const stopPolling = () => { if (polling.current) { window.clearInterval(polling.current); polling.current = null; } };
  useEffect(() => stopPolling, []);

  const poll = (id: string) => {
    stopPolling();
    const tick = async () => {
      try {
        const j = await api.get<ImportJob>(`/imports/${id}`);
        setJob(j);
        const s = wizardStepFor(j);
        if (["review", "completed", "failed", "cancelled"].includes(j.status)) stopPolling();
        if (j.status === "failed") setError(j.message || "The import failed.");
        setStep((cur) => (cur === 2 && j.status === "uploaded" ? 2 : Math.max(cur, s)));
      } catch (e) {
        stopPolling();
        setError(describeError(e));
      }
    };
    tick();
    polling.current = window.setInterval(tick, 600);
  };

  const loadDups = async (id: string, type: string) => {
    try {
      const d = await api.get<{ items: Dup[]; total: number; counts?: Record<string, number> }>(`/imports/${id}/duplicates?per_page=200${type ? `&match_type=${type}` : ""}`);
      setDups(itemsOf<Dup>(d));
      setDupTotal(d.total ?? itemsOf(d).length);
      if (d.counts) setCounts(d.counts);
    } catch (e) {
      setError(describeError(e));
    }
  };
  useEffect(() => { if (step === 4 && job) loadDups(job.id, filter); }, [step, filter, job?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  const choose = (f: File | null | undefined) => {
    if (!f) return;
    const problem = fileProblem(f.name, f.size);
    setFileError(problem);
    setFile(problem ? null : f);
  };
  const onDrop = (e: DragEvent) => { e.preventDefault(); setDragging(false); choose(e.dataTransfer.files?.[0]); };

  const upload = async () => {
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const j = await api.upload<ImportJob>("/imports", form);
      const full = await api.get<ImportJob>(`/imports/${j.id}`).catch(() => j);
      setJob(full);
      setMapping(full.mapping ?? {});
      if (j.duplicate_upload) toast(j.message ?? "This file was already uploaded; showing that import");
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const startProcessing = async () => {
    if (!job) return;
    setBusy(true);
    setError(null);
    try {
      const changed = JSON.stringify(mapping) !== JSON.stringify(job.mapping ?? {});
      if (changed || job.status === "uploaded") {
        const j = await api.put<ImportJob>(`/imports/${job.id}/mapping`, { mapping });
        setJob(j);
        if (j.status === "uploaded") { setError(j.message ?? "Map the required columns first."); return; }
      }
      setStep(3);
      poll(job.id);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const decide = async (d: Dup, action: "merge" | "skip") => {
    if (!job) return;
    try {
      await api.post(`/imports/${job.id}/duplicates/resolve`, { decisions: [{ id: d.id, action }] });
      setDups((list) => list.map((x) => (x.id === d.id ? { ...x, decision: action } : x)));
    } catch (e) {
      setError(describeError(e));
    }
  };
  const decideAll = async (action: "merge" | "skip") => {
    if (!job) return;
    try {
      await api.post(`/imports/${job.id}/duplicates/resolve`, { match_type: filter || "all", action });
      loadDups(job.id, filter);
      toast(`${action === "merge" ? "Merge" : "Skip"} chosen for ${filter ? filter.replace("_", "+") : "all"} duplicates`);
    } catch (e) {
      setError(describeError(e));
    }
  };
  const commit = async () => {
    if (!job) return;
    setBusy(true);
    setError(null);
    try {
      const pending = dups.filter((d) => !d.decision).length;
      await api.post(`/imports/${job.id}/commit`, pending || filter ? { unresolved: "skip" } : {});
      poll(job.id);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const cancel = async () => {
    stopPolling();
    if (job && ["uploaded", "processing", "review"].includes(job.status)) {
      try { await api.post(`/imports/${job.id}/cancel`); toast("Import cancelled"); } catch (e) { toast(describeError(e), "error"); }
    }
    reset();
  };
  const reset = () => { stopPolling(); setStep(1); setFile(null); setJob(null); setMapping({}); setError(null); setDups([]); setFilter(""); setCounts({}); };
  const back = () => {
    if (step === 2) { setStep(1); return; }
    if (step === 3 || step === 4) { stopPolling(); setStep(2); }
  };

  if (!canImport(user)) {
    return <div className="page"><Link to="/contacts" className="back">← Back to Contacts</Link><ErrorBox error="Your role cannot import contacts." /></div>;
  }
  const summary = job?.summary ?? null;
  const committing = job?.status === "committing";
  return (
    <div className="page wizard">
      <Link to="/contacts" className="back">← Back to Contacts</Link>
      <h1>Import Contacts</h1>
      <Progress step={step} />
      <ErrorBox error={error} />

      {step === 1 ? (
        <section aria-labelledby="s1" className="card">
          <h2 id="s1">Choose an import method</h2>
          <div className="method-grid">
            {METHODS.map((m) => (
              <button type="button" key={m.key} className={`method ${m.popular ? "popular" : "soon"}`} disabled={!m.popular}
                title={m.popular ? undefined : "Coming soon in Phase 2"} onClick={() => { if (m.popular) setStep(2); }}>
                <span className="method-name">{m.name}</span>
                {m.popular ? <span className="pill popular-pill">Popular</span> : <span className="pill soon-pill">Coming soon</span>}
                <span className="muted small">{m.text}</span>
              </button>
            ))}
          </div>
        </section>
      ) : null}

      {step === 2 ? (
        <section aria-labelledby="s2" className="card">
          <h2 id="s2">Upload your CSV file</h2>
          {!job ? (
            <div className="upload-grid">
              <div className="requirements" aria-label="CSV requirements">
                <h3>CSV Requirements</h3>
                <ul>
                  <li>Name <span className="required-label">Required</span> <span className="muted small">(or First Name + Last Name)</span></li>
                  <li>Email <span className="required-label">Required</span></li>
                  <li>Phone, Company, Position, Address, Tags <span className="muted small">optional</span></li>
                </ul>
                <p className="small muted">First row must hold the column headers. At most 10 MB or 50,000 rows. Tags are comma-separated.</p>
                <button type="button" className="btn-link" onClick={() => download("/imports/template.csv", "contacts-template.csv").catch((e) => setError(describeError(e)))}>↓ Download sample CSV template</button>
              </div>
              <div>
                <div className={`dropzone ${dragging ? "drag" : ""}`} onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={onDrop}
                  onClick={() => fileInput.current?.click()} role="button" tabIndex={0} aria-label="Drop your CSV file here or click to browse files"
                  onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.current?.click(); } }}>
                  <div className="drop-icon" aria-hidden="true">⇪</div>
                  <div>Drop your CSV file here or click to browse files</div>
                </div>
                <input ref={fileInput} type="file" accept=".csv,text/csv" className="sr-only" aria-label="CSV file" data-testid="file-input" onChange={(e) => choose(e.target.files?.[0])} />
                <button type="button" className="btn" onClick={() => fileInput.current?.click()}>Choose File</button>
                {fileError ? <div className="field-error" role="alert">{fileError}</div> : null}
                {file ? <div className="file-ok" role="status"><strong>File Selected:</strong> {file.name} is ready for import</div> : null}
              </div>
            </div>
          ) : (
            <div>
              <div className="file-ok" role="status"><strong>File Selected:</strong> {job.file_name} is ready for import · {job.total_rows ?? "?"} rows</div>
              <h3>Column mapping</h3>
              <p className="muted small">We matched your columns to contact fields. Adjust any that are wrong; choose “Ignore” to leave a column out.</p>
              {job.missing_required?.length ? <div className="warn-box">Map the required fields: {job.missing_required.join(", ")}</div> : null}
              <table className="simple-table mapping">
                <thead><tr><th scope="col">Column in your file</th><th scope="col">Contact field</th></tr></thead>
                <tbody>
                  {(job.headers ?? Object.keys(mapping)).map((h) => (
                    <tr key={h}>
                      <td>{h}</td>
                      <td>
                        <select aria-label={`Field for column ${h}`} value={mapping[h] ?? ""} onChange={(e) => setMapping({ ...mapping, [h]: e.target.value || null })}>
                          <option value="">Ignore</option>
                          {IMPORT_FIELDS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}
                        </select>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <div className="wizard-nav">
            <button type="button" className="btn" onClick={back}>Back</button>
            <button type="button" className="btn" onClick={cancel}>Cancel</button>
            {!job
              ? <button type="button" className="btn primary" disabled={!file || busy} onClick={upload}>{busy ? "Uploading…" : "Upload & Continue"}</button>
              : <button type="button" className="btn primary" disabled={busy} onClick={startProcessing}>Start Import</button>}
          </div>
        </section>
      ) : null}

      {step === 3 ? (
        <section aria-labelledby="s3" className="card center">
          <h2 id="s3">Processing Import</h2>
          <p aria-live="polite" data-testid="stage-message">{job?.stage && /scan|duplicate/i.test(job.stage) ? "Scanning for duplicate contacts..." : job?.message || "Processing your import..."}</p>
          <div className="progressbar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={job?.progress ?? 0} aria-label="Import progress">
            <div style={{ width: `${job?.progress ?? 0}%` }} />
          </div>
          <div className="muted">{job?.progress ?? 0}% · {job?.stage ?? "Starting"}</div>
          <div className="wizard-nav">
            <button type="button" className="btn" onClick={back}>Back</button>
            <button type="button" className="btn" onClick={cancel}>Cancel</button>
          </div>
        </section>
      ) : null}

      {step === 4 && job ? (
        <section aria-labelledby="s4" className="card">
          <h2 id="s4">Review Duplicate Contacts</h2>
          {committing ? (
            <div className="center">
              <p aria-live="polite">{job.message || "Importing contacts..."}</p>
              <div className="progressbar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={job.progress ?? 0} aria-label="Import progress"><div style={{ width: `${job.progress ?? 0}%` }} /></div>
            </div>
          ) : (
            <>
              <div className="dup-stats">
                <div><strong data-testid="dup-total">{Object.values(counts).reduce((a, b) => a + b, 0) || dupTotal}</strong> duplicates found</div>
                {Object.entries(counts).map(([k, v]) => <div key={k} className="muted">{k.replace("_", "+")}: {v}</div>)}
              </div>
              <div className="dup-tools">
                <label>Filter by{" "}
                  <select value={filter} onChange={(e) => setFilter(e.target.value)} aria-label="Filter by match type">
                    {MATCH_FILTERS.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
                  </select>
                </label>
                <button type="button" className="btn small" onClick={() => decideAll("merge")} disabled={!dups.length}>Merge all shown</button>
                <button type="button" className="btn small" onClick={() => decideAll("skip")} disabled={!dups.length}>Skip all shown</button>
              </div>
              {!dups.length ? <p className="muted">No duplicates {filter ? "of this kind" : "found"}. Continue to import.</p> : null}
              <ul className="dup-list">
                {dups.map((d) => (
                  <li key={d.id} className="dup card" data-testid="dup-pair">
                    <div className="dup-head">
                      <span className="confidence" data-testid="confidence">{d.confidence}%</span>
                      <span className="chip small">{d.match_type.replace("_", " + ")}</span>
                      <span className="muted small">Row {d.row}{d.source === "file" ? " · duplicate of another row in this file" : ""}</span>
                      <span className="dup-actions">
                        <button type="button" className={`btn small ${d.decision === "merge" ? "primary" : ""}`} aria-pressed={d.decision === "merge"} onClick={() => decide(d, "merge")}>Merge</button>
                        <button type="button" className={`btn small ${d.decision === "skip" ? "primary" : ""}`} aria-pressed={d.decision === "skip"} onClick={() => decide(d, "skip")}>Skip</button>
                      </span>
                    </div>
                    <div className="pair">
                      <div><h4>Incoming (row {d.row})</h4><dl>{PAIR_FIELDS.filter((f) => d.incoming?.[f] != null && d.incoming[f] !== "").map((f) => <div key={f}><dt>{f.replace("_", " ")}</dt><dd>{show(d.incoming[f])}</dd></div>)}</dl></div>
                      <div><h4>Existing{d.existing ? `: ${recordName(d.existing)}` : ""}</h4><dl>{PAIR_FIELDS.filter((f) => d.existing?.[f] != null && d.existing[f] !== "").map((f) => <div key={f}><dt>{f.replace("_", " ")}</dt><dd>{show(d.existing?.[f])}</dd></div>)}</dl></div>
                    </div>
                  </li>
                ))}
              </ul>
            </>
          )}
          <div className="wizard-nav">
            <button type="button" className="btn" onClick={back} disabled={committing}>Back</button>
            <button type="button" className="btn" onClick={cancel} disabled={committing}>Cancel</button>
            <button type="button" className="btn primary" onClick={commit} disabled={busy || committing}>
              {dups.some((d) => !d.decision) ? "Import (undecided duplicates are skipped)" : "Import Contacts"}
            </button>
          </div>
        </section>
      ) : null}

      {step === 5 && job ? (
        <section aria-labelledby="s5" className="card center">
          <div className="big-check" aria-hidden="true">✓</div>
          <h2 id="s5">Import Complete!</h2>
          {summary ? (
            <div className="summary-grid" aria-label="Import summary">
              {([["total", "Total Contacts"], ["imported", "Successfully Imported"], ["duplicates", "Duplicates Found"], ["merged", "Merged"], ["skipped", "Skipped"], ["failed", "Failed to Import"]] as const).map(([k, l]) => (
                <div key={k} className="sum-card" style={{ borderTopColor: SUMMARY_COLORS[k] }}>
                  <div className="sum-value" style={{ color: SUMMARY_COLORS[k] }} data-testid={`sum-${k}`}>{summary[k] ?? 0}</div>
                  <div className="sum-label">{l}</div>
                </div>
              ))}
            </div>
          ) : null}
          {summary && (summary.failed ?? 0) > 0 ? (
            <div className="error-box" role="alert">
              Some contacts couldn't be imported.{" "}
              <button type="button" className="btn small danger" onClick={() => download(`/imports/${job.id}/errors.csv`, "import-errors.csv").catch((e) => setError(describeError(e)))}>Download Error Report</button>
            </div>
          ) : null}
          <div className="wizard-nav center">
            <button type="button" className="btn primary" onClick={() => navigate(`/contacts?import_id=${job.id}`)}>View Contacts</button>
            <button type="button" className="btn" onClick={reset}>Import More Contacts</button>
          </div>
        </section>
      ) : null}
    </div>
  );
}
