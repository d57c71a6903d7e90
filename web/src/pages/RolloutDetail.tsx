import { useCallback, useMemo, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { getRollout, listDecisions, rolloutAction, type Decision, type Rollout } from "../api/rollouts";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { DecisionTimeline } from "../components/DecisionTimeline";
import { GateCards, JudgePanel } from "../components/RolloutEvidence";
import { PhaseBadge, StepProgress, useLiveRefresh, useNow } from "../components/RolloutBits";
import { RolloutReportButton } from "../components/ReportButton";
import { TraceOverlay } from "../components/TraceWaterfall";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { itemRollout, itemSummary, type DecisionFeedOptions, type DecisionItem } from "../live/decisions";
import { actionButtons, breachLimit, formatAgo, holdTimer, mergeDecisions, phaseInfo, type ActionButton } from "../model/rollouts";
import { Link, navigate, useLocationPath } from "../router";

const PAGE = 100;
// Gate charts refetch at most this often (seconds), however often the rollout changes.
const CHART_REFRESH_S = 5;

function Header({ r, onAction, now }: { r: Rollout; onAction: (b: ActionButton) => void; now: number }) {
  const buttons = actionButtons(r);
  return (
    <div className="card rollout-head">
      <div className="rollout-title">
        <h1>
          <span className="mono">{r.name}</span>
        </h1>
        <PhaseBadge phase={r.phase} />
      </div>
      <dl className="kv rollout-facts">
        <dt>Service</dt>
        <dd>{r.target.service}</dd>
        <dt>Versions</dt>
        <dd className="mono">
          {r.target.stable} → {r.target.canary}
          {r.target.baseline ? ` (baseline ${r.target.baseline})` : ""}
        </dd>
        <dt>Weights</dt>
        <dd data-testid="weights">
          <span className="weights-bar" aria-hidden="true">
            <span className="w-stable" style={{ width: `${r.weights.stable}%` }} />
            <span className="w-canary" style={{ width: `${r.weights.canary}%` }} />
            <span className="w-baseline" style={{ width: `${r.weights.baseline}%` }} />
          </span>{" "}
          stable {r.weights.stable}% · canary {r.weights.canary}%{r.weights.baseline ? ` · baseline ${r.weights.baseline}%` : ""}
        </dd>
        <dt>Traffic</dt>
        <dd>
          {r.actuator.type}
          {r.actuator.detail ? <span className="muted small"> — {r.actuator.detail}</span> : null}
        </dd>
        <dt>Updated</dt>
        <dd title={formatTimestamp(r.updated_at)}>
          {formatAgo(r.updated_at, now)} <span className="muted small">(started {formatTimestamp(r.created_at)})</span>
        </dd>
      </dl>
      {r.message && <p className="rollout-message">{r.message}</p>}
      {buttons.length > 0 && (
        <div className="toolbar rollout-actions" role="toolbar" aria-label="Rollout actions">
          {buttons.map((b) => (
            <button key={b.key} type="button" className={b.danger ? "danger" : undefined} onClick={() => onAction(b)} data-action={b.key}>
              {b.label}…
            </button>
          ))}
        </div>
      )}
    </div>
  );
}

export function RolloutDetail({ name, feed }: { name: string; feed: DecisionFeedOptions }) {
  const { api } = useApp();
  const { search } = useLocationPath();
  const trace = useMemo(() => new URLSearchParams(search).get("trace"), [search]);
  const [rollout, setRollout] = useState<Rollout | null>(null);
  const [latest, setLatest] = useState<Decision[]>([]);
  const [older, setOlder] = useState<Decision[]>([]);
  const [exhausted, setExhausted] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState("");
  const [missing, setMissing] = useState(false);
  const [pending, setPending] = useState<ActionButton | null>(null);
  const [result, setResult] = useState("");
  const now = useNow();

  const load = useCallback(async () => {
    try {
      const [r, d] = await Promise.all([getRollout(api, name), listDecisions(api, name, { limit: PAGE })]);
      setRollout(r);
      setLatest(d.decisions);
      setError("");
      setMissing(false);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setMissing(true);
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [api, name]);

  const wants = useCallback(
    (items: DecisionItem[]) => {
      const mine = items.filter((i) => itemRollout(i) === name);
      for (const i of mine) {
        const s = itemSummary(i);
        if (s) setRollout((r) => (r ? { ...r, ...s } : r));
      }
      return mine.length > 0;
    },
    [name],
  );
  const { refresh } = useLiveRefresh(feed, load, wants);

  const decisions = useMemo(() => mergeDecisions(latest, older), [latest, older]);
  const hasMore = !exhausted && decisions.length >= PAGE;
  const loadOlder = async () => {
    const last = decisions[decisions.length - 1];
    if (!last) return;
    setLoadingMore(true);
    try {
      const d = await listDecisions(api, name, { limit: PAGE, beforeId: last.id });
      setOlder((o) => mergeDecisions(o, d.decisions));
      if (d.decisions.length < PAGE) setExhausted(true);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoadingMore(false);
    }
  };

  const close = useCallback(() => setPending(null), []);
  const act = async (b: ActionButton) => {
    // Errors propagate to the dialog, which shows the problem's detail.
    const r = await rolloutAction(api, name, b.action, { full: b.full });
    setRollout(r);
    setPending(null);
    setResult(`${b.label}: done. The rollout is now ${phaseInfo(r.phase).label.toLowerCase()}.`);
    void refresh();
  };

  const here = `/rollouts/${encodeURIComponent(name)}`;
  // Opened from the timeline: closing goes back (so Back does not reopen it); from a link: replace.
  const openedHere = useRef(false);
  const openTrace = useCallback(
    (id: string) => {
      openedHere.current = true;
      navigate(`${here}?trace=${encodeURIComponent(id)}`);
    },
    [here],
  );
  const closeTrace = useCallback(() => {
    if (openedHere.current) {
      openedHere.current = false;
      window.history.back();
    } else navigate(here, { replace: true });
  }, [here]);

  if (!rollout) {
    return (
      <section className="page rollout-detail">
        <p>
          <Link to="/rollouts">← Rollouts</Link>
        </p>
        {missing ? (
          <>
            <h1>No rollout named “{name}”</h1>
            <p className="muted">{error}</p>
          </>
        ) : error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : (
          <p className="muted">Loading…</p>
        )}
      </section>
    );
  }

  const step = rollout.steps_detail[rollout.step_index];
  const hold = rollout.phase === "progressing" ? holdTimer(step, rollout.step_started_at, now) : null;
  const chartTo = (Math.floor(Math.max(rollout.updated_at, rollout.created_at) / CHART_REFRESH_S) + 1) * CHART_REFRESH_S;

  return (
    <section className="page rollout-detail">
      <p className="crumbs">
        <Link to="/rollouts">← Rollouts</Link>
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <p className="notice ok" role="status" data-testid="action-result">
          {result}
        </p>
      )}
      <Header r={rollout} onAction={setPending} now={now} />
      <div className="toolbar rollout-report">
        <RolloutReportButton name={rollout.name} />
      </div>

      <section className="card" aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        <StepProgress rollout={rollout} steps={rollout.steps_detail} hold={hold} />
        {step?.manual && rollout.phase === "paused" && (
          <p className="muted small">This step waits for a person: promote when you are satisfied.</p>
        )}
      </section>

      <section className="card" aria-labelledby="gates-title">
        <h2 id="gates-title">Gates</h2>
        <GateCards
          rollout={rollout.name}
          gates={rollout.gates}
          from={rollout.created_at}
          to={chartTo}
          refreshKey={chartTo}
          breachLimit={breachLimit(rollout.spec)}
        />
      </section>

      {rollout.judge && (
        <section className="card" aria-labelledby="judge-title">
          <h2 id="judge-title">Judge</h2>
          <JudgePanel judge={rollout.judge} spec={rollout.spec} />
        </section>
      )}

      <section className="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">Decisions</h2>
        <DecisionTimeline
          decisions={decisions}
          spec={rollout.spec}
          onTrace={openTrace}
          onMore={hasMore ? () => void loadOlder() : null}
          loadingMore={loadingMore}
        />
      </section>

      {rollout.spec_yaml && (
        <details className="card spec">
          <summary>Spec</summary>
          <pre className="code">
            <code>{rollout.spec_yaml}</code>
          </pre>
        </details>
      )}

      {pending && (
        <ConfirmDialog open title={pending.title} confirmLabel={pending.confirmLabel} onConfirm={() => act(pending)} onCancel={close}>
          <p>{pending.body}</p>
        </ConfirmDialog>
      )}
      {trace && <TraceOverlay traceId={trace} onClose={closeTrace} />}
    </section>
  );
}
