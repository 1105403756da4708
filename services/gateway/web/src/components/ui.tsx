/** Small shared building blocks: badges, avatar, fields, modal, toasts, empty states. */
import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { avatarColor, initials } from "../lib/avatar";
import { scoreStyle, stageStyle, typeStyle, channelStyle, type BadgeStyle } from "../lib/badges";

export function Badge({ style, children, title, className }: { style: BadgeStyle; children: ReactNode; title?: string; className?: string }) {
  return (
    <span className={`badge ${className ?? ""}`} style={{ background: style.bg, color: style.fg }} title={title}>
      {style.icon ? <span aria-hidden="true">{style.icon} </span> : null}
      {children}
    </span>
  );
}

export function StageBadge({ stage }: { stage?: string | null }) {
  if (!stage) return <span className="muted">—</span>;
  return <Badge style={stageStyle(stage)} className="stage-badge">{stage}</Badge>;
}

export function ScoreBadge({ score, long }: { score?: number | null; long?: boolean }) {
  const s = scoreStyle(score);
  return (
    <Badge style={s} className="score-badge" title={score != null && score >= 90 ? "Hot: score 90 or more" : undefined}>
      {long ? `AI Score: ${score ?? "–"}` : score ?? "–"}
    </Badge>
  );
}

export function TypeBadge({ value }: { value?: string | null }) {
  return value ? <Badge style={typeStyle(value)}>{value}</Badge> : <span className="muted">—</span>;
}

export function ChannelBadge({ value }: { value?: string | null }) {
  return value ? <Badge style={channelStyle(value)}>{value}</Badge> : <span className="muted">—</span>;
}

export function Avatar({ first, last, size = 36 }: { first?: string | null; last?: string | null; size?: number }) {
  const name = `${first ?? ""} ${last ?? ""}`.trim();
  return (
    <span
      className="avatar"
      role="img"
      aria-label={name ? `Avatar of ${name}` : "Avatar of unnamed contact"}
      style={{ width: size, height: size, lineHeight: `${size}px`, fontSize: size * 0.4, background: avatarColor(first, last) }}
    >
      {initials(first, last)}
    </span>
  );
}

export function Field({ label, error, children, hint, required, htmlFor }: {
  label: string; error?: string; children: ReactNode; hint?: string; required?: boolean; htmlFor?: string;
}) {
  return (
    <div className={`field ${error ? "has-error" : ""}`}>
      <label htmlFor={htmlFor}>
        {label}
        {required ? <span className="req" aria-hidden="true"> *</span> : null}
      </label>
      {children}
      {hint && !error ? <div className="hint">{hint}</div> : null}
      {error ? <div className="field-error" role="alert">{error}</div> : null}
    </div>
  );
}

/** A text input with its label; the id ties label, input and error together. */
export function TextField({ label, value, onChange, error, type = "text", required, name, placeholder, hint, autoFocus }: {
  label: string; value: string; onChange: (v: string) => void; error?: string; type?: string; required?: boolean;
  name: string; placeholder?: string; hint?: string; autoFocus?: boolean;
}) {
  const id = useId();
  return (
    <Field label={label} error={error} required={required} hint={hint} htmlFor={id}>
      <input
        id={id} name={name} type={type} value={value} placeholder={placeholder} autoFocus={autoFocus}
        aria-invalid={!!error} aria-required={required}
        onChange={(e) => onChange(e.target.value)}
      />
    </Field>
  );
}

export function SelectField({ label, value, onChange, options, name, error, includeEmpty }: {
  label: string; value: string; onChange: (v: string) => void; options: Array<string | { value: string; label: string }>;
  name: string; error?: string; includeEmpty?: string;
}) {
  const id = useId();
  return (
    <Field label={label} error={error} htmlFor={id}>
      <select id={id} name={name} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={!!error}>
        {includeEmpty !== undefined ? <option value="">{includeEmpty}</option> : null}
        {options.map((o) => typeof o === "string"
          ? <option key={o} value={o}>{o}</option>
          : <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    </Field>
  );
}

export function Modal({ title, onClose, children, footer, wide }: {
  title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, select, textarea, button:not(.modal-close)");
    (first ?? ref.current)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
      if (e.key === "Tab" && ref.current) {
        const els = Array.from(ref.current.querySelectorAll<HTMLElement>("a[href], button:not([disabled]), input, select, textarea, [tabindex='0']"));
        if (!els.length) return;
        const [a, b] = [els[0], els[els.length - 1]];
        if (e.shiftKey && document.activeElement === a) { e.preventDefault(); b.focus(); }
        else if (!e.shiftKey && document.activeElement === b) { e.preventDefault(); a.focus(); }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => { document.removeEventListener("keydown", onKey); prev?.focus?.(); };
  }, [onClose]);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div className={`modal ${wide ? "wide" : ""}`} role="dialog" aria-modal="true" aria-labelledby={titleId} ref={ref} tabIndex={-1}>
        <div className="modal-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="icon-btn modal-close" aria-label="Close" onClick={onClose}>✕</button>
        </div>
        <div className="modal-body">{children}</div>
        {footer ? <div className="modal-foot">{footer}</div> : null}
      </div>
    </div>
  );
}

export function EmptyState({ icon, title, text, action }: { icon: string; title: string; text?: string; action?: ReactNode }) {
  return (
    <div className="empty">
      <div className="empty-icon" aria-hidden="true">{icon}</div>
      <div className="empty-title">{title}</div>
      {text ? <p className="muted">{text}</p> : null}
      {action}
    </div>
  );
}

export function ComingSoon({ what, tooltip }: { what: string; tooltip?: string }) {
  return (
    <div className="empty coming-soon" title={tooltip}>
      <div className="empty-icon" aria-hidden="true">⚠</div>
      <div className="empty-title">{what}: coming soon in Phase 2</div>
      {tooltip ? <p className="muted">{tooltip}</p> : null}
    </div>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return <div className="spinner" role="status" aria-live="polite">{label}</div>;
}

export function ErrorBox({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return <div className="error-box" role="alert">{error}</div>;
}

export function Unavailable({ parts }: { parts: string[] }) {
  if (!parts.length) return null;
  return (
    <div className="warn-box" role="status">
      Some information is temporarily unavailable ({parts.join(", ")}). The rest of the page is up to date.
    </div>
  );
}

interface Toast { id: number; text: string; kind: "ok" | "error" }
const ToastCtx = createContext<(text: string, kind?: "ok" | "error") => void>(() => undefined);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const push = useCallback((text: string, kind: "ok" | "error" = "ok") => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t, { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === "error" ? 8000 : 4000);
  }, []);
  return (
    <ToastCtx.Provider value={push}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => <div key={t.id} className={`toast ${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>{t.text}</div>)}
      </div>
    </ToastCtx.Provider>
  );
}

export function useToast() {
  return useContext(ToastCtx);
}
