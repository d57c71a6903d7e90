import { useEffect, useState } from "react";
import { listAgents, type Agent, type AgentsResponse } from "../api/agents";
import { useNow } from "../components/RolloutBits";
import { useApp } from "../context";
import { formatBytes, formatTimestamp } from "../format";
import { formatAgo } from "../model/rollouts";
import { Link } from "../router";

/** How often the list is read again (agents report every few seconds). */
export const AGENTS_REFRESH_MS = 5000;

function Spool({ agent }: { agent: Agent }) {
  const s = agent.spool;
  return (
    <span title={`${s.samples} samples, ${formatBytes(s.bytes)} on disk, ${s.torn} torn tails cut off`}>
      {s.batches} waiting
      {s.dropped_batches > 0 && (
        <span className="error" data-testid={`dropped-${agent.id}`}>
          {" "}
          · {s.dropped_batches} dropped ({s.dropped_samples} samples)
        </span>
      )}
    </span>
  );
}

/** The agents that report to this node: online, version, last seen, spool, collectors. */
export function Agents() {
  const { api } = useApp();
  const now = useNow();
  const [data, setData] = useState<AgentsResponse | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    const ac = new AbortController();
    const load = () =>
      listAgents(api, ac.signal).then(
        (r) => {
          setData(r);
          setError("");
        },
        (err: unknown) => {
          if (!ac.signal.aborted) setError(err instanceof Error ? err.message : String(err));
        },
      );
    void load();
    const t = setInterval(() => void load(), AGENTS_REFRESH_MS);
    return () => {
      clearInterval(t);
      ac.abort();
    };
  }, [api]);

  return (
    <section className="page agents">
      <div className="page-head">
        <h1>Agents</h1>
        {data && (
          <span className="muted">
            this node: {data.local.hostname} · sentra {data.local.version}
          </span>
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {data && data.agents.length === 0 && (
        <p className="muted" data-testid="agents-empty">
          No agent has reported yet. On another host run <code>sentra agent --server URL --token-file FILE</code> with an
          operator token of this node.
        </p>
      )}
      {data && data.agents.length > 0 && (
        <div className="table-scroll">
          <table className="table" data-testid="agents">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">State</th>
                <th scope="col">Version</th>
                <th scope="col">Last seen</th>
                <th scope="col">Last batch</th>
                <th scope="col">Spool</th>
                <th scope="col">Collectors</th>
              </tr>
            </thead>
            <tbody>
              {data.agents.map((a) => (
                <tr key={a.id} data-id={a.id}>
                  <td>
                    <Link to={`/history?host=${encodeURIComponent(a.id)}`} className="mono">
                      {a.id}
                    </Link>
                    {a.hostname && a.hostname !== a.id && <span className="muted"> {a.hostname}</span>}
                    {a.address && <div className="muted small mono">{a.address}</div>}
                  </td>
                  <td>
                    <span className={`badge badge-${a.online ? "ok" : "error"}`} data-testid={`state-${a.id}`}>
                      <span className="dot" aria-hidden="true" />
                      {a.online ? "online" : "offline"}
                    </span>
                    {a.last_error && <div className="muted small">{a.last_error}</div>}
                  </td>
                  <td className="mono">{a.version}</td>
                  <td title={formatTimestamp(a.last_seen)}>{formatAgo(a.last_seen, now)}</td>
                  <td title={formatTimestamp(a.last_batch_ts)}>{formatAgo(a.last_batch_ts, now)}</td>
                  <td>
                    <Spool agent={a} />
                  </td>
                  <td className="small">
                    {a.collectors.map((c) => (
                      <span key={c.name} className={`badge badge-${c.state === "ok" ? "ok" : c.state === "error" ? "error" : "stale"}`} title={c.message}>
                        {c.name}
                      </span>
                    ))}
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
