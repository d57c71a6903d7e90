import { useCallback, useMemo, useState } from "react";
import { listRollouts, type Rollout, type RolloutSummary } from "../api/rollouts";
import { PhaseBadge, StepProgress, useLiveRefresh, useNow } from "../components/RolloutBits";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { itemSummary, type DecisionFeedOptions, type DecisionItem } from "../live/decisions";
import { formatAgo, formatWeights, phaseInfo } from "../model/rollouts";
import { Link } from "../router";

/** Active rollouts first, then the most recently updated. */
export function sortRollouts(rows: RolloutSummary[]): RolloutSummary[] {
  return [...rows].sort(
    (a, b) =>
      Number(phaseInfo(b.phase).active) - Number(phaseInfo(a.phase).active) ||
      b.updated_at - a.updated_at ||
      a.name.localeCompare(b.name),
  );
}

function EmptyState() {
  return (
    <div className="card empty-state" data-testid="rollouts-empty">
      <h2>No rollouts yet</h2>
      <p>
        A rollout sends a new version a growing share of traffic (5 → 15 → 30 → 50 → 100 % by default), holds each
        step while its gates and the judge watch the telemetry, and rolls back by itself when they say so.
      </p>
      <p>Start one from a spec with the CLI, or try the built-in demo:</p>
      <pre className="code">
        <code>{"sentra rollout apply spec.yaml\nsentra demo canary"}</code>
      </pre>
      <p className="muted small">It shows up here as soon as the controller picks it up; this page updates by itself.</p>
    </div>
  );
}

export function Rollouts({ feed }: { feed: DecisionFeedOptions }) {
  const { api } = useApp();
  const [rows, setRows] = useState<RolloutSummary[] | null>(null);
  const [error, setError] = useState("");
  const now = useNow();

  const load = useCallback(async () => {
    try {
      const r = await listRollouts(api);
      setRows(r.rollouts);
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [api]);

  // A state item carries the new summary: show it at once, then refetch for the rest.
  const wants = useCallback((items: DecisionItem[]) => {
    const states = items.map(itemSummary).filter((s): s is RolloutSummary => s !== null);
    if (states.length)
      setRows((old) => {
        const byName = new Map((old ?? []).map((r) => [r.name, r]));
        for (const s of states) byName.set(s.name, { ...byName.get(s.name), ...s });
        return [...byName.values()];
      });
    return items.length > 0;
  }, []);

  const { live } = useLiveRefresh(feed, load, wants);
  const sorted = useMemo(() => (rows ? sortRollouts(rows) : null), [rows]);

  return (
    <section className="page rollouts">
      <div className="page-head">
        <h1>Rollouts</h1>
        <span className="muted small" data-testid="rollouts-mode">
          {live ? "live" : "refreshing every 5 s"}
        </span>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!sorted && !error && <p className="muted">Loading…</p>}
      {sorted && sorted.length === 0 && <EmptyState />}
      {sorted && sorted.length > 0 && (
        <div className="card">
          <table className="table rollout-table" data-testid="rollouts">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Service</th>
                <th scope="col">Versions</th>
                <th scope="col">Phase</th>
                <th scope="col">Progress</th>
                <th scope="col" className="num" title="stable / canary (/ baseline), percent">
                  Weights
                </th>
                <th scope="col">Message</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((r) => (
                <tr key={r.name} data-rollout={r.name} data-phase={r.phase}>
                  <td data-label="Name">
                    <Link to={`/rollouts/${encodeURIComponent(r.name)}`} className="mono">
                      {r.name}
                    </Link>
                  </td>
                  <td data-label="Service">{r.target.service}</td>
                  <td data-label="Versions" className="mono">
                    {r.target.stable} → {r.target.canary}
                  </td>
                  <td data-label="Phase">
                    <PhaseBadge phase={r.phase} />
                  </td>
                  <td data-label="Progress" className="progress-cell">
                    <StepProgress rollout={r} steps={"steps_detail" in r ? (r as Rollout).steps_detail : undefined} compact />
                  </td>
                  <td data-label="Weights" className="num" title={`stable ${r.weights.stable}%, canary ${r.weights.canary}%`}>
                    {formatWeights(r.weights)}
                  </td>
                  <td data-label="Message" className="message-cell">
                    {r.message}
                  </td>
                  <td data-label="Updated" className="muted">
                    <time data-ts={r.updated_at} title={formatTimestamp(r.updated_at)}>
                      {formatAgo(r.updated_at, now)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
