/** Hand-written SVG charts for the dashboard: bars and a line, each with a text table for screen readers. */
import { scaleMax, type Bucket } from "../lib/stats";

export function BarChart({ title, data, color = "#3B82F6", unit = "", colors }: {
  title: string; data: Bucket[]; color?: string; unit?: string; colors?: string[];
}) {
  const w = 520;
  const h = 220;
  const pad = { l: 52, r: 8, t: 14, b: 48 };
  const max = scaleMax(data.map((d) => d.value));
  const slot = data.length ? (w - pad.l - pad.r) / data.length : 0;
  const bw = Math.min(slot, 86); // one or two bars stay bar-shaped instead of filling the chart
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${data.map((d) => `${d.label} ${d.value}${unit}`).join(", ")}`}>
        <line x1={pad.l} y1={h - pad.b} x2={w - pad.r} y2={h - pad.b} stroke="#D1D5DB" />
        <text x={pad.l - 6} y={pad.t + 8} textAnchor="end" fontSize="11" fill="#4B5563">{max}{unit}</text>
        <text x={pad.l - 6} y={h - pad.b} textAnchor="end" fontSize="11" fill="#4B5563">0</text>
        {data.map((d, i) => {
          const bh = ((h - pad.t - pad.b) * d.value) / max;
          const x = pad.l + i * slot + (slot - bw) / 2 + bw * 0.15;
          return (
            <g key={d.label}>
              <rect x={x} y={h - pad.b - bh} width={bw * 0.7} height={bh} fill={colors?.[i] ?? color} rx="3">
                <title>{`${d.label}: ${d.value}${unit}`}</title>
              </rect>
              <text x={x + bw * 0.35} y={h - pad.b - bh - 4} textAnchor="middle" fontSize="11" fill="#111827">{d.value}{unit}</text>
              <text x={x + bw * 0.35} y={h - pad.b + 14} textAnchor="end" fontSize="10" fill="#374151"
                transform={`rotate(-30 ${x + bw * 0.35} ${h - pad.b + 14})`}>{d.label.length > 16 ? `${d.label.slice(0, 15)}…` : d.label}</text>
            </g>
          );
        })}
      </svg>
      {!data.length ? <p className="muted">No data yet.</p> : null}
    </figure>
  );
}

export function LineChart({ title, data, color = "#DC2626" }: { title: string; data: Bucket[]; color?: string }) {
  const w = 520;
  const h = 220;
  const pad = { l: 40, r: 24, t: 16, b: 32 };
  const max = scaleMax(data.map((d) => d.value));
  const step = data.length > 1 ? (w - pad.l - pad.r) / (data.length - 1) : 0;
  const pts = data.map((d, i) => [pad.l + i * step, h - pad.b - ((h - pad.t - pad.b) * d.value) / max] as const);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title}: ${data.map((d) => `${d.label} ${d.value}`).join(", ")}`}>
        <line x1={pad.l} y1={h - pad.b} x2={w - pad.r} y2={h - pad.b} stroke="#D1D5DB" />
        <text x={pad.l - 6} y={pad.t + 4} textAnchor="end" fontSize="11" fill="#4B5563">{max}</text>
        <polyline fill="none" stroke={color} strokeWidth="2.5" points={pts.map((p) => p.join(",")).join(" ")} />
        {pts.map((p, i) => (
          <g key={data[i].label}>
            <circle cx={p[0]} cy={p[1]} r="4" fill={color}><title>{`${data[i].label}: ${data[i].value}`}</title></circle>
            <text x={p[0]} y={p[1] - 8} textAnchor="middle" fontSize="11" fill="#111827">{data[i].value}</text>
            <text x={p[0]} y={h - pad.b + 16} textAnchor="middle" fontSize="10" fill="#374151">{data[i].label}</text>
          </g>
        ))}
      </svg>
    </figure>
  );
}
