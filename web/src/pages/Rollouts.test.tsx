import { act, cleanup, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { POLL_MS } from "../components/RolloutBits";
import { Rollouts } from "./Rollouts";
import { fakeFetch, feed, FakeSocket, json, Services, summary, T0 } from "./rollouts.fixtures";

beforeEach(() => {
  FakeSocket.all = [];
  vi.spyOn(Date, "now").mockReturnValue((T0 + 20) * 1000);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function serve(rows: () => unknown[]) {
  const f = fakeFetch((url) => (url.pathname === "/api/v1/rollouts" ? json({ rollouts: rows() }) : undefined));
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const renderPage = () =>
  render(
    <Services>
      <Rollouts feed={feed} />
    </Services>,
  );

describe("Rollouts list", () => {
  it("renders a row per rollout from the API, active ones first", async () => {
    serve(() => [
      summary({ name: "search", phase: "promoted", step_index: 4, updated_at: T0 + 19, weights: { stable: 0, canary: 100, baseline: 0 }, message: "promoted" }),
      summary(),
    ]);
    renderPage();
    const table = await screen.findByTestId("rollouts");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.getAttribute("data-rollout"))).toEqual(["checkout", "search"]);
    const first = rows[0]!;
    expect(within(first).getByRole("link", { name: "checkout" }).getAttribute("href")).toBe("/rollouts/checkout");
    expect(first.textContent).toContain("v1 → v2");
    expect(within(first).getByTestId("phase").textContent).toBe("Progressing");
    expect(first.textContent).toContain("85 / 15");
    expect(first.textContent).toContain("step 2 of 5 (15%): holding 12 s more");
    expect(first.textContent).toContain("7 s ago");
    // The step bar: five steps, the second lit.
    const steps = within(first).getAllByRole("listitem");
    expect(steps.map((s) => s.getAttribute("data-state"))).toEqual(["done", "current", "todo", "todo", "todo"]);
    expect(within(rows[1]!).getByTestId("phase").getAttribute("data-phase")).toBe("promoted");
  });

  it("explains how to start a rollout when there is none", async () => {
    serve(() => []);
    renderPage();
    const empty = await screen.findByTestId("rollouts-empty");
    expect(empty.textContent).toContain("sentra rollout apply spec.yaml");
    expect(empty.textContent).toContain("sentra demo canary");
  });

  it("shows the API's problem detail", async () => {
    vi.stubGlobal(
      "fetch",
      fakeFetch(() => json({ title: "Forbidden", status: 403, detail: "role viewer required" }, 403)).fn,
    );
    renderPage();
    expect((await screen.findByRole("alert")).textContent).toBe("role viewer required");
  });

  it("refetches when a decision arrives on the live socket, and shows a new state at once", async () => {
    let phase = "progressing";
    const f = serve(() => [summary({ phase: phase as never })]);
    renderPage();
    await screen.findByTestId("rollouts");
    const ws = FakeSocket.all[0]!;
    expect(ws.url).toBe("ws://node/api/v1/live?kinds=decisions&access_token=T");
    act(() => ws.receive({ type: "hello" }));
    await waitFor(() => expect(screen.getByTestId("rollouts-mode").textContent).toBe("live"));
    const before = f.calls.length;

    phase = "rolling_back";
    act(() =>
      ws.receive({
        type: "frame",
        dropped: 0,
        items: [{ kind: "decisions", topic: "rollout.decision.checkout", source: "rollout", ts: T0 + 13, data: { id: 18, rollout: "checkout" } }],
      }),
    );
    await waitFor(() => expect(screen.getByTestId("phase").textContent).toBe("Rolling back"));
    expect(f.calls.length).toBeGreaterThan(before);

    // A state item carries the summary: it shows without waiting for the fetch.
    act(() =>
      ws.receive({
        type: "frame",
        dropped: 0,
        items: [{ kind: "decisions", topic: "rollout.state.checkout", source: "rollout", ts: T0 + 14, data: summary({ phase: "rolled_back", message: "traffic back on v1" }) }],
      }),
    );
    expect(screen.getByTestId("phase").textContent).toBe("Rolled back");
    expect(screen.getByTestId("rollouts").textContent).toContain("traffic back on v1");
  });

  it("polls every 5 s while the live socket is down", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout"] });
    const f = serve(() => [summary()]);
    renderPage();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    const list = () => f.calls.filter((c) => c.url.pathname === "/api/v1/rollouts").length;
    expect(list()).toBe(1);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS);
    });
    expect(list()).toBe(2);
    // Once the socket is live, polling stops.
    act(() => FakeSocket.all[0]!.receive({ type: "hello" }));
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    const n = list();
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS * 3);
    });
    expect(list()).toBe(n);
  });
});
