// The user menu in the header: who is signed in, change password, two-factor on/off, sign out.
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { getMe, setPassword, totpDisable, totpEnable, totpSetup, type Me, type TotpSetup } from "../api/account";
import { ApiError, type ApiClient } from "../api/client";
import type { SessionAnswer } from "../auth/token";
import { CopyButton } from "./CopyButton";
import { Dialog } from "./Dialog";
import "./accounts.css";

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Who the current bearer is (GET /api/v1/auth/me), refetched by `reload`. A node without
 * accounts (no /auth/me yet) answers from /api/v1/whoami as an API token.
 */
export function useMe(api: ApiClient, token: string | null): { me: Me | null; reload: () => void } {
  const [me, setMe] = useState<Me | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!token) {
      setMe(null);
      return;
    }
    const ac = new AbortController();
    getMe(api, ac.signal)
      .catch(async (err: unknown) => {
        if (!(err instanceof ApiError) || err.status !== 404) throw err;
        const w = await api.whoami();
        return { name: w.name, role: w.role, kind: "token", totp_enabled: false } satisfies Me;
      })
      .then(setMe, () => undefined);
    return () => ac.abort();
  }, [api, token, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { me, reload };
}

function ChangePassword({ api, onClose, onSession }: { api: ApiClient; onClose: () => void; onSession: (a: SessionAnswer) => void }) {
  const [current, setCurrent] = useState("");
  const [pw, setPw] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (pw !== again) return setError("The two new passwords differ.");
    setBusy(true);
    setError("");
    try {
      // Every sign-in of this user ends; the answer is this tab's new one.
      const fresh = await setPassword(api, current, pw);
      if (fresh?.access_token) onSession(fresh);
      setDone(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title="Change password" onClose={onClose} busy={busy}>
      {done ? (
        <>
          <p role="status">Your password is changed. Your other sign-ins (other browsers, other tabs) have ended.</p>
          <div className="modal-actions">
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      ) : (
        <form className="form-grid" onSubmit={submit}>
          <label htmlFor="pw-current">Current password</label>
          <input id="pw-current" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />
          <label htmlFor="pw-new">New password</label>
          <input id="pw-new" type="password" autoComplete="new-password" value={pw} onChange={(e) => setPw(e.target.value)} />
          <label htmlFor="pw-again">Repeat the new password</label>
          <input id="pw-again" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} />
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="modal-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy || !pw}>
              {busy ? "Saving…" : "Change password"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

/** Turn two-factor sign-in on (setup → secret → confirm with a code) or off (a code). */
function TwoFactor({ api, on, onClose, onChanged }: { api: ApiClient; on: boolean; onClose: () => void; onChanged: () => void }) {
  // As it was when the dialog opened: /auth/me is refetched after the change.
  const [enabled] = useState(on);
  const [setup, setSetup] = useState<TotpSetup | null>(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [done, setDone] = useState("");

  useEffect(() => {
    if (enabled) return;
    let live = true;
    totpSetup(api).then(
      (s) => live && setSetup(s),
      (err: unknown) => live && setError(errorText(err)),
    );
    return () => {
      live = false;
    };
  }, [api, enabled]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      if (enabled) await totpDisable(api, code.trim());
      else await totpEnable(api, code.trim());
      setDone(enabled ? "Two-factor sign-in is off." : "Two-factor sign-in is on: the next sign-in asks for a code.");
      onChanged();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={enabled ? "Turn two-factor sign-in off" : "Turn two-factor sign-in on"} onClose={onClose} busy={busy}>
      {done ? (
        <>
          <p role="status">{done}</p>
          <div className="modal-actions">
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      ) : (
        <form className="form-grid" onSubmit={submit}>
          {!enabled && !setup && !error && <p className="muted">Creating a secret…</p>}
          {setup && (
            <div className="totp-setup" data-testid="totp-setup">
              <p>Add this account to your authenticator app, then enter the code it shows.</p>
              {setup.qr_svg && (
                <img className="qr" alt="QR code of the authenticator URI" src={`data:image/svg+xml;utf8,${encodeURIComponent(setup.qr_svg)}`} />
              )}
              <p className="small muted">Secret (type it in if you cannot scan):</p>
              <div className="secret-line">
                <code className="secret" data-testid="totp-secret">
                  {setup.secret}
                </code>
                <CopyButton text={setup.secret} />
              </div>
              <p className="small muted">Or open this URI on the device that has the app:</p>
              <code className="secret wrap">{setup.otpauth_uri}</code>
            </div>
          )}
          {enabled && <p>Enter a code from your authenticator app to turn two-factor sign-in off.</p>}
          {(enabled || setup) && (
            <>
              <label htmlFor="totp-code">Code</label>
              <input
                id="totp-code"
                type="text"
                inputMode="numeric"
                autoComplete="one-time-code"
                maxLength={8}
                value={code}
                onChange={(e) => setCode(e.target.value)}
              />
            </>
          )}
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          <div className="modal-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={enabled ? "danger" : "primary"} disabled={busy || !code.trim()}>
              {busy ? "Checking…" : enabled ? "Turn off" : "Turn on"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export interface UserMenuProps {
  api: ApiClient;
  me: Me | null;
  onSignOut: () => void;
  /** After a change that /auth/me reflects (two-factor on/off). */
  onChanged: () => void;
  /** A fresh sign-in the node answered (after a password change). */
  onSession: (a: SessionAnswer) => void;
}

export function UserMenu({ api, me, onSignOut, onChanged, onSession }: UserMenuProps) {
  const [open, setOpen] = useState(false);
  const [dialog, setDialog] = useState<"" | "password" | "totp">("");
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", onDown);
    window.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      window.removeEventListener("keydown", onKey);
    };
  }, [open]);

  const pick = (d: "password" | "totp") => {
    setOpen(false);
    setDialog(d);
  };
  const isUser = me?.kind === "user";

  return (
    <div className="user-menu" ref={ref}>
      <button type="button" className="user-button" aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen((o) => !o)} data-testid="user-menu">
        {me ? me.name : "Account"} <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div className="user-dropdown" role="menu" aria-label="Account">
          {me && (
            <p className="user-who" role="none">
              <strong>{me.name}</strong> <span className="pill tone-info">{me.role}</span>
              {!isUser && <span className="muted small"> API token</span>}
            </p>
          )}
          {isUser && (
            <>
              <button type="button" role="menuitem" onClick={() => pick("password")}>
                Change password
              </button>
              <button type="button" role="menuitem" onClick={() => pick("totp")} data-testid="totp-item">
                Two-factor: {me.totp_enabled ? "on" : "off"}
              </button>
            </>
          )}
          <button type="button" role="menuitem" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      )}
      {dialog === "password" && <ChangePassword api={api} onClose={() => setDialog("")} onSession={onSession} />}
      {dialog === "totp" && me && <TwoFactor api={api} on={me.totp_enabled} onClose={() => setDialog("")} onChanged={onChanged} />}
    </div>
  );
}
