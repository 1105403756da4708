/** Executive dashboard: KPIs and charts computed from the public API (list totals, segments, campaigns, imports). */
import { api, itemsOf, type Page } from "../api/client";
import { campaignCount, campaignName, campaignRate, segmentCount, type Campaign, type Segment } from "../components/actions";
import { BarChart, LineChart } from "../components/charts";
import { ErrorBox, Spinner } from "../components/ui";
import { useLoad } from "../hooks";
import { STAGES, stageStyle } from "../lib/badges";
import { asPercent, importSuccessRate, scoreBuckets, weekEnds, type Bucket } from "../lib/stats";

interface Kpis { total_contacts: number; hot_leads: number; avg_score: number; companies: number }
interface ImportRow { id: string; file_name?: string; created_at?: string; summary?: { total?: number; imported?: number; merged?: number } | null; status?: string }

const total = (qs: string) => api.get<Page<unknown>>(`/contacts?${qs}&per_page=1`).then((p) => p.total ?? 0);
const settle = <T,>(p: Promise<T>, fallback: T) => p.catch(() => fallback);

async function loadDashboard() {
  const [kpis, scores, stages, hot, segments, campaigns, imports] = await Promise.all([
    api.get<Kpis>("/contacts/kpis?period=all"),
    Promise.all(scoreBuckets().map((b) => total(`score_min=${b.min}&score_max=${b.max}`).then((v) => ({ label: b.label, value: v })))),
    Promise.all(STAGES.map((s) => total(`stage=${encodeURIComponent(s)}`).then((v) => ({ label: s, value: v })))),
    Promise.all(weekEnds(8).map((w) => total(`stage=${encodeURIComponent("Hot Lead")}&created_to=${encodeURIComponent(w.to)}`).then((v) => ({ label: w.label, value: v })))),
    settle(api.get("/segments?per_page=200").then((d) => itemsOf<Segment>(d)), null),
    settle(api.get("/campaigns?per_page=200").then((d) => itemsOf<Campaign>(d)), null),
    settle(api.get("/imports?per_page=20").then((d) => itemsOf<ImportRow>(d)), null),
  ]);
  return { kpis, scores, stages, hot, segments, campaigns, imports };
}

export function DashboardPage() {
  const data = useLoad(loadDashboard, []);
  const d = data.data;
  if (!d) return <div className="page"><h1>Executive Dashboard</h1>{data.error ? <ErrorBox error={data.error} /> : <Spinner />}</div>;
  const segs: Bucket[] = (d.segments ?? []).map((s) => ({ label: s.name, value: segmentCount(s) }));
  const camps = d.campaigns ?? [];
  const imports: Bucket[] = (d.imports ?? []).filter((i) => i.summary && i.summary.total).slice(0, 10).reverse()
    .map((i) => ({ label: (i.file_name ?? i.id).slice(0, 18), value: importSuccessRate(i.summary) }));
  return (
    <div className="page">
      <h1>Executive Dashboard</h1>
      <div className="kpis">
        {([["Total Contacts", d.kpis.total_contacts], ["Hot Leads", d.kpis.hot_leads], ["Avg. Score", Math.round(d.kpis.avg_score ?? 0)], ["Companies", d.kpis.companies]] as const).map(([l, v]) => (
          <div key={l} className="kpi card"><div><div className="kpi-label">{l}</div><div className="kpi-value">{v}</div></div></div>
        ))}
      </div>
      <div className="chart-grid">
        <div className="card"><BarChart title="AI score distribution" data={d.scores} color="#10B981" /></div>
        <div className="card"><BarChart title="Contacts by stage" data={d.stages} colors={d.stages.map((s) => stageStyle(s.label).bg)} /></div>
        <div className="card"><LineChart title="Hot leads over time (cumulative, weekly)" data={d.hot} /></div>
        <div className="card">{d.segments ? <BarChart title="Segment sizes" data={segs} color="#06B6D4" /> : <ErrorBox error="Segments are unavailable right now." />}</div>
        <div className="card">
          {d.campaigns ? (
            <>
              <BarChart title="Campaign open rate (%)" data={camps.map((c) => ({ label: campaignName(c), value: asPercent(campaignRate(c, "open_rate")) }))} color="#8B5CF6" unit="%" />
              <table className="simple-table small"><caption className="sr-only">Campaign performance</caption>
                <thead><tr><th scope="col">Campaign</th><th scope="col">Contacts</th><th scope="col">Open</th><th scope="col">Click</th></tr></thead>
                <tbody>{camps.map((c) => <tr key={c.id}><td>{campaignName(c)}</td><td>{campaignCount(c)}</td><td>{asPercent(campaignRate(c, "open_rate"))}%</td><td>{asPercent(campaignRate(c, "click_rate"))}%</td></tr>)}</tbody>
              </table>
            </>
          ) : <ErrorBox error="Campaigns are unavailable right now." />}
        </div>
        <div className="card">{d.imports ? <BarChart title="Import success rate (%)" data={imports} color="#2563EB" unit="%" /> : <ErrorBox error="Import history is unavailable right now." />}</div>
      </div>
    </div>
  );
}
