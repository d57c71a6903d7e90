import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Summary } from "../api/types";
import { PollingSource, type ConnectionState } from "./source";

const sample = (ts: number): Summary => ({ ts, hostname: "h", previous_run_unclean: false, collectors: {}, metrics: {} });

function setVisibility(state: "visible" | "hidden") {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}

describe("PollingSource", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    setVisibility("visible");
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("polls about once a second and reports live", async () => {
    let n = 0;
    const fetch = vi.fn(async () => sample(++n));
    const src = new PollingSource(fetch, { intervalMs: 1000 });
    const got: number[] = [];
    src.subscribe((s) => got.push(s.ts));
    src.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(src.state).toBe("live");
    await vi.advanceTimersByTimeAsync(3000);
    expect(got).toEqual([1, 2, 3, 4]);
    expect(src.latest?.ts).toBe(4);
    src.stop();
  });

  it("goes reconnecting, then offline, with back-off, and recovers", async () => {
    let fail = true;
    const fetch = vi.fn(async () => {
      if (fail) throw new ApiError(0, "Network error", "down");
      return sample(1);
    });
    const states: ConnectionState[] = [];
    const src = new PollingSource(fetch, { intervalMs: 1000, offlineAfter: 3 });
    src.onState((s) => states.push(s));
    src.start();
    await vi.advanceTimersByTimeAsync(0); // 1st failure
    expect(src.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000); // 2nd after 1 s
    await vi.advanceTimersByTimeAsync(2000); // 3rd after 2 s
    expect(src.state).toBe("offline");
    expect(fetch).toHaveBeenCalledTimes(3);
    await vi.advanceTimersByTimeAsync(3999); // 4 s back-off not yet over
    expect(fetch).toHaveBeenCalledTimes(3);
    fail = false;
    await vi.advanceTimersByTimeAsync(1);
    expect(src.state).toBe("live");
    expect(states).toEqual(["reconnecting", "offline", "live"]);
    src.stop();
  });

  it("stops polling while the tab is hidden", async () => {
    const fetch = vi.fn(async () => sample(1));
    const src = new PollingSource(fetch, { intervalMs: 1000 });
    src.start();
    await vi.advanceTimersByTimeAsync(0);
    setVisibility("hidden");
    expect(src.state).toBe("paused");
    const calls = fetch.mock.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fetch.mock.calls.length).toBe(calls);
    setVisibility("visible");
    await vi.advanceTimersByTimeAsync(0);
    expect(fetch.mock.calls.length).toBe(calls + 1);
    expect(src.state).toBe("live");
    src.stop();
  });

  it("gives up on 401 (the app returns to sign-in)", async () => {
    const fetch = vi.fn(async () => {
      throw new ApiError(401, "Unauthorized", "bad token");
    });
    const src = new PollingSource(fetch, { intervalMs: 1000 });
    src.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fetch).toHaveBeenCalledTimes(1);
  });
});
