/** Turning the API's error envelope into messages a form can show next to each field. */

export interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: Record<string, unknown> };
}

export class ApiError extends Error {
  status: number;
  code: string;
  details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Field messages flattened to dotted names ("address.zip"). */
  get fields(): Record<string, string> {
    return fieldErrors(this.details);
  }
}

function flatten(value: unknown, prefix: string, out: Record<string, string>): void {
  if (value == null) return;
  if (typeof value === "string") {
    out[prefix] = out[prefix] ? `${out[prefix]} ${value}` : value;
  } else if (Array.isArray(value)) {
    const strings = value.filter((v) => typeof v === "string") as string[];
    if (strings.length) out[prefix] = strings.join(" ");
    value.forEach((v, i) => {
      if (typeof v === "object" && v !== null) flatten(v, prefix ? `${prefix}.${i}` : String(i), out);
    });
  } else if (typeof value === "object") {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
  }
}

/**
 * The per-field messages of an error's details. The gateway sends `{"fields": {name: [reason]}}`
 * (nested for address/social); some services name the field directly in details.
 */
export function fieldErrors(details: Record<string, unknown> | undefined | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!details) return out;
  if (details.fields && typeof details.fields === "object") {
    flatten(details.fields, "", out);
  } else if (typeof details.field === "string") {
    out[details.field] = String(details.reason ?? details.message ?? "is invalid");
  }
  return out;
}

/** Builds the ApiError for a failed response body (which may not be JSON at all). */
export function toApiError(status: number, body: unknown): ApiError {
  const env = (body ?? {}) as ApiErrorBody;
  if (env.error) {
    return new ApiError(status, env.error.code ?? "error", env.error.message ?? defaultMessage(status), env.error.details ?? {});
  }
  return new ApiError(status, "error", defaultMessage(status));
}

export function defaultMessage(status: number): string {
  if (status === 0) return "The server could not be reached.";
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return "You do not have permission to do that.";
  if (status === 404) return "Not found.";
  if (status === 409) return "That conflicts with existing data.";
  if (status === 413) return "The file is too large.";
  if (status === 422) return "Please correct the highlighted fields.";
  if (status === 429) return "Too many requests, please wait a moment.";
  if (status === 503) return "A service needed for this is unavailable right now.";
  return "Something went wrong.";
}

/** One line for a toast: the message plus each field reason. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const f = err.fields;
    const parts = Object.entries(f).map(([k, v]) => `${k}: ${v}`);
    return parts.length ? `${err.message} (${parts.join("; ")})` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
