import { useState, type FormEvent } from "react";
import { ApiError, type ApiClient } from "../api/client";

export interface SignInProps {
  api: ApiClient;
  message: string;
  onSignedIn: (token: string) => void;
}

export function SignIn({ api, message, onSignedIn }: SignInProps) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError("Paste the token that `sentra token create` printed.");
      return;
    }
    setBusy(true);
    setError("");
    try {
      await api.whoami(t);
      onSignedIn(t);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? `The node rejected this token: ${err.detail}`
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page signin">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in</h1>
        {message && (
          <p className="notice" role="status" data-testid="signin-message">
            {message}
          </p>
        )}
        <label htmlFor="token">Access token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          placeholder="paste your token"
          autoFocus
        />
        <p className="hint">
          Create one with <code>sentra token create --name me --role viewer</code>, or open the link the node printed at
          start. The token is kept for this browser session only.
        </p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </section>
  );
}
