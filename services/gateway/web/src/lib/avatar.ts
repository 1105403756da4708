/** Avatar initials and a colour that stays the same for a name (seed 000 §7 "Contact Avatar"). */

export const AVATAR_PALETTE = [
  "#2563EB", "#7C3AED", "#DB2777", "#DC2626", "#EA580C",
  "#CA8A04", "#16A34A", "#0D9488", "#0891B2", "#4F46E5",
] as const;

export const AVATAR_FALLBACK = "#9CA3AF";

/** First letter of first name + first letter of last name; "?" when both are empty. */
export function initials(first?: string | null, last?: string | null): string {
  const a = (first ?? "").trim().charAt(0);
  const b = (last ?? "").trim().charAt(0);
  const text = (a + b).toUpperCase();
  return text || "?";
}

/** A stable 32-bit string hash (djb2), so the same name always gets the same colour. */
export function nameHash(name: string): number {
  let h = 5381;
  for (let i = 0; i < name.length; i++) {
    h = ((h << 5) + h + name.charCodeAt(i)) | 0;
  }
  return h >>> 0;
}

/** The palette colour for a name, or the grey fallback when the name is empty. */
export function avatarColor(first?: string | null, last?: string | null): string {
  const name = `${(first ?? "").trim()} ${(last ?? "").trim()}`.trim().toLowerCase();
  if (!name) return AVATAR_FALLBACK;
  return AVATAR_PALETTE[nameHash(name) % AVATAR_PALETTE.length];
}
