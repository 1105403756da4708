/** Note drafts kept in localStorage (seed 000: saved every 30 s, restored on reload, cleared after save). */

export const DRAFT_INTERVAL_MS = 30_000;

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function draftKey(contactId: string): string {
  return `crm.noteDraft.${contactId}`;
}

export function loadDraft(store: KeyValueStore, contactId: string): string {
  try {
    return store.getItem(draftKey(contactId)) ?? "";
  } catch {
    return "";
  }
}

/** Saves non-empty text, removes the draft when the text is empty. */
export function saveDraft(store: KeyValueStore, contactId: string, text: string): void {
  try {
    if (text.trim()) store.setItem(draftKey(contactId), text);
    else store.removeItem(draftKey(contactId));
  } catch {
    /* storage full or disabled: drafts are a convenience */
  }
}

export function clearDraft(store: KeyValueStore, contactId: string): void {
  saveDraft(store, contactId, "");
}

export const NOTE_MAX = 2000;
