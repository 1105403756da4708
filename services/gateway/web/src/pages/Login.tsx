/** Sign-in with the demo users listed for convenience. */
import { useState, type FormEvent } from "react";
import { useAuth } from "../auth";
import { ErrorBox, TextField } from "../components/ui";
import { ApiError, describeError } from "../lib/errors";

const DEMO = [
  ["admin@demo.crm", "Admin"], ["marketing@demo.crm", "Marketing"], ["sales@demo.crm", "Sales"],
  ["sales2@demo.crm", "Sales 2"], ["exec@demo.crm", "Executive"],
];

export function LoginPage() {
  const { login } = useAuth();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      await login(email, password);
    } catch (err) {
      if (err instanceof ApiError) setFields(err.fields);
      setError(err instanceof ApiError && err.status === 401 ? "Wrong email or password." : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login-wrap">
      <form className="card login" onSubmit={submit} noValidate aria-labelledby="login-title">
        <h1 id="login-title">Sign in to the CRM</h1>
        <ErrorBox error={error} />
        <TextField label="Email" name="email" type="email" value={email} onChange={setEmail} error={fields.email} required autoFocus />
        <TextField label="Password" name="password" type="password" value={password} onChange={setPassword} error={fields.password} required />
        <button className="btn primary block" type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
        <details className="demo-users">
          <summary>Demo users (password demo-password)</summary>
          <ul>
            {DEMO.map(([e, label]) => (
              <li key={e}>
                <button type="button" className="btn-link" onClick={() => { setEmail(e); setPassword("demo-password"); }}>{label}: {e}</button>
              </li>
            ))}
          </ul>
        </details>
      </form>
    </div>
  );
}
