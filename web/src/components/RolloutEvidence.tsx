// What a rollout is judged by: gate cards (value vs bound, with a chart), the judge's verdict
// per metric with its interval, and the compact forms the decision timeline reuses.
import type { GateStatus, MetricVerdict, Verdict } from "../api/rollouts";
import { GateChart } from "../charts/GateChart";
import {
  formatEffect,
  formatGateNumber,
  gateComparison,
  gateTone,
  intervalLayout,
  judgeFloor,
  verdictTone,
} from "../model/rollouts";
import { ToneBadge } from "./RolloutBits";

export function GateCards({
  rollout,
  gates,
  from,
  to,
  refreshKey,
  breachLimit,
}: {
  rollout: string;
  gates: GateStatus[];
  from: number;
  to: number;
  refreshKey: number;
  breachLimit: number | null;
}) {
  if (gates.length === 0) return <p className="muted">This rollout has no threshold gates.</p>;
  return (
    <div className="gate-grid">
      {gates.map((g) => (
        <article key={g.name} className={`gate-card tone-border-${gateTone(g.status)}`} data-gate={g.name} data-status={g.status}>
          <div className="gate-head">
            <h3 className="mono">{g.name}</h3>
            <ToneBadge tone={gateTone(g.status)}>{g.status}</ToneBadge>
          </div>
          <div className="gate-value" data-testid="gate-value">
            {gateComparison(g)}
          </div>
          <div className="muted small">
            {g.query} · {g.samples.toLocaleString()} samples · breaches {g.breaches}
            {breachLimit ? ` of ${breachLimit}` : ""} in a row · no data: {g.no_data}
          </div>
          {g.explanation && <p className="gate-why small">{g.explanation}</p>}
          {g.kind === "threshold" && <GateChart rollout={rollout} gate={g} from={from} to={to} refreshKey={refreshKey} />}
        </article>
      ))}
    </div>
  );
}

/** The effect's interval on a small bar: "no change" (1) dashed, the floor solid, the effect a dot. */
export function IntervalBar({ metric, floor }: { metric: MetricVerdict; floor: number | null }) {
  const l = intervalLayout(metric.interval, metric.effect, floor);
  if (!l || !metric.interval) return null;
  const [a, b] = metric.interval;
  return (
    <div
      className={`interval tone-${verdictTone(metric.verdict)}`}
      role="img"
      aria-label={`effect interval ${formatGateNumber(a)} to ${formatGateNumber(b)}${floor !== null ? `, floor ${formatGateNumber(floor)}` : ""}`}
      data-testid="interval"
    >
      <span className="interval-range" style={{ left: `${l.lo}%`, width: `${Math.max(0.5, l.hi - l.lo)}%` }} />
      <span className="interval-one" style={{ left: `${l.one}%` }} title="no change (1.0)" />
      {l.floor !== null && <span className="interval-floor" style={{ left: `${l.floor}%` }} title={`floor ${formatGateNumber(floor)}`} />}
      {l.effect !== null && <span className="interval-effect" style={{ left: `${l.effect}%` }} />}
    </div>
  );
}

export function MetricRows({ metrics, spec }: { metrics: MetricVerdict[]; spec: Record<string, unknown> | null }) {
  return (
    <ul className="metric-list">
      {metrics.map((m) => {
        const { floor } = judgeFloor(spec, m.name);
        return (
          <li key={m.name} className="metric" data-metric={m.name} data-verdict={m.verdict}>
            <div className="metric-head">
              <span className="mono">{m.name}</span>
              <ToneBadge tone={verdictTone(m.verdict)}>{m.verdict}</ToneBadge>
              <span className="muted small">
                n {m.canary_n.toLocaleString()} canary / {m.baseline_n.toLocaleString()} baseline · effect {formatEffect(m.effect)}
                {m.interval ? ` · [${formatGateNumber(m.interval[0])}, ${formatGateNumber(m.interval[1])}]` : ""}
                {m.e_value !== null ? ` · e ${formatGateNumber(m.e_value)}` : ""}
              </span>
            </div>
            <p className="small metric-why">{m.explanation}</p>
            <IntervalBar metric={m} floor={floor} />
            {m.rule && (
              <p className="muted small">
                rule: <code>{m.rule}</code>
              </p>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function JudgePanel({ judge, spec }: { judge: Verdict; spec: Record<string, unknown> | null }) {
  const score = Math.max(0, Math.min(100, judge.score));
  return (
    <div className="judge" data-testid="judge" data-verdict={judge.verdict}>
      <div className="judge-head">
        <ToneBadge tone={verdictTone(judge.verdict)}>{judge.verdict}</ToneBadge>
        <span className="judge-score mono" title="score, 0–100">
          {Math.round(score)}
        </span>
        <span
          className={`bar judge-bar tone-${verdictTone(judge.verdict)}`}
          role="meter"
          aria-label="Judge score"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(score)}
        >
          <span className="bar-fill" style={{ width: `${score}%` }} />
        </span>
        <span className="muted small">
          {judge.mode} · α {judge.alpha}
        </span>
      </div>
      {judge.explanation && <p>{judge.explanation}</p>}
      <MetricRows metrics={judge.metrics} spec={spec} />
    </div>
  );
}

/** A decision's gate values, one line each (the timeline's evidence). */
export function GateTable({ gates }: { gates: GateStatus[] }) {
  if (gates.length === 0) return null;
  return (
    <div className="table-scroll">
      <table className="table evidence-table">
        <thead>
          <tr>
            <th scope="col">Gate</th>
            <th scope="col">Value vs bound</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Breaches
            </th>
          </tr>
        </thead>
        <tbody>
          {gates.map((g) => (
            <tr key={g.name} data-gate={g.name}>
              <td className="mono">{g.name}</td>
              <td className="mono">{gateComparison(g)}</td>
              <td>
                <ToneBadge tone={gateTone(g.status)}>{g.status}</ToneBadge>
              </td>
              <td className="num">{g.breaches}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
