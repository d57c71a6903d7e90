import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Insight } from "../api/insight";
import { fakeFetch, json, Services } from "../pages/rollouts.fixtures";
import { formatHours, HostScores, scoreLevel } from "./HostScores";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const insight: Insight = {
  host: "web-1",
  restore: { state: "restored", series: 40, saved_at: 1_764_615_000, message: "" },
  series: 42,
  max_series: 5000,
  analysed_samples: 1000,
  skipped_samples: 0,
  evicted_series: 0,
  anomalous_now: 1,
  hosts: [
    {
      host: "web-1",
      ts: 1_764_615_010,
      series: 42,
      anomaly_rate_pct: 2.4,
      stress: 87.5,
      stability: 64.2,
      anomalous: [{ series: "system.cpu.utilization", labels: { cpu: "total" }, since: 1_764_614_990 }],
      predictions: {
        disk_full_hours: [
          { mountpoint: "/var", device: "sda2", hours: 30 },
          { mountpoint: "/", device: "sda1", hours: 5.5 },
          { mountpoint: "/home", device: "sda3", hours: null },
        ],
        memory_full_hours: null,
        memory_trend_pct_per_hour: 0.25,
      },
    },
  ],
};

function serve(status = 200) {
  const f = fakeFetch((url) =>
    url.pathname === "/api/v1/insight"
      ? status === 200
        ? json(insight)
        : json({ title: "Service unavailable", status, detail: "insight is off" }, status)
      : undefined,
  );
  vi.stubGlobal("fetch", f.fn);
  return f;
}

describe("HostScores", () => {
  it("shows stress, stability, anomalous series and the nearest full disk", async () => {
    serve();
    render(
      <Services>
        <HostScores />
      </Services>,
    );
    const stress = await screen.findByTestId("score-stress");
    expect(stress.textContent).toContain("88");
    expect(stress.getAttribute("data-level")).toBe("crit");
    const stability = screen.getByTestId("score-stability");
    expect(stability.textContent).toContain("64");
    expect(stability.getAttribute("data-level")).toBe("ok");
    expect(screen.getByRole("meter", { name: "Stress" }).getAttribute("aria-valuenow")).toBe("88");
    expect(screen.getByTestId("score-anomalies").textContent).toContain("2.4 % of 42 series");
    const outlook = screen.getByTestId("score-predictions").textContent ?? "";
    expect(outlook).toContain("/ full in 5.5 h");
    expect(outlook).toContain("+0.25 pt/h");
    expect(screen.getByRole("list", { name: "Anomalous series on web-1" }).textContent).toContain("system.cpu.utilization");
  });

  it("says learning… while every series of the host is in its warm-up", async () => {
    const fresh = { ...insight.hosts[0], stability: null, anomaly_rate_pct: null, anomalous: [], learning: 42 };
    vi.stubGlobal(
      "fetch",
      fakeFetch((url) => (url.pathname === "/api/v1/insight" ? json({ ...insight, anomalous_now: 0, hosts: [fresh] }) : undefined)).fn,
    );
    render(
      <Services>
        <HostScores />
      </Services>,
    );
    const stability = await screen.findByTestId("score-stability");
    expect(stability.textContent).toContain("learning…");
    expect(stability.textContent).not.toContain("100");
    expect(stability.getAttribute("data-level")).toBe("none");
    expect(screen.getByTestId("score-anomalies").textContent).toContain("42 learning");
  });

  it("shows nothing when insight is off on the node", async () => {
    const f = serve(503);
    const { container } = render(
      <Services>
        <HostScores />
      </Services>,
    );
    await waitFor(() => expect(f.calls.length).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 0));
    expect(container.textContent).toBe("");
  });

  it("grades scores and hours", () => {
    expect(scoreLevel(null, true)).toBe("none");
    expect(scoreLevel(10, true)).toBe("ok");
    expect(scoreLevel(60, true)).toBe("warn");
    expect(scoreLevel(15, false)).toBe("crit");
    expect(formatHours(null)).toBe("—");
    expect(formatHours(0)).toBe("now");
    expect(formatHours(12.4)).toBe("in 12 h");
    expect(formatHours(100)).toBe("in 4 d");
  });
});
