/** Data-loading hooks shared by the screens. */
import { useCallback, useEffect, useRef, useState } from "react";
import { api, itemsOf } from "./api/client";
import { describeError } from "./lib/errors";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change and on reload(); stale answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    load()
      .then((d) => { if (mine === seq.current) { setData(d); setError(null); } })
      .catch((e) => { if (mine === seq.current) setError(describeError(e)); })
      .finally(() => { if (mine === seq.current) setLoading(false); });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

export interface UserRow { id: string; name: string; email: string; role: string }

let usersCache: Promise<UserRow[]> | null = null;

/** The users contacts can be assigned to (loaded once a session). */
export function useUsers(): UserRow[] {
  const [users, setUsers] = useState<UserRow[]>([]);
  useEffect(() => {
    if (!usersCache) usersCache = api.get("/users").then((d) => itemsOf<UserRow>(d)).catch(() => { usersCache = null; return []; });
    usersCache.then(setUsers);
  }, []);
  return users;
}
