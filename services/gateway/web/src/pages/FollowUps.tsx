/** Follow-ups due: open items by due date, overdue first, marked done in place. */
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, itemsOf } from "../api/client";
import { useAuth } from "../auth";
import { EmptyState, ErrorBox, Spinner, useToast } from "../components/ui";
import { useLoad } from "../hooks";
import { describeError } from "../lib/errors";
import { dateTime } from "../lib/time";

interface FollowUp { id: string; contact_id?: string; contact_name?: string; type: string; title?: string; description?: string; priority?: string; status?: string; due_at: string; assigned_to?: string }

const PRIORITY_COLORS: Record<string, string> = { urgent: "#DC2626", high: "#EA580C", medium: "#2563EB", low: "#6B7280" };

export function FollowUpsPage() {
  const { user } = useAuth();
  const toast = useToast();
  const [status, setStatus] = useState("open");
  const [mine, setMine] = useState(user?.role === "sales");
  const list = useLoad(() => {
    const qs = new URLSearchParams({ per_page: "200" });
    if (status) qs.set("status", status);
    if (mine && user) qs.set("assigned_to", user.id);
    return api.get(`/follow-ups?${qs}`).then((d) => itemsOf<FollowUp>(d));
  }, [status, mine]);
  const mark = async (f: FollowUp, s: string) => {
    try { await api.patch(`/follow-ups/${f.id}`, { status: s }); toast(s === "done" ? "Marked as done" : "Follow-up updated"); list.reload(); } catch (e) { toast(describeError(e), "error"); }
  };
  const now = Date.now();
  const items = [...(list.data ?? [])].sort((a, b) => a.due_at.localeCompare(b.due_at));
  return (
    <div className="page">
      <div className="page-head"><h1>Follow-ups</h1></div>
      <div className="filters-row">
        <label>Status{" "}<select value={status} onChange={(e) => setStatus(e.target.value)}><option value="open">Open</option><option value="done">Done</option><option value="cancelled">Cancelled</option><option value="">All</option></select></label>
        <label className="check"><input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} /> Assigned to me</label>
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Spinner /> : null}
      {!items.length && !list.loading ? <EmptyState icon="◷" title="Nothing due" text="Follow-ups you create from a contact appear here." /> : null}
      <ul className="fu-list">
        {items.map((f) => {
          const overdue = f.status === "open" && new Date(f.due_at).getTime() < now;
          return (
            <li key={f.id} className={`card fu ${overdue ? "overdue" : ""}`}>
              <div>
                <span className="badge" style={{ background: PRIORITY_COLORS[f.priority ?? "medium"], color: "#fff" }}>{f.priority ?? "medium"}</span>{" "}
                <span className="chip small">{f.type}</span> <strong>{f.title || f.type}</strong>
                <div className="small muted">{overdue ? <span className="danger-text">Overdue · </span> : null}Due {dateTime(f.due_at)}{f.contact_id ? <> · <Link to={`/contacts/${f.contact_id}`}>{f.contact_name ?? "Open contact"}</Link></> : null}</div>
                {f.description ? <div className="small">{f.description}</div> : null}
              </div>
              {f.status === "open" && user?.role !== "executive" ? (
                <div className="nowrap">
                  <button type="button" className="btn small primary" onClick={() => mark(f, "done")}>Mark done</button>{" "}
                  <button type="button" className="btn small" onClick={() => mark(f, "cancelled")}>Cancel</button>
                </div>
              ) : <span className="muted small">{f.status}</span>}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
