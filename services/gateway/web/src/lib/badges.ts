/** Badge colours and icons (seed 000 §7 "Status Badge", "AI Score Badge", table badges, note types). */

export interface BadgeStyle {
  bg: string;
  fg: string;
  icon: string;
}

export const STAGES = [
  "New", "Nurturing", "Qualified", "Hot Lead", "Cold Lead",
  "Customer", "Lost", "Unqualified", "Recycled", "Not Interested",
] as const;

const STAGE_STYLES: Record<string, BadgeStyle> = {
  "Hot Lead": { bg: "#DC2626", fg: "#FFFFFF", icon: "♨" },
  Qualified: { bg: "#2563EB", fg: "#FFFFFF", icon: "✓" },
  Nurturing: { bg: "#D97706", fg: "#111827", icon: "↗" },
  "Cold Lead": { bg: "#6B7280", fg: "#FFFFFF", icon: "❄" },
  Customer: { bg: "#059669", fg: "#FFFFFF", icon: "♛" },
  Lost: { bg: "#374151", fg: "#FFFFFF", icon: "✕" },
  New: { bg: "#0E7490", fg: "#FFFFFF", icon: "★" },
  Unqualified: { bg: "#E5E7EB", fg: "#374151", icon: "–" },
  Recycled: { bg: "#7C3AED", fg: "#FFFFFF", icon: "↻" },
  "Not Interested": { bg: "#4B5563", fg: "#FFFFFF", icon: "⊘" },
};

export function stageStyle(stage?: string | null): BadgeStyle {
  return (stage && STAGE_STYLES[stage]) || { bg: "#E5E7EB", fg: "#374151", icon: "•" };
}

/** Score colours: green from 80, amber from 50, red below; >= 90 is flagged hot. */
export function scoreStyle(score?: number | null): BadgeStyle {
  if (score == null) return { bg: "#E5E7EB", fg: "#374151", icon: "☆" };
  if (score >= 90) return { bg: "#10B981", fg: "#FFFFFF", icon: "★" };
  if (score >= 80) return { bg: "#D1FAE5", fg: "#065F46", icon: "★" };
  if (score >= 50) return { bg: "#FEF3C7", fg: "#92400E", icon: "★" };
  return { bg: "#FEE2E2", fg: "#991B1B", icon: "★" };
}

export const CONTACT_TYPES = ["Prospect", "Partner", "Investor", "Customer", "Vendor", "Other"];
export const CHANNELS = ["Webinar", "Newsletter", "Web Form", "Event", "Referral", "Import", "Cold Outreach", "Social", "Other"];

const TYPE_COLORS: Record<string, [string, string]> = {
  Prospect: ["#DBEAFE", "#1E40AF"],
  Partner: ["#EDE9FE", "#5B21B6"],
  Investor: ["#D1FAE5", "#065F46"],
  Customer: ["#FCE7F3", "#9D174D"],
};

export function typeStyle(type?: string | null): BadgeStyle {
  const [bg, fg] = (type && TYPE_COLORS[type]) || ["#F3F4F6", "#374151"];
  return { bg, fg, icon: "" };
}

const CHANNEL_COLORS: Record<string, [string, string]> = {
  Webinar: ["#E0F2FE", "#075985"],
  Newsletter: ["#FEF9C3", "#854D0E"],
  "Web Form": ["#DCFCE7", "#166534"],
  Event: ["#FFE4E6", "#9F1239"],
  Referral: ["#F3E8FF", "#6B21A8"],
  Import: ["#F1F5F9", "#334155"],
};

export function channelStyle(channel?: string | null): BadgeStyle {
  const [bg, fg] = (channel && CHANNEL_COLORS[channel]) || ["#F3F4F6", "#374151"];
  return { bg, fg, icon: "" };
}

export const NOTE_TYPES = ["general", "sales", "call", "marketing", "support", "technical"] as const;

const NOTE_COLORS: Record<string, string> = {
  sales: "#8B5CF6", call: "#3B82F6", general: "#6B7280", marketing: "#047857", support: "#B45309", technical: "#0E7490",
};

export function noteTypeStyle(type?: string | null): BadgeStyle {
  return { bg: NOTE_COLORS[type ?? "general"] ?? "#6B7280", fg: "#FFFFFF", icon: "" };
}

export function noteTypeLabel(type?: string | null): string {
  const t = type || "general";
  return t === "general" ? "General" : `${t.charAt(0).toUpperCase()}${t.slice(1)} Note`;
}

const EMAIL_STATUS: Record<string, BadgeStyle> = {
  opened: { bg: "#047857", fg: "#FFFFFF", icon: "◉" },
  clicked: { bg: "#047857", fg: "#FFFFFF", icon: "↗" },
  replied: { bg: "#2563EB", fg: "#FFFFFF", icon: "↩" },
  sent: { bg: "#6B7280", fg: "#FFFFFF", icon: "➤" },
  delivered: { bg: "#6B7280", fg: "#FFFFFF", icon: "✓" },
  outbound: { bg: "#6B7280", fg: "#FFFFFF", icon: "➤" },
  queued: { bg: "#9CA3AF", fg: "#111827", icon: "…" },
  bounced: { bg: "#DC2626", fg: "#FFFFFF", icon: "⚠" },
  refused: { bg: "#DC2626", fg: "#FFFFFF", icon: "⊘" },
  completed: { bg: "#047857", fg: "#FFFFFF", icon: "✓" },
  "no answer": { bg: "#B45309", fg: "#FFFFFF", icon: "✆" },
  no_answer: { bg: "#B45309", fg: "#FFFFFF", icon: "✆" },
  voicemail: { bg: "#EAB308", fg: "#111827", icon: "✉" },
  busy: { bg: "#DC2626", fg: "#FFFFFF", icon: "⦸" },
  scheduled: { bg: "#2563EB", fg: "#FFFFFF", icon: "◷" },
  rescheduled: { bg: "#7C3AED", fg: "#FFFFFF", icon: "◷" },
};

export function commStatusStyle(status?: string | null): BadgeStyle {
  return EMAIL_STATUS[(status ?? "").toLowerCase()] ?? { bg: "#E5E7EB", fg: "#374151", icon: "•" };
}

/** Import summary colours (seed 001 §9 item 16). */
export const SUMMARY_COLORS = {
  total: "#111827",
  imported: "#047857",
  duplicates: "#7C3AED",
  merged: "#2563EB",
  skipped: "#A16207",
  failed: "#DC2626",
} as const;
