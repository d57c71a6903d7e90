import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { getInsight, type HostInsight, type Insight } from "../api/insight";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { labelsText } from "../live/series";

export const INSIGHT_REFRESH_MS = 10_000;

/** "ok" / "warn" / "crit" for a 0-100 score where high is bad (stress) or good (stability). */
export function scoreLevel(value: number | null, highIsBad: boolean): "ok" | "warn" | "crit" | "none" {
  if (value === null) return "none";
  const bad = highIsBad ? value : 100 - value;
  return bad >= 80 ? "crit" : bad >= 50 ? "warn" : "ok";
}

/** "in 3.2 h", "in 4 d", "—" (not heading there). */
export function formatHours(hours: number | null | undefined): string {
  if (hours === null || hours === undefined || !Number.isFinite(hours)) return "—";
  if (hours <= 0) return "now";
  if (hours < 48) return `in ${hours < 10 ? hours.toFixed(1) : Math.round(hours)} h`;
  return `in ${Math.round(hours / 24)} d`;
}

function Score({ title, value, highIsBad, testId, nullText = "—" }: { title: string; value: number | null; highIsBad: boolean; testId: string; nullText?: string }) {
  const level = scoreLevel(value, highIsBad);
  const pct = value === null ? 0 : Math.min(100, Math.max(0, value));
  return (
    <div className="tile" data-testid={testId} data-level={level}>
      <div className="tile-head">
        <span className="tile-title">{title}</span>
        <span className="tile-value">{value === null ? nullText : Math.round(value)}</span>
      </div>
      <div className={`bar bar-${level === "none" ? "ok" : level}`} role="meter" aria-label={title} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
        <div className="bar-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}

function HostCardView({ host }: { host: HostInsight }) {
  const p = host.predictions;
  const fullest = [...p.disk_full_hours].filter((d) => d.hours !== null).sort((a, b) => (a.hours ?? 0) - (b.hours ?? 0))[0];
  const trend = p.memory_trend_pct_per_hour;
  return (
    <div className="host-scores" data-testid={`host-scores-${host.host}`}>
      <div className="tiles">
        <Score title="Stress" value={host.stress} highIsBad testId="score-stress" />
        {/* null while every series of the host is still in its warm-up: nothing judged yet */}
        <Score title="Stability" value={host.stability} highIsBad={false} testId="score-stability" nullText="learning…" />
        <div className="tile" data-testid="score-anomalies">
          <div className="tile-head">
            <span className="tile-title">Anomalous</span>
            <span className="tile-value">{host.anomalous.length}</span>
          </div>
          <div className="tile-sub">
            {host.anomaly_rate_pct === null ? "—" : `${host.anomaly_rate_pct.toFixed(1)} %`} of {host.series} series
            {host.learning ? ` · ${host.learning} learning` : ""}
          </div>
        </div>
        <div className="tile" data-testid="score-predictions">
          <div className="tile-head">
            <span className="tile-title">Outlook</span>
          </div>
          <div className="tile-sub">
            disk {fullest ? `${fullest.mountpoint ?? fullest.device ?? ""} full ${formatHours(fullest.hours)}` : "not filling"}
          </div>
          <div className="tile-sub">
            memory {trend === null || trend === undefined ? "—" : `${trend >= 0 ? "+" : ""}${trend.toFixed(2)} pt/h`}
            {p.memory_full_hours != null ? ` · full ${formatHours(p.memory_full_hours)}` : ""}
          </div>
        </div>
      </div>
      {host.anomalous.length > 0 && (
        <ul className="anomalous-list" aria-label={`Anomalous series on ${host.host}`}>
          {host.anomalous.slice(0, 8).map((a) => (
            <li key={`${a.series}${labelsText(a.labels)}`}>
              <span className="mono">{a.series}</span> <span className="muted">{labelsText(a.labels)}</span>{" "}
              <span className="muted small">since {formatTimestamp(a.since)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Stress and stability of each host the node learns about (GET /api/v1/insight). Shows
 * nothing when insight is off on the node (503). */
export function HostScores() {
  const { api } = useApp();
  const [insight, setInsight] = useState<Insight | null>(null);
  const [off, setOff] = useState(false);

  useEffect(() => {
    const ac = new AbortController();
    const load = () =>
      getInsight(api, ac.signal).then(
        (r) => {
          setInsight(r);
          setOff(false);
        },
        (err: unknown) => {
          if (!ac.signal.aborted && err instanceof ApiError && err.status === 503) setOff(true);
        },
      );
    void load();
    const t = setInterval(() => void load(), INSIGHT_REFRESH_MS);
    return () => {
      clearInterval(t);
      ac.abort();
    };
  }, [api]);

  if (off || !insight) return null;
  return (
    <section className="card" aria-labelledby="insight-title" data-testid="host-scores">
      <h2 id="insight-title">
        Insight{" "}
        <span className="muted small">
          {insight.series} baselines{insight.restore.state === "damaged" ? " · the saved baselines were damaged; learning afresh" : ""}
        </span>
      </h2>
      {insight.hosts.length === 0 ? (
        <p className="muted">Learning: the first scores appear after a few samples.</p>
      ) : (
        insight.hosts.map((h) => <HostCardView key={h.host} host={h} />)
      )}
    </section>
  );
}
