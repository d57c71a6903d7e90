import { useCallback, useEffect, useState, type FormEvent } from "react";
import { createToken, deleteToken, listTokens, tokenSecret, type ApiToken } from "../api/account";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyButton } from "../components/CopyButton";
import { Dialog } from "../components/Dialog";
import { useNow } from "../components/RolloutBits";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { formatAgo } from "../model/rollouts";
import "../components/accounts.css";
import { PageMessages } from "../components/PageMessages";

const ROLES = ["viewer", "operator", "admin"];
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Create a token. Its secret is shown once, in this dialog only: it lives in this
 * component's state and is gone when the dialog closes (the node keeps only a hash).
 */
function CreateToken({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [role, setRole] = useState("viewer");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [secret, setSecret] = useState("");

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError("Name the token after what uses it (e.g. ci, grafana).");
    setBusy(true);
    setError("");
    try {
      const answer = await createToken(api, { name: name.trim(), role });
      const s = tokenSecret(answer);
      if (!s) throw new Error("The node created the token but its answer holds no secret.");
      setSecret(s);
      onCreated();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (secret)
    return (
      <Dialog title={`Token ${name.trim()} is created`} onClose={onClose}>
        <p className="notice warn">Copy it now: it is shown only this once. The node keeps only a hash of it.</p>
        <div className="secret-line">
          <code className="secret wrap" data-testid="new-token">
            {secret}
          </code>
          <CopyButton text={secret} />
        </div>
        <p className="hint">
          Use it as <code>Authorization: Bearer …</code>, or sign in with it on the sign-in page.
        </p>
        <div className="modal-actions">
          <button type="button" className="primary" onClick={onClose}>
            I have copied it
          </button>
        </div>
      </Dialog>
    );

  return (
    <Dialog title="Create an API token" onClose={onClose} busy={busy}>
      <form className="form-grid" onSubmit={submit} aria-label="Create token">
        <label htmlFor="token-name">Name</label>
        <input id="token-name" type="text" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        <label htmlFor="token-role">Role</label>
        <select id="token-role" value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <p className="hint">A token works until it is revoked here or with <code>sentra token revoke</code>.</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="modal-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Creating…" : "Create token"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Admin: API tokens (for scripts and integrations; people sign in with a password). */
export function Tokens() {
  const { api } = useApp();
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [error, setError] = useState("");
  const [result, setResult] = useState("");
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const now = useNow(10_000);

  const load = useCallback(async () => {
    try {
      setTokens((await listTokens(api)).tokens);
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, [api]);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section className="page tokens">
      <div className="page-head">
        <h1>API tokens</h1>
        <button type="button" className="primary push-right" onClick={() => setCreating(true)}>
          Create token
        </button>
      </div>
      <PageMessages error={error} result={result} loading={!tokens} />
      {tokens && tokens.length === 0 && (
        <div className="card empty-state">
          <h2>No API tokens</h2>
          <p>
            Scripts and integrations use a token; create one here or with <code>sentra token create --name ci --role viewer</code>.
          </p>
        </div>
      )}
      {tokens && tokens.length > 0 && (
        <div className="card">
          <table className="table cards-table" data-testid="tokens">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={String(t.id)} data-token={t.name}>
                  <td data-label="Name">
                    <strong>{t.name}</strong>
                  </td>
                  <td data-label="Role">{t.role}</td>
                  <td data-label="Created">{formatTimestamp(t.created_at)}</td>
                  <td data-label="Last used" title={t.last_used_at ? formatTimestamp(t.last_used_at) : undefined}>
                    {t.last_used_at ? formatAgo(t.last_used_at, now) : "never"}
                  </td>
                  <td data-label="" className="row-actions">
                    <button type="button" className="danger" onClick={() => setRevoking(t)}>
                      Revoke…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <CreateToken
          onClose={() => setCreating(false)}
          onCreated={() => {
            void load();
          }}
        />
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke token"
        onCancel={() => setRevoking(null)}
        onConfirm={async () => {
          await deleteToken(api, revoking!.id);
          setResult(`${revoking!.name} is revoked.`);
          setRevoking(null);
          await load();
        }}
      >
        <p>Whatever uses this token ({revoking?.role}) gets 401 from now on. This cannot be undone; create a new token instead.</p>
      </ConfirmDialog>
    </section>
  );
}
