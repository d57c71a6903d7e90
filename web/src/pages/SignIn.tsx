import { useEffect, useRef, useState, type FormEvent } from "react";
import { linkSignIn, login, setPassword, type LoginAnswer } from "../api/account";
import { ApiError, type ApiClient } from "../api/client";
import { formatCountdown } from "../model/session";
import "../components/accounts.css";

export interface SignInProps {
  api: ApiClient;
  message: string;
  /** An API token (no `session`), or an account's access token with the answer that brought it. */
  onSignedIn: (token: string, session?: LoginAnswer) => void;
  /** A one-time code from a #signin=<code> link, exchanged at once. */
  linkCode?: string | null;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Seconds left until `until` (ms), re-read every second while positive. */
function useCountdown(until: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    if (until <= Date.now()) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [until]);
  return Math.max(0, Math.ceil((until - now) / 1000));
}

/**
 * One form, one "Sign in" button: a user name and password (and the authenticator code when
 * the node asks for it), or a pasted API token. A pasted token wins over fields a password
 * manager filled in.
 */
function SignInForm({ api, onSignedIn }: Pick<SignInProps, "api" | "onSignedIn">) {
  const [username, setUsername] = useState("");
  const [password, setPw] = useState("");
  const [totp, setTotp] = useState("");
  const [token, setToken] = useState("");
  const [needTotp, setNeedTotp] = useState(false);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [retryUntil, setRetryUntil] = useState(0);
  const wait = useCountdown(retryUntil);
  const totpRef = useRef<HTMLInputElement>(null);
  const useToken = token.trim() !== "";

  useEffect(() => {
    if (needTotp) totpRef.current?.focus();
  }, [needTotp]);

  const withToken = async (t: string) => {
    try {
      await api.whoami(t);
      onSignedIn(t);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? `The node rejected this token: ${err.detail}` : errorText(err));
    }
  };

  const withPassword = async () => {
    try {
      const answer = await login(api, {
        username: username.trim(),
        password,
        ...(needTotp ? { totp: totp.trim() } : {}),
      });
      onSignedIn(answer.access_token, answer);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401 && err.body.totp_required === true) {
        // The password was right: ask for the code (a wrong code answers the same, with a detail).
        if (needTotp) setError(err.detail);
        setNeedTotp(true);
        setTotp("");
      } else if (err instanceof ApiError && err.status === 429) {
        setRetryUntil(Date.now() + (err.retryAfter ?? 30) * 1000);
        setError(err.detail);
      } else {
        setError(errorText(err));
      }
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!useToken && (!username.trim() || !password)) {
      setError("Enter your user name and password, or paste an API token.");
      return;
    }
    if (!useToken && needTotp && !/^\d{6,8}$/.test(totp.trim())) {
      setError("Enter the 6-digit code from your authenticator app.");
      return;
    }
    setBusy(true);
    setError("");
    await (useToken ? withToken(token.trim()) : withPassword());
    setBusy(false);
  };

  return (
    <form className="signin-form" onSubmit={submit} aria-label="Sign in" data-testid="signin-form">
      <fieldset className="signin-fields" disabled={useToken}>
        <label htmlFor="username">User name</label>
        <input
          id="username"
          name="username"
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          autoFocus
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPw(e.target.value)}
        />
        {needTotp && (
          <>
            <label htmlFor="totp">Authenticator code</label>
            <input
              ref={totpRef}
              id="totp"
              name="totp"
              type="text"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={8}
              value={totp}
              onChange={(e) => setTotp(e.target.value)}
            />
            <p className="hint" data-testid="totp-hint">
              Two-factor sign-in is on for this account: enter the code your authenticator app shows now.
            </p>
          </>
        )}
      </fieldset>
      <p className="signin-or" aria-hidden="true">
        <span>or</span>
      </p>
      <label htmlFor="token">Access token (API token)</label>
      <input
        id="token"
        name="token"
        type="password"
        autoComplete="off"
        spellCheck={false}
        value={token}
        onChange={(e) => setToken(e.target.value)}
        placeholder="paste an API token"
      />
      <p className="hint">
        Create one with <code>sentra token create --name me --role viewer</code>, or open the link the node printed at
        start. What you sign in with is kept for this browser tab only.
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
          {wait > 0 && (
            <>
              {" "}
              <span data-testid="retry-countdown">Try again in {formatCountdown(wait)}.</span>
            </>
          )}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy || (wait > 0 && !useToken)}>
        {busy ? "Signing in…" : wait > 0 && !useToken ? `Sign in (wait ${formatCountdown(wait)})` : "Sign in"}
      </button>
    </form>
  );
}

/** After a link sign-in: the account has no password yet. */
function SetPasswordForm({ api, answer, onDone }: { api: ApiClient; answer: LoginAnswer; onDone: (fresh: LoginAnswer) => void }) {
  const [pw, setPw] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (pw !== again) {
      setError("The two passwords differ.");
      return;
    }
    setBusy(true);
    setError("");
    try {
      // The node answers a fresh sign-in (it ends the others, the link's one included).
      const fresh = await setPassword(api, "", pw, answer.access_token);
      onDone(fresh?.access_token ? fresh : answer);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="signin-form" onSubmit={submit} aria-label="Set your password" data-testid="set-password-form">
      <p>
        Signed in as <strong>{answer.user.name}</strong> ({answer.user.role}). Set a password for your next sign-in.
      </p>
      <label htmlFor="new-password">New password</label>
      <input id="new-password" type="password" autoComplete="new-password" value={pw} onChange={(e) => setPw(e.target.value)} autoFocus />
      <label htmlFor="new-password-again">Repeat it</label>
      <input id="new-password-again" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} />
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy || !pw}>
        {busy ? "Saving…" : "Set password"}
      </button>
    </form>
  );
}

export function SignIn({ api, message, onSignedIn, linkCode }: SignInProps) {
  const [link, setLink] = useState<{ state: "idle" | "busy" | "failed"; error: string }>({
    state: linkCode ? "busy" : "idle",
    error: "",
  });
  const [mustSet, setMustSet] = useState<LoginAnswer | null>(null);
  const used = useRef(false);

  useEffect(() => {
    // One-time code: exchange it once (StrictMode runs effects twice in development).
    if (!linkCode || used.current) return;
    used.current = true;
    linkSignIn(api, linkCode).then(
      (answer) => {
        if (answer.must_set_password) setMustSet(answer);
        else onSignedIn(answer.access_token, answer);
      },
      (err: unknown) => setLink({ state: "failed", error: `This sign-in link did not work: ${errorText(err)}` }),
    );
  }, [api, linkCode, onSignedIn]);

  let body;
  if (mustSet) body = <SetPasswordForm api={api} answer={mustSet} onDone={(fresh) => onSignedIn(fresh.access_token, fresh)} />;
  else if (link.state === "busy") body = <p className="muted">Signing in with the link…</p>;
  else body = <SignInForm api={api} onSignedIn={onSignedIn} />;

  return (
    <section className="page signin">
      <div className="card signin-card" aria-labelledby="signin-title" role="group">
        <h1 id="signin-title">{mustSet ? "Set your password" : "Sign in"}</h1>
        {message && !mustSet && (
          <p className="notice" role="status" data-testid="signin-message">
            {message}
          </p>
        )}
        {link.error && (
          <p className="error" role="alert">
            {link.error}
          </p>
        )}
        {body}
      </div>
    </section>
  );
}
