import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RolloutDetail } from "./RolloutDetail";
import { decisions, fakeFetch, feed, FakeSocket, json, rollout, Services, T0, trace, TRACE_ID, type Route } from "./rollouts.fixtures";

// jsdom has no canvas: a FakeUPlot records what the gate chart would draw.
const charts = vi.hoisted(() => [] as { opts: { series: { label?: string }[] }; data: unknown[][] }[]);
vi.mock("uplot", () => ({
  default: class FakeUPlot {
    width = 300;
    constructor(opts: never, data: never) {
      charts.push({ opts, data });
    }
    setSize() {}
    destroy() {}
  },
}));

let current = rollout();
const base: Route = (url, init) => {
  const method = init.method ?? "GET";
  if (method === "GET" && url.pathname === "/api/v1/rollouts/checkout") return json(current);
  if (method === "GET" && url.pathname === "/api/v1/rollouts/checkout/decisions") return json({ decisions: decisions() });
  if (method === "GET" && url.pathname === "/api/v1/history")
    return json({ tier: "raw", granularity: 1, series: [{ name: "sentra.rollout.gate.value", labels: { rollout: "checkout", gate: "p95" }, points: [[T0 + 2, 80], [T0 + 4, 90]] }] });
  if (method === "GET" && url.pathname === `/api/v1/traces/${TRACE_ID}`) return json(trace());
  return undefined;
};

function serve(extra: Route = () => undefined) {
  const f = fakeFetch((url, init) => extra(url, init) ?? base(url, init));
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const posts = (f: ReturnType<typeof serve>) => f.calls.filter((c) => c.method === "POST");

beforeEach(() => {
  FakeSocket.all = [];
  charts.length = 0;
  current = rollout();
  window.history.replaceState(null, "", "/rollouts/checkout");
  vi.spyOn(Date, "now").mockReturnValue((T0 + 12) * 1000);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const renderPage = () =>
  render(
    <Services>
      <RolloutDetail name="checkout" feed={feed} />
    </Services>,
  );

describe("Rollout detail", () => {
  it("shows phase, weights, the held step, gates and the judge", async () => {
    const f = serve();
    renderPage();
    await screen.findByRole("heading", { name: "checkout" });
    expect(screen.getAllByTestId("phase")[0]!.textContent).toBe("Progressing");
    expect(screen.getByTestId("weights").textContent).toContain("stable 85% · canary 15%");
    expect(screen.getByTestId("hold").textContent).toBe("hold 18 s more");
    const steps = within(screen.getByRole("list", { name: "Step 2 of 5" })).getAllByRole("listitem");
    expect(steps.map((s) => s.textContent)).toEqual(["5%", "15%", "30%", "50%", "100%"]);
    expect(steps[1]!.getAttribute("aria-current")).toBe("step");
    expect(screen.getByTestId("gate-value").textContent).toBe("87.2 ms ≤ 120 ms");
    expect(document.querySelector("[data-gate=p95]")!.textContent).toContain("breaches 0 of 2 in a row");
    const judge = screen.getByTestId("judge");
    expect(judge.textContent).toContain("within the 5% floor");
    expect(judge.textContent).toContain("e-value>=1/alpha");
    expect(within(judge).getByTestId("interval").getAttribute("aria-label")).toBe("effect interval 0.98 to 1.11, floor 1.05");
    // The gate chart reads the gate's series over the rollout.
    await waitFor(() => expect(f.calls.some((c) => c.url.pathname === "/api/v1/history")).toBe(true));
    const h = f.calls.find((c) => c.url.pathname === "/api/v1/history")!.url.searchParams;
    expect(h.get("name")).toBe("sentra.rollout.gate.value");
    expect(h.get("labels")).toBe("gate=p95,rollout=checkout");
    expect(h.get("from")).toBe(String(T0));
    // Drawn with the bound as its own series across the whole range.
    await waitFor(() => expect(charts.length).toBeGreaterThan(0));
    const chart = charts[charts.length - 1]!;
    expect(chart.opts.series.map((x) => x.label)).toEqual([undefined, "p95", "bound"]);
    expect(chart.data[1]).toEqual([null, 80, 90, null]);
    expect(new Set(chart.data[2])).toEqual(new Set([120]));
  });

  it("offers only the allowed actions and posts one only after it is confirmed", async () => {
    const f = serve((url, init) =>
      init.method === "POST" && url.pathname === "/api/v1/rollouts/checkout/abort"
        ? json((current = rollout({ phase: "rolling_back", actions: [] })))
        : undefined,
    );
    renderPage();
    await screen.findByRole("heading", { name: "checkout" });
    const bar = screen.getByRole("toolbar", { name: "Rollout actions" });
    expect(within(bar).getAllByRole("button").map((b) => b.textContent)).toEqual(["Promote…", "Promote fully…", "Pause…", "Abort…"]);

    fireEvent.click(within(bar).getByRole("button", { name: "Abort…" }));
    const dialog = screen.getByRole("alertdialog", { name: "Roll back checkout?" });
    expect(dialog.textContent).toContain("Traffic returns to v1.");
    fireEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(posts(f)).toHaveLength(0);

    fireEvent.click(within(bar).getByRole("button", { name: "Abort…" }));
    expect(posts(f)).toHaveLength(0);
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Roll back" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(posts(f).map((c) => c.url.pathname)).toEqual(["/api/v1/rollouts/checkout/abort"]);
    expect(screen.getByTestId("action-result").textContent).toBe("Abort: done. The rollout is now rolling back.");
    expect(screen.getAllByTestId("phase")[0]!.textContent).toBe("Rolling back");
  });

  it("promotes fully with a body and shows the problem's detail when refused", async () => {
    const f = serve((_url, init) =>
      init.method === "POST"
        ? json({ type: "about:blank", title: "Conflict", status: 409, detail: "checkout is paused by alice; resume it first" }, 409)
        : undefined,
    );
    renderPage();
    await screen.findByRole("heading", { name: "checkout" });
    fireEvent.click(screen.getByRole("button", { name: "Promote fully…" }));
    const dialog = screen.getByRole("alertdialog", { name: "Promote checkout fully?" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Promote fully" }));
    await waitFor(() => expect(within(dialog).getByRole("alert").textContent).toBe("checkout is paused by alice; resume it first"));
    const [post] = posts(f);
    expect(post!.url.pathname).toBe("/api/v1/rollouts/checkout/promote");
    expect(JSON.parse(String(post!.body))).toEqual({ full: true });
    expect(screen.getByRole("alertdialog")).toBeTruthy(); // still open, to retry or cancel
  });

  it("expands a decision to its evidence, and an exemplar opens the trace waterfall", async () => {
    const f = serve();
    renderPage();
    const timeline = await screen.findByTestId("timeline");
    const rows = within(timeline).getAllByRole("button");
    expect(rows.map((r) => r.closest("li")!.getAttribute("data-kind"))).toEqual(["rollback", "start"]);
    expect(rows[1]!.textContent).toContain("alice (token)");
    expect(screen.queryByTestId("evidence")).toBeNull();

    fireEvent.click(rows[0]!);
    expect(rows[0]!.getAttribute("aria-expanded")).toBe("true");
    const evidence = screen.getByTestId("evidence");
    expect(evidence.textContent).toContain("progressing → rolling_back");
    expect(evidence.textContent).toContain("151 ms ≤ 120 ms");
    const exemplar = within(evidence).getByRole("button", { name: /Open trace 4bf92f35/ });

    fireEvent.click(exemplar);
    expect(window.location.search).toBe(`?trace=${TRACE_ID}`);
    const overlay = await screen.findByRole("dialog", { name: `Trace ${TRACE_ID}` });
    const waterfall = await within(overlay).findByTestId("waterfall");
    expect(f.calls.some((c) => c.url.pathname === `/api/v1/traces/${TRACE_ID}`)).toBe(true);
    const spans = waterfall.querySelectorAll("[data-span]");
    expect([...spans].map((s) => [s.getAttribute("data-span"), s.getAttribute("data-depth"), s.getAttribute("data-error")])).toEqual([
      ["root", "0", "true"],
      ["db", "1", "true"],
    ]);
    expect(waterfall.textContent).toContain("2 errors");

    act(() => {
      fireEvent.keyDown(window, { key: "Escape" });
    });
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  it("says so when there is no such rollout", async () => {
    serve((url) => (url.pathname === "/api/v1/rollouts/checkout" ? json({ title: "Not Found", status: 404, detail: "no rollout named checkout" }, 404) : undefined));
    renderPage();
    expect((await screen.findByRole("heading", { name: "No rollout named “checkout”" })).textContent).toBeTruthy();
  });
});
