import { useCallback, useMemo, useState } from "react";
import { ackAlert, listAlerts, mergeAlert, sortAlerts, type Alert, type AlertItem, type AlertState } from "../api/alerts";
import { ToneBadge, useLiveRefresh, useNow } from "../components/RolloutBits";
import { useApp } from "../context";
import type { DecisionFeedOptions, DecisionItem } from "../live/decisions";
import { formatAgo, type Tone } from "../model/rollouts";
import { roleAtLeast } from "../model/session";

/** The Alerts page's subscription (kinds=alerts). */
export const ALERTS_QUERY = "kinds=alerts";

const STATE_TONE: Record<AlertState, Tone> = { firing: "crit", pending: "warn", resolved: "ok", inactive: "muted" };
const SEVERITY_TONE: Record<Alert["severity"], Tone> = { critical: "crit", warning: "warn", info: "info" };
const FILTERS: (AlertState | "all")[] = ["all", "firing", "pending", "resolved"];

/** When the alert last moved: resolved, fired or began. */
const since = (a: Alert) => a.resolved_at ?? a.fired_at ?? a.started_at;

function Value({ a }: { a: Alert }) {
  if (a.value === null) return <>—</>;
  if (a.kind === "absence") return <>{Math.round(a.value)} s without data</>;
  if (a.kind === "rollout") return <>{a.value ? "matching decision" : "other decision"}</>;
  return <>{Number(a.value.toPrecision(4))}</>;
}

/** Active and recent alerts, live from the stream (polling while it is down). */
export function Alerts({ feed, role }: { feed: DecisionFeedOptions; role: string | null }) {
  const { api } = useApp();
  const [rows, setRows] = useState<Alert[] | null>(null);
  const [rulesError, setRulesError] = useState("");
  const [rules, setRules] = useState<number | null>(null);
  const [error, setError] = useState("");
  const [filter, setFilter] = useState<AlertState | "all">("all");
  const now = useNow();
  const canAck = roleAtLeast(role, "operator");

  const load = useCallback(async () => {
    try {
      const r = await listAlerts(api);
      setRows(sortAlerts(r.alerts));
      setRules(r.rules);
      setRulesError(r.error);
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [api]);

  // A live item carries the alert as the API shows it: merge it at once, then refetch.
  const wants = useCallback((items: DecisionItem[]) => {
    const changed = (items as unknown as AlertItem[]).map((i) => i.data).filter((d): d is Alert => !!d && typeof d.id === "string");
    if (changed.length) setRows((old) => changed.reduce(mergeAlert, old ?? []));
    return items.length > 0;
  }, []);
  const { live, refresh } = useLiveRefresh(feed, load, wants);

  const ack = async (id: string) => {
    try {
      const a = await ackAlert(api, id);
      setRows((old) => mergeAlert(old ?? [], a));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
    void refresh();
  };

  const shown = useMemo(() => (rows ?? []).filter((a) => filter === "all" || a.state === filter), [rows, filter]);
  const firing = (rows ?? []).filter((a) => a.state === "firing").length;

  return (
    <section className="page alerts">
      <div className="page-head">
        <h1>Alerts</h1>
        <span className="muted small" data-testid="alerts-mode">
          {live ? "live" : "refreshing every 5 s"}
        </span>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {rulesError && (
        <p className="error" role="alert" data-testid="rules-error">
          The alert rules are not in use: {rulesError}
        </p>
      )}
      <div className="card toolbar" role="group" aria-label="Show alerts">
        {FILTERS.map((f) => (
          <button key={f} type="button" aria-pressed={filter === f} onClick={() => setFilter(f)}>
            {f === "all" ? "All" : f[0]!.toUpperCase() + f.slice(1)}
          </button>
        ))}
        <span className="muted small push-right" data-testid="alerts-summary">
          {firing} firing · {rules ?? "?"} rule(s)
        </span>
      </div>
      {!rows && !error && <p className="muted">Loading…</p>}
      {rows && shown.length === 0 && (
        <div className="card" data-testid="alerts-empty">
          <p>{rows.length ? "No alert in this state." : "No alert has fired."}</p>
          {rules === 0 && (
            <p className="muted small">
              No rules yet: write them in <code>alerts.yaml</code> and apply them with <code>sentra alert apply alerts.yaml</code>{" "}
              (see docs/alerts.md).
            </p>
          )}
        </div>
      )}
      {shown.length > 0 && (
        <div className="card">
          <table className="table cards-table" data-testid="alerts">
            <thead>
              <tr>
                <th scope="col">State</th>
                <th scope="col">Rule</th>
                <th scope="col">Series</th>
                <th scope="col" className="num">
                  Value
                </th>
                <th scope="col">Since</th>
                <th scope="col">Why</th>
                <th scope="col">Notified</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((a) => (
                <tr key={a.id} data-alert={a.id} data-state={a.state}>
                  <td data-label="State">
                    <ToneBadge tone={STATE_TONE[a.state]}>{a.state}</ToneBadge>
                  </td>
                  <td data-label="Rule">
                    <strong>{a.rule}</strong>{" "}
                    <ToneBadge tone={SEVERITY_TONE[a.severity]}>{a.severity}</ToneBadge>
                    {a.summary && <div className="muted small">{a.summary}</div>}
                  </td>
                  <td data-label="Series">
                    <code>{a.series}</code>
                  </td>
                  <td data-label="Value" className="num">
                    <Value a={a} />
                  </td>
                  <td data-label="Since">{formatAgo(since(a), now)}</td>
                  <td data-label="Why">{a.reason}</td>
                  <td data-label="Notified" className="small" data-testid="notified">
                    {Object.entries(a.notifications).map(([n, s]) => (
                      <div key={n}>
                        {n}: {s}
                      </div>
                    ))}
                  </td>
                  <td>
                    {a.acked_by ? (
                      <span className="muted small">acked by {a.acked_by}</span>
                    ) : (
                      canAck &&
                      a.state !== "resolved" && (
                        <button type="button" onClick={() => void ack(a.id)}>
                          Acknowledge
                        </button>
                      )
                    )}
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
