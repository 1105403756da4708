/** Tag input with suggestions and the company autocomplete (seed 000 "Add Contact"). */
import { useEffect, useId, useState } from "react";
import { api, itemsOf } from "../api/client";
import { addTag, TAG_SUGGESTIONS } from "../lib/contact";

export function TagInput({ tags, onChange, error, label = "Tags", suggestions = TAG_SUGGESTIONS }: {
  tags: string[]; onChange: (t: string[]) => void; error?: string; label?: string; suggestions?: string[];
}) {
  const [text, setText] = useState("");
  const id = useId();
  const listId = useId();
  const add = (t: string) => {
    onChange(addTag(tags, t));
    setText("");
  };
  const open = suggestions.filter((s) => !tags.some((t) => t.toLowerCase() === s.toLowerCase()));
  return (
    <div className={`field ${error ? "has-error" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <div className="tag-input">
        {tags.map((t) => (
          <span key={t} className="chip">
            {t}
            <button type="button" aria-label={`Remove tag ${t}`} onClick={() => onChange(tags.filter((x) => x !== t))}>×</button>
          </span>
        ))}
        <input
          id={id} value={text} list={listId} maxLength={50} placeholder="Add a tag and press Enter"
          onChange={(e) => {
            const v = e.target.value;
            if (v.endsWith(",")) add(v.slice(0, -1));
            else setText(v);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") { e.preventDefault(); add(text); }
            if (e.key === "Backspace" && !text && tags.length) onChange(tags.slice(0, -1));
          }}
          onBlur={() => text && add(text)}
        />
        <datalist id={listId}>{open.map((s) => <option key={s} value={s} />)}</datalist>
      </div>
      <div className="suggestions" aria-label="Suggested tags">
        {open.slice(0, 8).map((s) => (
          <button type="button" key={s} className="chip-btn" onClick={() => add(s)}>+ {s}</button>
        ))}
      </div>
      <div className="hint">Up to 50 characters a tag.</div>
      {error ? <div className="field-error" role="alert">{error}</div> : null}
    </div>
  );
}

interface CompanyItem { name?: string; company?: string; count?: number }

/** Company names from `GET /companies?q=` as the user types; free text stays allowed. */
export function CompanyInput({ value, onChange, error, label = "Company", name = "company" }: {
  value: string; onChange: (v: string) => void; error?: string; label?: string; name?: string;
}) {
  const [items, setItems] = useState<string[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const id = useId();
  const listId = useId();
  useEffect(() => {
    if (!open || value.trim().length < 1) { setItems([]); return; }
    const t = setTimeout(() => {
      api.get(`/companies?q=${encodeURIComponent(value.trim())}&limit=8`)
        .then((d) => setItems(itemsOf<CompanyItem | string>(d).map((c) => typeof c === "string" ? c : c.name ?? c.company ?? "").filter(Boolean)))
        .catch(() => setItems([]));
    }, 200);
    return () => clearTimeout(t);
  }, [value, open]);
  const choose = (v: string) => { onChange(v); setOpen(false); setActive(-1); };
  return (
    <div className={`field autocomplete ${error ? "has-error" : ""}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id} name={name} value={value} autoComplete="off" role="combobox" aria-expanded={open && items.length > 0}
        aria-controls={listId} aria-autocomplete="list" aria-invalid={!!error} maxLength={150}
        onChange={(e) => { onChange(e.target.value); setOpen(true); }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") { e.preventDefault(); setActive((a) => Math.min(a + 1, items.length - 1)); }
          if (e.key === "ArrowUp") { e.preventDefault(); setActive((a) => Math.max(a - 1, 0)); }
          if (e.key === "Enter" && active >= 0 && items[active]) { e.preventDefault(); choose(items[active]); }
          if (e.key === "Escape") setOpen(false);
        }}
      />
      {open && items.length > 0 ? (
        <ul className="ac-list" role="listbox" id={listId}>
          {items.map((c, i) => (
            <li key={c} role="option" aria-selected={i === active} className={i === active ? "active" : ""}
              onMouseDown={(e) => { e.preventDefault(); choose(c); }}>{c}</li>
          ))}
        </ul>
      ) : null}
      {error ? <div className="field-error" role="alert">{error}</div> : null}
    </div>
  );
}
