import { describe, expect, it } from "vitest";
import type { Decision, Rollout } from "../api/rollouts";
import {
  actionButtons,
  actorLabel,
  breachLimit,
  formatAgo,
  formatEffect,
  formatGateValue,
  formatSeconds,
  formatWeights,
  gateComparison,
  gateSeries,
  gateTone,
  gateUnit,
  groupDecisions,
  holdTimer,
  intervalLayout,
  judgeFloor,
  mergeDecisions,
  phaseInfo,
  stepProgress,
} from "./rollouts";

const steps = [5, 15, 30, 50, 100].map((weight) => ({ weight, hold_s: 30, manual: weight === 50 }));

function decision(id: number, ts: number, kind: string, extra: Partial<Decision> = {}): Decision {
  return {
    id,
    ts,
    rollout: "checkout",
    kind,
    from_phase: "progressing",
    to_phase: "progressing",
    step_index: 1,
    weights: { stable: 85, canary: 15, baseline: 0 },
    actor: "controller",
    reason: "holding",
    evidence: null,
    ...extra,
  };
}

describe("phaseInfo", () => {
  it("gives every phase a label and a colour family", () => {
    expect(phaseInfo("progressing")).toEqual({ label: "Progressing", tone: "info", active: true });
    expect(phaseInfo("rolling_back").tone).toBe("crit");
    expect(phaseInfo("rolled_back")).toMatchObject({ label: "Rolled back", active: false });
    expect(phaseInfo("paused").tone).toBe("warn");
    expect(phaseInfo("promoted")).toMatchObject({ tone: "ok", active: false });
  });
  it("shows a phase a newer node invents as itself", () => {
    expect(phaseInfo("waiting_for_hook")).toEqual({ label: "waiting for hook", tone: "muted", active: false });
  });
  it("colours gates by status", () => {
    expect(gateTone("breach")).toBe("crit");
    expect(gateTone("pass")).toBe("ok");
    expect(gateTone("hold")).toBe("warn");
    expect(gateTone("strange")).toBe("muted");
  });
});

describe("stepProgress", () => {
  it("lights the current step and marks the ones before it done", () => {
    const cells = stepProgress({ phase: "progressing", step_index: 2, steps: 5, steps_detail: steps });
    expect(cells.map((c) => c.state)).toEqual(["done", "done", "current", "todo", "todo"]);
    expect(cells.map((c) => c.weight)).toEqual([5, 15, 30, 50, 100]);
    expect(cells[3]!.manual).toBe(true);
  });
  it("knows only the count for list rows", () => {
    const cells = stepProgress({ phase: "paused", step_index: 0, steps: 3 });
    expect(cells.map((c) => [c.weight, c.state])).toEqual([
      [null, "current"],
      [null, "todo"],
      [null, "todo"],
    ]);
  });
  it("marks the step a rollback left, and all steps once promoted", () => {
    expect(stepProgress({ phase: "rolled_back", step_index: 1, steps: 5 }).map((c) => c.state)).toEqual([
      "done",
      "failed",
      "todo",
      "todo",
      "todo",
    ]);
    expect(stepProgress({ phase: "promoted", step_index: 4, steps: 5 }).every((c) => c.state === "done")).toBe(true);
    expect(stepProgress({ phase: "pending", step_index: 0, steps: 2 }).every((c) => c.state === "todo")).toBe(true);
  });
  it("clamps a step index past the end", () => {
    expect(stepProgress({ phase: "progressing", step_index: 9, steps: 2 }).map((c) => c.state)).toEqual(["done", "current"]);
  });
});

describe("holdTimer", () => {
  it("counts the hold down from the step's start", () => {
    expect(holdTimer(steps[1], 1000, 1012)).toEqual({ elapsed: 12, remaining: 18, ratio: 0.4 });
    expect(holdTimer(steps[1], 1000, 1100)).toEqual({ elapsed: 100, remaining: 0, ratio: 1 });
  });
  it("reads a clock behind the node as not started yet", () => {
    expect(holdTimer(steps[1], 1000, 990)).toEqual({ elapsed: 0, remaining: 30, ratio: 0 });
  });
  it("has nothing to show without a step or a start", () => {
    expect(holdTimer(undefined, 1000, 1010)).toBeNull();
    expect(holdTimer(steps[0], 0, 1010)).toBeNull();
  });
  it("formats what is left", () => {
    expect(formatSeconds(11.2)).toBe("12 s");
    expect(formatSeconds(125)).toBe("2 min 5 s");
    expect(formatSeconds(120)).toBe("2 min");
  });
});

describe("gate values", () => {
  it("takes the unit from the builtin query", () => {
    expect(gateUnit("latency_p95_ms")).toBe("ms");
    expect(gateUnit("metric:staleness_ms:max")).toBe("ms");
    expect(gateUnit("error_rate_pct")).toBe("%");
    expect(gateUnit("metric:consumer_lag:max")).toBe("");
  });
  it("keeps three significant digits", () => {
    expect(formatGateValue(87.234, "latency_p95_ms")).toBe("87.2 ms");
    expect(formatGateValue(143.6, "latency_p95_ms")).toBe("144 ms");
    expect(formatGateValue(0.01234, "error_rate_pct")).toBe("0.0123%");
    expect(formatGateValue(1520, "metric:consumer_lag:max")).toBe("1520");
    expect(formatGateValue(null, "latency_p95_ms")).toBe("—");
  });
  it("writes value against bound with the gate's comparison", () => {
    expect(gateComparison({ value: 87.2, bound: 120, op: "<=", query: "latency_p95_ms" })).toBe("87.2 ms ≤ 120 ms");
    expect(gateComparison({ value: null, bound: 0.5, op: ">=", query: "success_pct" })).toBe("— ≥ 0.5%");
  });
  it("adds the range's ends so the bound crosses the chart", () => {
    expect(gateSeries([[110, 90], [105, 80]], 120, 100, 130)).toEqual([
      [100, 105, 110, 130],
      [null, 80, 90, null],
      [120, 120, 120, 120],
    ]);
    expect(gateSeries([], 5, 0, 10)).toEqual([[0, 10], [null, null], [5, 5]]);
  });
});

describe("time and labels", () => {
  it("says how long ago", () => {
    expect(formatAgo(100, 100.5)).toBe("just now");
    expect(formatAgo(100, 90)).toBe("just now"); // a node clock ahead of the browser
    expect(formatAgo(100, 112.9)).toBe("12 s ago");
    expect(formatAgo(100, 100 + 245)).toBe("4 min ago");
    expect(formatAgo(100, 100 + 3 * 3600)).toBe("3 h ago");
    expect(formatAgo(100, 100 + 2 * 86400)).toBe("2 d ago");
    expect(formatAgo(null, 1)).toBe("—");
  });
  it("names actors and weights", () => {
    expect(actorLabel("controller")).toBe("controller");
    expect(actorLabel("token:alice")).toBe("alice (token)");
    expect(actorLabel("user:bob")).toBe("bob");
    expect(formatWeights({ stable: 85, canary: 15, baseline: 0 })).toBe("85 / 15");
    expect(formatWeights({ stable: 70, canary: 15, baseline: 15 })).toBe("70 / 15 / 15");
  });
  it("writes an effect as a ratio and a change", () => {
    expect(formatEffect(1.04)).toBe("×1.04 (+4.0%)");
    expect(formatEffect(0.9)).toBe("×0.90 (−10.0%)");
    expect(formatEffect(null)).toBe("—");
  });
});

describe("judge intervals", () => {
  const spec = { judge: { metrics: [{ name: "latency", floor_pct: 5 }, { name: "throughput", direction: "decrease", floor_pct: 10 }] } };
  it("reads the floor and the harmful direction from the spec", () => {
    expect(judgeFloor(spec, "latency")).toEqual({ floor: 1.05, direction: "increase" });
    expect(judgeFloor(spec, "throughput")).toEqual({ floor: 0.9, direction: "decrease" });
    expect(judgeFloor(spec, "errors")).toEqual({ floor: null, direction: "increase" });
    expect(judgeFloor(null, "latency").floor).toBeNull();
  });
  it("places interval, effect, no-change and floor on one scale", () => {
    const l = intervalLayout([0.98, 1.11], 1.04, 1.05)!;
    expect(l.lo).toBeGreaterThan(0);
    expect(l.hi).toBeLessThan(100);
    expect(l.lo).toBeLessThan(l.one);
    expect(l.one).toBeLessThan(l.effect!);
    expect(l.effect!).toBeLessThan(l.floor!);
    expect(l.floor!).toBeLessThan(l.hi);
    // Linear: equal steps in value are equal steps on the bar.
    const at = (v: number) => ((v - l.min) / (l.max - l.min)) * 100;
    expect(l.floor).toBeCloseTo(at(1.05));
  });
  it("keeps 1.0 in view when the interval is far from it", () => {
    const l = intervalLayout([1.4, 1.6], null, null)!;
    expect(l.one).toBeGreaterThan(0);
    expect(l.one).toBeLessThan(l.lo);
    expect(l.effect).toBeNull();
    expect(intervalLayout(null, 1, 1.05)).toBeNull();
  });
  it("reads the breach limit from either spelling of the spec", () => {
    expect(breachLimit({ analysis: { consecutive_breaches_to_rollback: 2 } })).toBe(2);
    expect(breachLimit({ analysis: { consecutive_breaches_to_rollback: 2 }, rollout_gates: { consecutive_breaches_to_rollback: 3 } })).toBe(3);
    expect(breachLimit({})).toBeNull();
  });
});

describe("decision timeline", () => {
  it("sorts newest first and collapses a run of identical holds", () => {
    const groups = groupDecisions([
      decision(1, 10, "start", { reason: "started" }),
      decision(2, 12, "hold"),
      decision(3, 14, "hold"),
      decision(4, 16, "hold"),
      decision(5, 18, "rollback", { reason: "p95 breached twice" }),
    ]);
    expect(groups.map((g) => [g.head.id, g.items.map((d) => d.id)])).toEqual([
      [5, [5]],
      [4, [4, 3, 2]],
      [1, [1]],
    ]);
  });
  it("keeps holds apart when the step or the reason differs, and never merges other kinds", () => {
    const groups = groupDecisions([
      decision(1, 10, "hold"),
      decision(2, 11, "hold", { step_index: 2 }),
      decision(3, 12, "hold", { step_index: 2, reason: "no data yet" }),
      decision(4, 13, "step"),
      decision(5, 14, "step"),
    ]);
    expect(groups).toHaveLength(5);
  });
  it("joins pages without duplicates", () => {
    const merged = mergeDecisions([decision(3, 30, "hold"), decision(2, 20, "hold")], [decision(2, 20, "hold"), decision(1, 10, "start")]);
    expect(merged.map((d) => d.id)).toEqual([3, 2, 1]);
  });
});

describe("actionButtons", () => {
  const r: Pick<Rollout, "name" | "actions" | "target" | "weights" | "step_index" | "steps_detail"> = {
    name: "checkout",
    actions: ["abort", "pause", "promote", "launch_rockets"],
    target: { service: "checkout", stable: "v1", canary: "v2", baseline: "" },
    weights: { stable: 85, canary: 15, baseline: 0 },
    step_index: 1,
    steps_detail: steps,
  };
  it("offers only the allowed actions, in a fixed order, promote twice", () => {
    expect(actionButtons(r).map((b) => b.key)).toEqual(["promote", "promote-full", "pause", "abort"]);
  });
  it("says what happens to traffic", () => {
    const [promote, full, , abort] = actionButtons(r);
    expect(promote!.body).toBe("v2 goes from 15% to 30% of traffic now, without waiting for the hold.");
    expect(full).toMatchObject({ action: "promote", full: true, danger: true });
    expect(abort).toMatchObject({ title: "Roll back checkout?", confirmLabel: "Roll back", danger: true });
    expect(abort!.body.startsWith("Traffic returns to v1.")).toBe(true);
    const retry = actionButtons({ ...r, actions: ["retry"] })[0]!;
    expect(retry.body).toBe("The rollout starts again from step 1 (5% to v2).");
  });
});
