// Pure helpers of the rollout pages: phase colours and labels, step progress, gate values,
// judge intervals, the decision timeline and the confirmation texts. No I/O, no clock
// ("now" is passed in), so every rule here is tested with plain inputs.
import type { Decision, GateState, MetricVerdictState, Rollout, RolloutAction, RolloutSummary, Step, Weights } from "../api/rollouts";

const DASH = "—";

/** Colour families, mapped to the theme's --ok / --warn / --crit / --accent / --muted. */
export type Tone = "ok" | "warn" | "crit" | "info" | "muted";

export interface PhaseInfo {
  label: string;
  tone: Tone;
  /** Traffic may still move: the controller is working on it. */
  active: boolean;
}

const PHASES: Record<string, PhaseInfo> = {
  pending: { label: "Pending", tone: "muted", active: true },
  progressing: { label: "Progressing", tone: "info", active: true },
  paused: { label: "Paused", tone: "warn", active: true },
  promoting: { label: "Promoting", tone: "info", active: true },
  promoted: { label: "Promoted", tone: "ok", active: false },
  rolling_back: { label: "Rolling back", tone: "crit", active: true },
  rolled_back: { label: "Rolled back", tone: "crit", active: false },
  aborted: { label: "Aborted", tone: "warn", active: false },
  failed: { label: "Failed", tone: "crit", active: false },
};

/** Label, colour and activity of a phase; an unknown phase (a newer node) reads as itself. */
export function phaseInfo(phase: string): PhaseInfo {
  return PHASES[phase] ?? { label: phase.replace(/_/g, " ") || "unknown", tone: "muted", active: false };
}

const GATE_TONES: Record<GateState, Tone> = {
  pass: "ok",
  breach: "crit",
  nodata: "muted",
  inconclusive: "warn",
  hold: "warn",
};

export function gateTone(status: string): Tone {
  return GATE_TONES[status as GateState] ?? "muted";
}

const VERDICT_TONES: Record<MetricVerdictState, Tone> = { pass: "ok", fail: "crit", inconclusive: "warn", nodata: "muted" };

export function verdictTone(verdict: string): Tone {
  return VERDICT_TONES[verdict as MetricVerdictState] ?? "muted";
}

// ---- steps -------------------------------------------------------------------------------

export type StepState = "done" | "current" | "todo" | "failed";

export interface StepCell {
  index: number;
  /** Canary percent of this step; null when only the step count is known (list rows). */
  weight: number | null;
  manual: boolean;
  state: StepState;
}

/**
 * The step bar: steps before the current one are done, the current one is lit; once
 * promoted all are done, and after a rollback, abort or failure the step it left is marked.
 */
export function stepProgress(r: Pick<RolloutSummary, "phase" | "step_index" | "steps"> & { steps_detail?: Step[] }): StepCell[] {
  const detail = r.steps_detail ?? [];
  const n = Math.max(r.steps, detail.length);
  const current = Math.min(Math.max(0, r.step_index), Math.max(0, n - 1));
  const cells: StepCell[] = [];
  for (let i = 0; i < n; i++) {
    let state: StepState;
    if (r.phase === "promoted") state = "done";
    else if (r.phase === "pending") state = "todo";
    else if (i < current) state = "done";
    else if (i > current) state = "todo";
    else if (r.phase === "rolling_back" || r.phase === "rolled_back" || r.phase === "aborted" || r.phase === "failed") state = "failed";
    else state = "current";
    const s = detail[i];
    cells.push({ index: i, weight: s ? s.weight : null, manual: s ? s.manual : false, state });
  }
  return cells;
}

export interface HoldTimer {
  elapsed: number;
  remaining: number;
  /** 0..1 of the hold spent. */
  ratio: number;
}

/** The current step's hold: how much is spent and left at `now` (unix seconds). */
export function holdTimer(step: Step | undefined, startedAt: number, now: number): HoldTimer | null {
  if (!step || !Number.isFinite(startedAt) || startedAt <= 0) return null;
  const elapsed = Math.max(0, now - startedAt);
  const hold = Math.max(0, step.hold_s);
  return {
    elapsed,
    remaining: Math.max(0, hold - elapsed),
    ratio: hold > 0 ? Math.min(1, elapsed / hold) : 1,
  };
}

// ---- numbers and times ---------------------------------------------------------------------

function isNum(v: number | null | undefined): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** Three significant digits at most, no trailing zeros: 87.2, 0.0123, 1520. */
export function formatGateNumber(v: number | null | undefined): string {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  const digits = a >= 100 || a === 0 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(a)));
  return String(Number(v.toFixed(digits)));
}

/** The unit a builtin gate query is measured in ("latency_p95_ms" → "ms"). */
export function gateUnit(query: string): "ms" | "%" | "s" | "" {
  const q = query.toLowerCase();
  if (/(_ms|[.:]ms)(\b|:|$)/.test(q) || q.includes("_ms:")) return "ms";
  if (/_pct(\b|:|$)|percent/.test(q)) return "%";
  if (/(_s|_seconds)(\b|:|$)/.test(q)) return "s";
  return "";
}

export function formatGateValue(v: number | null | undefined, query: string): string {
  if (!isNum(v)) return DASH;
  const unit = gateUnit(query);
  const n = formatGateNumber(v);
  return unit === "%" ? `${n}%` : unit ? `${n} ${unit}` : n;
}

/** "87.2 ms ≤ 120 ms": the value against the bound, with the gate's comparison. */
export function gateComparison(g: { value: number | null; bound: number; op: string; query: string }): string {
  const op = g.op === ">=" ? "≥" : "≤";
  return `${formatGateValue(g.value, g.query)} ${op} ${formatGateValue(g.bound, g.query)}`;
}

/** "just now", "12 s ago", "4 min ago", "3 h ago", "2 d ago" (a skewed future reads as now). */
export function formatAgo(ts: number | null | undefined, now: number): string {
  if (!isNum(ts)) return DASH;
  const d = now - ts;
  if (d < 1) return "just now";
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

/** Seconds left: "12 s", "2 min 5 s". */
export function formatSeconds(s: number): string {
  const v = Math.max(0, Math.ceil(s));
  if (v < 60) return `${v} s`;
  const m = Math.floor(v / 60);
  const r = v % 60;
  return r ? `${m} min ${r} s` : `${m} min`;
}

/** Unix seconds → local "HH:MM:SS". */
export function formatClock(ts: number): string {
  if (!isNum(ts)) return DASH;
  const d = new Date(ts * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "85 / 15" (stable / canary), with the baseline's share when it has one: "70 / 15 / 15". */
export function formatWeights(w: Weights | null | undefined): string {
  if (!w) return DASH;
  return w.baseline > 0 ? `${w.stable} / ${w.canary} / ${w.baseline}` : `${w.stable} / ${w.canary}`;
}

/** "controller", "alice (token)", "alice". */
export function actorLabel(actor: string): string {
  const i = actor.indexOf(":");
  if (i < 0) return actor || DASH;
  const kind = actor.slice(0, i);
  const who = actor.slice(i + 1);
  return kind === "token" ? `${who} (token)` : who;
}

/** ×1.04 (+4.0%): the canary ÷ baseline ratio and the relative change it means. */
export function formatEffect(effect: number | null | undefined): string {
  if (!isNum(effect)) return DASH;
  const pct = (effect - 1) * 100;
  const sign = pct > 0 ? "+" : pct < 0 ? "−" : "±";
  return `×${effect.toFixed(2)} (${sign}${Math.abs(pct).toFixed(1)}%)`;
}

// ---- judge ---------------------------------------------------------------------------------

export interface JudgeFloor {
  /** The effect past which a change counts (1 + floor_pct/100 for "increase"); null: none. */
  floor: number | null;
  direction: "increase" | "decrease" | "either";
}

/** A judge metric's floor and harmful direction, read from the rollout's spec. */
export function judgeFloor(spec: Record<string, unknown> | null | undefined, metric: string): JudgeFloor {
  const judge = spec?.judge as { metrics?: { name?: string; floor_pct?: number; direction?: string }[] } | undefined;
  const m = judge?.metrics?.find((x) => x.name === metric);
  const direction = m?.direction === "decrease" || m?.direction === "either" ? m.direction : "increase";
  const pct = typeof m?.floor_pct === "number" && m.floor_pct > 0 ? m.floor_pct : 0;
  if (!pct) return { floor: null, direction };
  return { floor: direction === "decrease" ? 1 - pct / 100 : 1 + pct / 100, direction };
}

export interface IntervalLayout {
  /** Percent positions on a scale that holds the interval, 1 (no change) and the floor. */
  lo: number;
  hi: number;
  effect: number | null;
  one: number;
  floor: number | null;
  min: number;
  max: number;
}

/** Where to draw a confidence interval, the effect, "no change" and the floor on a bar. */
export function intervalLayout(interval: [number, number] | null, effect: number | null, floor: number | null): IntervalLayout | null {
  if (!interval || !isNum(interval[0]) || !isNum(interval[1])) return null;
  const [a, b] = interval[0] <= interval[1] ? interval : [interval[1], interval[0]];
  const marks = [a, b, 1, ...(isNum(floor) ? [floor] : []), ...(isNum(effect) ? [effect] : [])];
  let min = Math.min(...marks);
  let max = Math.max(...marks);
  const pad = (max - min || 0.1) * 0.12;
  min -= pad;
  max += pad;
  const at = (v: number) => ((v - min) / (max - min)) * 100;
  return {
    lo: at(a),
    hi: at(b),
    effect: isNum(effect) ? at(effect) : null,
    one: at(1),
    floor: isNum(floor) ? at(floor) : null,
    min,
    max,
  };
}

// ---- gate chart ----------------------------------------------------------------------------

/**
 * Columns for a gate chart: time, value, bound. The bound is a constant column and the
 * range's ends are added, so the bound line crosses the whole chart even with few points.
 */
export function gateSeries(points: [number, number | null][], bound: number, from: number, to: number): [number[], (number | null)[], number[]] {
  const sorted = points.filter((p) => isNum(p[0])).sort((x, y) => x[0] - y[0]);
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  if (!sorted.length || sorted[0]![0] > from) {
    xs.push(from);
    ys.push(null);
  }
  for (const [t, v] of sorted) {
    xs.push(t);
    ys.push(isNum(v) ? v : null);
  }
  if (xs[xs.length - 1]! < to) {
    xs.push(to);
    ys.push(null);
  }
  return [xs, ys, xs.map(() => bound)];
}

// ---- decision timeline ---------------------------------------------------------------------

export interface DecisionGroup {
  key: string;
  /** The newest decision of the group: what the row shows. */
  head: Decision;
  /** All of them, newest first; more than one only for repeated holds and notes. */
  items: Decision[];
}

// The controller repeats these while nothing changes; a run of them is one row.
const REPEATING = new Set(["hold", "note"]);

/**
 * The timeline, newest first: consecutive decisions of a repeating kind (hold, note) on the
 * same step with the same reason collapse into one group; everything else is its own row.
 */
export function groupDecisions(decisions: Decision[]): DecisionGroup[] {
  const sorted = [...decisions].sort((a, b) => b.ts - a.ts || b.id - a.id);
  const groups: DecisionGroup[] = [];
  for (const d of sorted) {
    const last = groups[groups.length - 1];
    if (
      last &&
      REPEATING.has(d.kind) &&
      last.head.kind === d.kind &&
      last.head.step_index === d.step_index &&
      last.head.reason === d.reason
    ) {
      last.items.push(d);
      continue;
    }
    groups.push({ key: String(d.id), head: d, items: [d] });
  }
  return groups;
}

/** The tone of a decision kind on the timeline. */
export function decisionTone(kind: string): Tone {
  if (kind === "rollback" || kind === "rolled_back" || kind === "fail") return "crit";
  if (kind === "abort" || kind === "pause" || kind === "hold") return "warn";
  if (kind === "promoted" || kind === "promote") return "ok";
  if (kind === "note") return "muted";
  return "info";
}

// ---- actions -------------------------------------------------------------------------------

export interface ActionButton {
  key: string;
  action: RolloutAction;
  full: boolean;
  label: string;
  /** The confirmation: a question, what happens to traffic, the confirm button's label. */
  title: string;
  body: string;
  confirmLabel: string;
  danger: boolean;
}

const ORDER: RolloutAction[] = ["resume", "promote", "pause", "retry", "abort"];

/** The buttons for a rollout's allowed actions, each with its confirmation text. */
export function actionButtons(r: Pick<Rollout, "name" | "actions" | "target" | "weights" | "step_index" | "steps_detail">): ActionButton[] {
  const { name, target } = r;
  const canary = target.canary;
  const stable = target.stable;
  const next = r.steps_detail[r.step_index + 1];
  const first = r.steps_detail[0];
  const out: ActionButton[] = [];
  for (const action of ORDER) {
    if (!r.actions.includes(action)) continue;
    if (action === "pause")
      out.push({
        key: "pause",
        action,
        full: false,
        label: "Pause",
        title: `Pause ${name}?`,
        body: `Traffic stays where it is (${r.weights.canary}% to ${canary}) and nothing moves until you resume. Gates keep being evaluated.`,
        confirmLabel: "Pause",
        danger: false,
      });
    else if (action === "resume")
      out.push({
        key: "resume",
        action,
        full: false,
        label: "Resume",
        title: `Resume ${name}?`,
        body: `The rollout continues from step ${r.step_index + 1} (${r.weights.canary}% to ${canary}) and the hold starts again.`,
        confirmLabel: "Resume",
        danger: false,
      });
    else if (action === "promote") {
      out.push({
        key: "promote",
        action,
        full: false,
        label: "Promote",
        title: `Promote ${name} to the next step?`,
        body: next
          ? `${canary} goes from ${r.weights.canary}% to ${next.weight}% of traffic now, without waiting for the hold.`
          : `${canary} takes all traffic now and the rollout completes.`,
        confirmLabel: "Promote",
        danger: false,
      });
      out.push({
        key: "promote-full",
        action,
        full: true,
        label: "Promote fully",
        title: `Promote ${name} fully?`,
        body: `${canary} gets 100% of traffic now; the remaining steps and their gates are skipped. ${stable} stops receiving traffic.`,
        confirmLabel: "Promote fully",
        danger: true,
      });
    } else if (action === "retry")
      out.push({
        key: "retry",
        action,
        full: false,
        label: "Retry",
        title: `Retry ${name}?`,
        body: `The rollout starts again from step 1${first ? ` (${first.weight}% to ${canary})` : ""}.`,
        confirmLabel: "Retry",
        danger: false,
      });
    else
      out.push({
        key: "abort",
        action,
        full: false,
        label: "Abort",
        title: `Roll back ${name}?`,
        body: `Traffic returns to ${stable}. ${canary} stops receiving requests; the rollout ends as aborted.`,
        confirmLabel: "Roll back",
        danger: true,
      });
  }
  return out;
}

/** Newest page and older pages joined: one entry per id, newest first. */
export function mergeDecisions(...pages: Decision[][]): Decision[] {
  const byId = new Map<number, Decision>();
  for (const page of pages) for (const d of page) if (!byId.has(d.id)) byId.set(d.id, d);
  return [...byId.values()].sort((a, b) => b.ts - a.ts || b.id - a.id);
}

/** How many breaches in a row roll back, from the spec (analysis or the seed's rollout_gates). */
export function breachLimit(spec: Record<string, unknown> | null | undefined): number | null {
  const seed = (spec?.rollout_gates as { consecutive_breaches_to_rollback?: unknown } | null | undefined)
    ?.consecutive_breaches_to_rollback;
  const analysis = (spec?.analysis as { consecutive_breaches_to_rollback?: unknown } | undefined)?.consecutive_breaches_to_rollback;
  const v = typeof seed === "number" ? seed : analysis;
  return typeof v === "number" && v > 0 ? v : null;
}
