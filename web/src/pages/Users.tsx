import { useCallback, useEffect, useState, type FormEvent } from "react";
import { createUser, deleteUser, listUsers, updateUser, type User } from "../api/account";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Dialog } from "../components/Dialog";
import { useNow } from "../components/RolloutBits";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { formatAgo } from "../model/rollouts";
import "../components/accounts.css";
import { PageMessages } from "../components/PageMessages";

const ROLES = ["viewer", "operator", "admin"];
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function AddUser({ onClose, onDone }: { onClose: () => void; onDone: (name: string) => void }) {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [role, setRole] = useState("viewer");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return setError("Give the user a name.");
    setBusy(true);
    setError("");
    try {
      await createUser(api, { name: name.trim(), role, password });
      onDone(name.trim());
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Add a user" onClose={onClose} busy={busy}>
      <form className="form-grid" onSubmit={submit} aria-label="Add user">
        <label htmlFor="user-name">Name</label>
        <input id="user-name" type="text" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" autoCapitalize="none" />
        <label htmlFor="user-role">Role</label>
        <select id="user-role" value={role} onChange={(e) => setRole(e.target.value)}>
          {ROLES.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <label htmlFor="user-password">Initial password</label>
        <input id="user-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <p className="hint">Tell them the password another way; they can change it from the user menu.</p>
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
            {busy ? "Adding…" : "Add user"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ResetPassword({ user, onClose, onDone }: { user: User; onClose: () => void; onDone: () => void }) {
  const { api } = useApp();
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await updateUser(api, user.name, { password });
      onDone();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Reset ${user.name}'s password`} onClose={onClose} busy={busy}>
      <form className="form-grid" onSubmit={submit} aria-label="Reset password">
        <label htmlFor="reset-password">New password</label>
        <input id="reset-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <p className="hint">Tell them the new password another way; they can change it from the user menu.</p>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="modal-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !password}>
            {busy ? "Saving…" : "Set password"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** Admin: the accounts. `self` is the signed-in user's name (marked, and not deletable from here). */
export function Users({ self }: { self: string }) {
  const { api } = useApp();
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState("");
  const [result, setResult] = useState("");
  const [adding, setAdding] = useState(false);
  const [resetting, setResetting] = useState<User | null>(null);
  const [disabling, setDisabling] = useState<User | null>(null);
  const [deleting, setDeleting] = useState<User | null>(null);
  const now = useNow(10_000);

  const load = useCallback(async () => {
    try {
      const r = await listUsers(api);
      setUsers([...r.users].sort((a, b) => a.name.localeCompare(b.name)));
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, [api]);
  useEffect(() => {
    void load();
  }, [load]);

  const patch = async (u: User, p: { role?: string; disabled?: boolean }, done: string) => {
    try {
      await updateUser(api, u.name, p);
      setResult(done);
      setError("");
      await load();
    } catch (err) {
      setError(errorText(err));
      throw err;
    }
  };

  return (
    <section className="page users">
      <div className="page-head">
        <h1>Users</h1>
        <button type="button" className="primary push-right" onClick={() => setAdding(true)}>
          Add user
        </button>
      </div>
      <PageMessages error={error} result={result} loading={!users} />
      {users && (
        <div className="card">
          <table className="table cards-table" data-testid="users">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Two-factor</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.name} data-user={u.name} className={u.disabled ? "row-disabled" : undefined}>
                  <td data-label="Name">
                    <strong>{u.name}</strong>
                    {u.name === self && <span className="muted small"> (you)</span>}
                  </td>
                  <td data-label="Role">
                    <select
                      value={u.role}
                      aria-label={`Role of ${u.name}`}
                      onChange={(e) => void patch(u, { role: e.target.value }, `${u.name} is now ${e.target.value}.`).catch(() => undefined)}
                    >
                      {(ROLES.includes(u.role) ? ROLES : [u.role, ...ROLES]).map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td data-label="Two-factor">{u.totp_enabled ? "on" : "off"}</td>
                  <td data-label="Status">
                    <span className={`pill tone-${u.disabled ? "warn" : "ok"}`}>{u.disabled ? "disabled" : "active"}</span>
                    {u.has_password === false && <span className="muted small"> no password yet</span>}
                  </td>
                  <td data-label="Created" title={formatTimestamp(u.created_at)}>
                    {u.created_at ? formatAgo(u.created_at, now) : "—"}
                  </td>
                  <td data-label="" className="row-actions">
                    <button type="button" onClick={() => setResetting(u)}>
                      Reset password…
                    </button>
                    {u.disabled ? (
                      <button type="button" onClick={() => void patch(u, { disabled: false }, `${u.name} can sign in again.`).catch(() => undefined)}>
                        Enable
                      </button>
                    ) : (
                      <button type="button" onClick={() => setDisabling(u)} disabled={u.name === self} title={u.name === self ? "You cannot disable yourself" : undefined}>
                        Disable…
                      </button>
                    )}
                    <button type="button" className="danger" onClick={() => setDeleting(u)} disabled={u.name === self}>
                      Delete…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <AddUser
          onClose={() => setAdding(false)}
          onDone={(name) => {
            setAdding(false);
            setResult(`${name} is added.`);
            void load();
          }}
        />
      )}
      {resetting && (
        <ResetPassword
          user={resetting}
          onClose={() => setResetting(null)}
          onDone={() => {
            setResult(`${resetting.name}'s password is reset.`);
            setResetting(null);
          }}
        />
      )}
      <ConfirmDialog
        open={disabling !== null}
        title={`Disable ${disabling?.name ?? ""}?`}
        confirmLabel="Disable"
        onCancel={() => setDisabling(null)}
        onConfirm={async () => {
          await patch(disabling!, { disabled: true }, `${disabling!.name} is disabled.`);
          setDisabling(null);
        }}
      >
        <p>They cannot sign in until an admin enables the account again. The account and its audit history stay.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirmLabel="Delete user"
        onCancel={() => setDeleting(null)}
        onConfirm={async () => {
          await deleteUser(api, deleting!.name);
          setResult(`${deleting!.name} is deleted.`);
          setDeleting(null);
          await load();
        }}
      >
        <p>The account is gone for good and they cannot sign in with it again. The audit log keeps their past actions.</p>
      </ConfirmDialog>
    </section>
  );
}
