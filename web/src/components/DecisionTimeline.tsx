import { useMemo, useState } from "react";
import type { Decision } from "../api/rollouts";
import { formatTimestamp } from "../format";
import { actorLabel, decisionTone, formatClock, formatWeights, groupDecisions, type DecisionGroup } from "../model/rollouts";
import { formatMs } from "../model/waterfall";
import { ToneBadge } from "./RolloutBits";
import { GateTable, MetricRows } from "./RolloutEvidence";

function Evidence({ group, spec, onTrace }: { group: DecisionGroup; spec: Record<string, unknown> | null; onTrace: (traceId: string) => void }) {
  const d = group.head;
  const ev = d.evidence ?? {};
  const gates = ev.gates ?? [];
  const exemplars = ev.exemplars ?? [];
  return (
    <div className="evidence" data-testid="evidence">
      <p className="muted small">
        {d.from_phase && d.to_phase && d.from_phase !== d.to_phase ? `${d.from_phase} → ${d.to_phase} · ` : ""}
        step {d.step_index + 1} · weights {formatWeights(d.weights)} · {formatTimestamp(d.ts)} · #{d.id}
      </p>
      {group.items.length > 1 && (
        <p className="muted small">
          Repeated {group.items.length}× from {formatClock(group.items[group.items.length - 1]!.ts)} to {formatClock(d.ts)}; the
          evidence below is the latest.
        </p>
      )}
      <GateTable gates={gates} />
      {ev.judge && (
        <div className="evidence-judge">
          <p>
            <ToneBadge tone={ev.judge.verdict === "pass" ? "ok" : ev.judge.verdict === "fail" ? "crit" : "warn"}>
              judge {ev.judge.verdict}
            </ToneBadge>{" "}
            <span className="mono">{Math.round(ev.judge.score)}</span> {ev.judge.explanation}
          </p>
          <MetricRows metrics={ev.judge.metrics} spec={spec} />
        </div>
      )}
      {exemplars.length > 0 && (
        <div className="exemplars">
          <h3 className="small">Exemplar traces</h3>
          <ul>
            {exemplars.map((x) => (
              <li key={`${x.trace_id}:${x.span_id}`}>
                <button
                  type="button"
                  className={`exemplar${x.status === "error" ? " exemplar-error" : ""}`}
                  onClick={() => onTrace(x.trace_id)}
                  data-trace={x.trace_id}
                  aria-label={`Open trace ${x.trace_id} (${x.name}, ${formatMs(x.duration_ms)}, ${x.status})`}
                >
                  <span className="mono">{x.name}</span> <span className="mono">{formatMs(x.duration_ms)}</span>{" "}
                  <span className={x.status === "error" ? "error" : "muted"}>{x.status}</span>{" "}
                  <span className="mono muted small">{x.trace_id.slice(0, 12)}…</span>
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      {gates.length === 0 && !ev.judge && exemplars.length === 0 && <p className="muted small">No evidence recorded with this decision.</p>}
    </div>
  );
}

/** The decisions, newest first; a row expands to its evidence and exemplar traces. */
export function DecisionTimeline({
  decisions,
  spec,
  onTrace,
  onMore,
  loadingMore,
}: {
  decisions: Decision[];
  spec: Record<string, unknown> | null;
  onTrace: (traceId: string) => void;
  onMore: (() => void) | null;
  loadingMore: boolean;
}) {
  const groups = useMemo(() => groupDecisions(decisions), [decisions]);
  const [open, setOpen] = useState<Set<string>>(() => new Set());
  const toggle = (key: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(key)) n.delete(key);
      else n.add(key);
      return n;
    });

  if (groups.length === 0) return <p className="muted">No decisions yet.</p>;
  return (
    <>
      <ol className="timeline" data-testid="timeline">
        {groups.map((g) => {
          const d = g.head;
          const expanded = open.has(g.key);
          return (
            <li key={g.key} className={`decision tone-border-${decisionTone(d.kind)}`} data-decision={d.id} data-kind={d.kind}>
              <button type="button" className="decision-line" aria-expanded={expanded} onClick={() => toggle(g.key)}>
                <time className="mono muted" data-ts={d.ts} title={formatTimestamp(d.ts)}>
                  {formatClock(d.ts)}
                </time>
                <ToneBadge tone={decisionTone(d.kind)}>
                  {d.kind}
                  {g.items.length > 1 ? ` ×${g.items.length}` : ""}
                </ToneBadge>
                <span className="decision-actor muted small">{actorLabel(d.actor)}</span>
                <span className="decision-reason">{d.reason}</span>
              </button>
              {expanded && <Evidence group={g} spec={spec} onTrace={onTrace} />}
            </li>
          );
        })}
      </ol>
      {onMore && (
        <button type="button" onClick={onMore} disabled={loadingMore} aria-busy={loadingMore}>
          {loadingMore ? "Loading…" : "Older decisions"}
        </button>
      )}
    </>
  );
}
