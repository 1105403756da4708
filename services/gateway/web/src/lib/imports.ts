/** Import wizard rules (seed 001): steps, file checks before upload, which step a job's status means. */

export interface ImportJob {
  id: string;
  status: "uploaded" | "processing" | "review" | "committing" | "completed" | "failed" | "cancelled" | string;
  step?: number;
  stage?: string;
  progress?: number;
  message?: string;
  file_name?: string;
  headers?: string[];
  mapping?: Record<string, string | null>;
  missing_required?: string[];
  total_rows?: number;
  duplicate_upload?: boolean;
  summary?: { total?: number; imported?: number; duplicates?: number; merged?: number; skipped?: number; failed?: number } | null;
}

export const STEP_LABELS = ["Choose Method", "Upload File", "Processing", "Review Duplicates", "Complete"];

export const MAX_BYTES = 10 * 1024 * 1024;

/** A reason to refuse the file before uploading it, or null when it looks fine. */
export function fileProblem(name: string, size: number): string | null {
  if (!/\.csv$/i.test(name)) return "Only CSV files are accepted.";
  if (size === 0) return "The file is empty.";
  if (size > MAX_BYTES) return "The file is larger than 10 MB.";
  return null;
}

/** The wizard step a job's status belongs to: processing 3, review/committing 4, done 5. */
export function wizardStepFor(job: Pick<ImportJob, "status">): number {
  switch (job.status) {
    case "uploaded": return 2;
    case "processing": return 3;
    case "review":
    case "committing": return 4;
    case "completed": return 5;
    default: return 3;
  }
}

export const MATCH_FILTERS: Array<[string, string]> = [
  ["", "All"], ["exact", "Exact Matches"], ["email", "Email Matches"], ["phone", "Phone Matches"],
  ["name_company", "Name/Company Matches"], ["fuzzy", "Similar (fuzzy)"],
];

export const IMPORT_FIELDS: Array<[string, string]> = [
  ["name", "Full name"], ["first_name", "First name"], ["last_name", "Last name"], ["email", "Email"],
  ["emails", "Secondary email"], ["phone", "Phone"], ["phones", "Secondary phone"], ["company", "Company"],
  ["position", "Position"], ["department", "Department"], ["industry", "Industry"], ["address", "Address"],
  ["street", "Street"], ["city", "City"], ["state", "State"], ["zip", "Zip"], ["country", "Country"],
  ["tags", "Tags"], ["type", "Contact type"], ["channel", "Channel"], ["linkedin", "LinkedIn"],
  ["twitter", "Twitter"], ["notes", "Notes"],
];
