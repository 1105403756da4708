/** The signed-in user, shared by every screen. */
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { api, clearSession, getStoredUser, onUnauthorized, storeSession } from "./api/client";
import type { User } from "./lib/permissions";

interface AuthState {
  user: User | null;
  login: (email: string, password: string) => Promise<User>;
  logout: () => void;
}

const Ctx = createContext<AuthState>({ user: null, login: async () => { throw new Error("no auth"); }, logout: () => undefined });

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(getStoredUser());
  useEffect(() => onUnauthorized(() => setUser(null)), []);
  const login = async (email: string, password: string) => {
    const res = await api.post<{ access_token: string; user: User }>("/auth/login", { email, password });
    storeSession(res.access_token, res.user);
    setUser(res.user);
    return res.user;
  };
  const logout = () => { clearSession(); setUser(null); };
  return <Ctx.Provider value={{ user, login, logout }}>{children}</Ctx.Provider>;
}

export function useAuth(): AuthState {
  return useContext(Ctx);
}
