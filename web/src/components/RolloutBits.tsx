// Small pieces both rollout pages use: the phase badge, the step bar and a ticking clock.
import { useEffect, useRef, useState, type ReactNode } from "react";
import type { RolloutSummary, Step } from "../api/rollouts";
import { coalesce, DecisionFeed, type DecisionFeedOptions, type DecisionItem } from "../live/decisions";
import { formatSeconds, phaseInfo, stepProgress, type HoldTimer, type Tone } from "../model/rollouts";

/** Unix seconds, re-read every `ms` (for "x s ago" and hold timers). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** How often the rollout pages poll while the live socket is down. */
export const POLL_MS = 5000;

/**
 * Keep a page fresh: `load` runs at once, whenever `wants(items)` says a live item matters
 * (or the stream had a gap), and every POLL_MS while the live socket is not connected
 * (not while the tab is hidden). Answers whether the socket is live, and the refresh.
 */
export function useLiveRefresh(
  feed: DecisionFeedOptions,
  load: () => Promise<void>,
  wants: (items: DecisionItem[]) => boolean,
): { live: boolean; refresh: () => Promise<void> } {
  const [live, setLive] = useState(false);
  const loadRef = useRef(load);
  loadRef.current = load;
  const wantsRef = useRef(wants);
  wantsRef.current = wants;
  const [refresh] = useState(() => coalesce(() => loadRef.current()));

  useEffect(() => {
    void refresh();
  }, [load, refresh]);

  useEffect(() => {
    const f = new DecisionFeed(
      feed,
      (items, gap) => {
        if (gap || wantsRef.current(items)) void refresh();
      },
      setLive,
    );
    f.start();
    return () => f.stop();
  }, [feed, refresh]);

  useEffect(() => {
    if (live) return;
    const t = setInterval(() => {
      if (document.visibilityState !== "hidden") void refresh();
    }, POLL_MS);
    return () => clearInterval(t);
  }, [live, refresh]);

  return { live, refresh };
}

export function ToneBadge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`pill tone-${tone}`} title={title} data-tone={tone}>
      {children}
    </span>
  );
}

export function PhaseBadge({ phase }: { phase: string }) {
  const info = phaseInfo(phase);
  return (
    <span className={`pill tone-${info.tone}`} data-phase={phase} data-testid="phase">
      <span className="dot" aria-hidden="true" />
      {info.label}
    </span>
  );
}

/**
 * 5 → 15 → 30 → 50 → 100 with the current step lit. With `hold`, the current step shows
 * how much of its hold is spent.
 */
export function StepProgress({
  rollout,
  steps,
  hold,
  compact = false,
}: {
  rollout: Pick<RolloutSummary, "phase" | "step_index" | "steps">;
  steps?: Step[];
  hold?: HoldTimer | null;
  compact?: boolean;
}) {
  const cells = stepProgress({ ...rollout, steps_detail: steps });
  const current = cells.find((c) => c.state === "current" || c.state === "failed");
  const label = `Step ${Math.min(rollout.step_index + 1, cells.length)} of ${cells.length}`;
  return (
    <div className={`steps${compact ? " steps-compact" : ""}`} data-testid="steps">
      <ol aria-label={label}>
        {cells.map((c) => (
          <li
            key={c.index}
            className={`step step-${c.state}`}
            data-state={c.state}
            aria-current={c === current ? "step" : undefined}
            title={`Step ${c.index + 1}${c.weight !== null ? `: ${c.weight}%` : ""}${c.manual ? " (manual promote)" : ""}`}
          >
            <span className="step-bar">
              {c === current && hold && c.state === "current" && (
                <span className="step-hold" style={{ width: `${hold.ratio * 100}%` }} />
              )}
            </span>
            {!compact && (
              <span className="step-label">
                {c.weight !== null ? `${c.weight}%` : c.index + 1}
                {c.manual && <span className="step-manual"> manual</span>}
              </span>
            )}
          </li>
        ))}
      </ol>
      {hold && current?.state === "current" && !compact && (
        <span className="muted small step-hold-text" data-testid="hold">
          {hold.remaining > 0 ? `hold ${formatSeconds(hold.remaining)} more` : "hold done"}
        </span>
      )}
    </div>
  );
}
