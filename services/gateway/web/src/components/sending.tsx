/**
 * Sending limits on screen: the daily send cap card (cap, used today, remaining, reset time; admins
 * change it or restore the default) and a held campaign step's reason in plain words.
 */
import { useEffect, useId, useState } from "react";
import { api } from "../api/client";
import { useAuth } from "../auth";
import { useLoad } from "../hooks";
import { ApiError, describeError } from "../lib/errors";
import { canEditSendCap } from "../lib/permissions";
import { count, holdIsFinal, holdReasonText, parseCapInput, resetLabel, usedPercent, usedToday, type SendCap } from "../lib/sendCap";
import { ErrorBox, useToast } from "./ui";

const n = (v: number) => v.toLocaleString("en-US");

/** Loads `GET /emails/daily-cap`; `refresh` changes (e.g. after a send) reload it. */
export function useSendCap(refresh: unknown = 0) {
  return useLoad(() => api.get<SendCap>("/emails/daily-cap"), [refresh]);
}

export function SendCapPanel({ refresh = 0 }: { refresh?: unknown }) {
  const { user } = useAuth();
  const toast = useToast();
  const state = useSendCap(refresh);
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const [fieldError, setFieldError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(() => new Date());
  const inputId = useId();
  const admin = canEditSendCap(user);
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), 60_000);
    return () => clearInterval(t);
  }, []);
  const c = state.data;

  const save = async (cap: number | null) => {
    setError(null);
    setFieldError(null);
    setBusy(true);
    try {
      await api.put<SendCap>("/emails/daily-cap", { cap });
      toast(cap === null ? "Daily send cap restored to the default" : `Daily send cap set to ${count(cap)} a day`);
      setEditing(false);
      state.reload();
    } catch (e) {
      if (e instanceof ApiError && e.fields.cap) setFieldError(e.fields.cap);
      else setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const submit = () => {
    const parsed = parseCapInput(text);
    if ("error" in parsed) setFieldError(parsed.error);
    else void save(parsed.cap);
  };

  return (
    <section className="card send-cap" aria-labelledby={`${inputId}-title`}>
      <div className="page-head">
        <h2 id={`${inputId}-title`}>Daily send cap</h2>
        {admin && c && !editing ? (
          <button type="button" className="btn small" onClick={() => { setText(String(c.cap)); setFieldError(null); setEditing(true); }}>Change cap</button>
        ) : null}
      </div>
      <ErrorBox error={state.error ?? error} />
      {c ? (
        <>
          <dl className="send-cap-figures">
            <div><dt>Cap</dt><dd data-testid="cap-value">{count(c.cap)} a day{c.cap === c.default_cap ? " (default)" : ""}</dd></div>
            <div><dt>Used today</dt><dd data-testid="cap-used">{n(usedToday(c))}<span className="muted small"> ({n(c.claimed_today)} sent, {n(c.queued_today)} queued)</span></dd></div>
            <div><dt>Remaining</dt><dd data-testid="cap-remaining">{n(c.remaining)}</dd></div>
            <div><dt>Resets (midnight UTC)</dt><dd>{resetLabel(c.resets_at, now)}</dd></div>
          </dl>
          <div className="progress" role="progressbar" aria-label="Daily send cap used" aria-valuemin={0} aria-valuemax={100} aria-valuenow={usedPercent(c)}>
            <div style={{ width: `${usedPercent(c)}%` }} />
          </div>
          {!admin ? <p className="muted small">Only admins can change the cap.</p> : null}
          {admin && editing ? (
            <div className="send-cap-edit">
              <div className={`field ${fieldError ? "has-error" : ""}`}>
                <label htmlFor={inputId}>Emails per day</label>
                <input id={inputId} name="cap" inputMode="numeric" value={text} aria-invalid={!!fieldError}
                  onChange={(e) => setText(e.target.value)} onKeyDown={(e) => { if (e.key === "Enter") submit(); }} />
                {fieldError ? <div className="field-error" role="alert">{fieldError}</div> : <div className="hint">The default is {n(c.default_cap)}. Campaign steps waiting for the cap are looked at again at once.</div>}
              </div>
              <div className="send-cap-actions">
                <button type="button" className="btn primary small" disabled={busy} onClick={submit}>Save</button>
                <button type="button" className="btn small" disabled={busy} onClick={() => save(null)}>Restore default ({n(c.default_cap)})</button>
                <button type="button" className="btn-link" disabled={busy} onClick={() => setEditing(false)}>Cancel</button>
              </div>
            </div>
          ) : null}
        </>
      ) : state.loading ? <p className="muted">Loading…</p> : null}
    </section>
  );
}

/** A held step's reason in plain words (nothing when the enrollment is not held). */
export function HoldReason({ reason }: { reason?: string | null }) {
  const text = holdReasonText(reason);
  if (!text) return null;
  return <div className={`hold-reason ${holdIsFinal(reason) ? "final" : ""}`} data-testid="hold-reason">{text}</div>;
}
