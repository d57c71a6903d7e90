import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { listAudit, type AuditEntry } from "../api/account";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { navigate, useLocationPath } from "../router";
import "../components/accounts.css";

export const AUDIT_PAGE = 100;
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** 2xx ok, 4xx warn (refused), 5xx crit. */
export function statusTone(status: number): "ok" | "warn" | "crit" | "muted" {
  if (status >= 500) return "crit";
  if (status >= 400) return "warn";
  if (status >= 200 && status < 400) return "ok";
  return "muted";
}

/** Admin: who changed what (state-changing requests and refused sign-ins), newest first. */
export function Audit() {
  const { api } = useApp();
  const { search } = useLocationPath();
  // The filters live in the URL (?actor=&path=) so a view can be shared and reloaded.
  const filters = useMemo(() => {
    const q = new URLSearchParams(search);
    return { actor: q.get("actor") ?? "", path: q.get("path") ?? "" };
  }, [search]);
  const [actor, setActor] = useState(filters.actor);
  const [path, setPath] = useState(filters.path);
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [more, setMore] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [error, setError] = useState("");

  const load = useCallback(async () => {
    try {
      const r = await listAudit(api, { limit: AUDIT_PAGE, ...filters });
      setEntries(r.entries);
      setMore(r.entries.length >= AUDIT_PAGE);
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, [api, filters]);
  useEffect(() => {
    setActor(filters.actor);
    setPath(filters.path);
    void load();
  }, [load, filters]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (actor.trim()) q.set("actor", actor.trim());
    if (path.trim()) q.set("path", path.trim());
    const s = q.toString();
    const to = `/audit${s ? `?${s}` : ""}`;
    if (to === `/audit${search}`) void load();
    else navigate(to, { replace: true });
  };

  const older = async () => {
    const last = entries?.[entries.length - 1];
    if (!last) return;
    setLoadingOlder(true);
    try {
      const r = await listAudit(api, { limit: AUDIT_PAGE, beforeId: last.id, ...filters });
      setEntries((old) => {
        const seen = new Set((old ?? []).map((e) => e.id));
        return [...(old ?? []), ...r.entries.filter((e) => !seen.has(e.id))];
      });
      setMore(r.entries.length >= AUDIT_PAGE);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setLoadingOlder(false);
    }
  };

  return (
    <section className="page audit">
      <div className="page-head">
        <h1>Audit log</h1>
        <button type="button" className="push-right" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <form className="card toolbar audit-filters" onSubmit={apply} role="search" aria-label="Filter the audit log">
        <label>
          <span className="muted small">Actor</span>
          <input type="search" value={actor} onChange={(e) => setActor(e.target.value)} placeholder="alice" aria-label="Actor" />
        </label>
        <label>
          <span className="muted small">Path starts with</span>
          <input type="search" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/api/v1/wg" aria-label="Path" />
        </label>
        <button type="submit">Filter</button>
        {(filters.actor || filters.path) && (
          <button type="button" onClick={() => navigate("/audit", { replace: true })}>
            Clear
          </button>
        )}
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!entries && !error && <p className="muted">Loading…</p>}
      {entries && entries.length === 0 && <p className="muted">Nothing recorded{filters.actor || filters.path ? " for this filter" : ""}.</p>}
      {entries && entries.length > 0 && (
        <div className="card">
          <table className="table cards-table audit-table" data-testid="audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Request</th>
                <th scope="col" className="num">
                  Status
                </th>
                <th scope="col">Address</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id} data-id={e.id}>
                  <td data-label="Time" className="mono nowrap">
                    {formatTimestamp(e.ts)}
                  </td>
                  <td data-label="Actor">
                    <strong>{e.actor || "—"}</strong>{" "}
                    <span className="muted small">{[e.kind, e.role].filter(Boolean).join(" · ")}</span>
                  </td>
                  <td data-label="Request" className="mono">
                    {e.method} {e.path}
                  </td>
                  <td data-label="Status" className="num">
                    <span className={`pill tone-${statusTone(e.status)}`}>{e.status}</span>
                  </td>
                  <td data-label="Address" className="mono">
                    {e.ip || "—"}
                  </td>
                  <td data-label="Detail" className="message-cell">
                    {e.detail}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {more && (
            <div className="toolbar">
              <button type="button" onClick={older} disabled={loadingOlder}>
                {loadingOlder ? "Loading…" : "Older"}
              </button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}
