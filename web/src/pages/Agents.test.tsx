import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ALL_HOSTS, hostLabels, LOCAL_HOST, matchesHost, type Agent } from "../api/agents";
import { HostPicker } from "../components/HostPicker";
import { RemoteHost } from "../components/RemoteHost";
import { Agents } from "./Agents";
import { fakeFetch, json, Services, T0 } from "./rollouts.fixtures";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});
beforeEach(() => window.history.replaceState(null, "", "/agents"));

const agent = (id: string, extra: Partial<Agent> = {}): Agent => ({
  id,
  hostname: `${id}.lan`,
  version: "0.9.0",
  first_seen: T0 - 3600,
  last_seen: Date.now() / 1000 - 2,
  last_batch_ts: Date.now() / 1000 - 1,
  interval_s: 5,
  sample_interval_s: 1,
  collectors: [
    { name: "host.cpu", state: "ok", message: "", series: 12 },
    { name: "gpu", state: "absent", message: "no NVIDIA driver", series: 0 },
  ],
  spool: { batches: 0, samples: 0, bytes: 0, dropped_batches: 0, dropped_samples: 0, torn: 0 },
  last_error: "",
  address: "192.0.2.7",
  token: "agents",
  online: true,
  ...extra,
});

function serve(agents: Agent[]) {
  const f = fakeFetch((url) =>
    url.pathname === "/api/v1/agents" ? json({ agents, local: { hostname: "server-1", version: "0.9.0" } }) : undefined,
  );
  vi.stubGlobal("fetch", f.fn);
  return f;
}

describe("host filter", () => {
  it("tells an agent's series from this node's", () => {
    expect(matchesHost({ cpu: "total" }, LOCAL_HOST)).toBe(true);
    expect(matchesHost({ cpu: "total", host: "edge-1" }, LOCAL_HOST)).toBe(false);
    expect(matchesHost({ host: "edge-1" }, "edge-1")).toBe(true);
    expect(matchesHost({ host: "edge-10" }, "edge-1")).toBe(false);
    expect(matchesHost({ host: "edge-1" }, ALL_HOSTS)).toBe(true);
    expect(hostLabels("edge-1")).toEqual({ host: "edge-1" });
    expect(hostLabels(LOCAL_HOST)).toEqual({});
  });
});

describe("Agents", () => {
  it("lists agents with state, version, last seen and spool drops", async () => {
    serve([agent("edge-1"), agent("edge-2", { online: false, spool: { batches: 40, samples: 2600, bytes: 81920, dropped_batches: 3, dropped_samples: 190, torn: 0 } })]);
    render(
      <Services>
        <Agents />
      </Services>,
    );
    const table = await screen.findByTestId("agents");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.getAttribute("data-id"))).toEqual(["edge-1", "edge-2"]);
    expect(screen.getByTestId("state-edge-1").textContent).toBe("online");
    expect(screen.getByTestId("state-edge-2").textContent).toBe("offline");
    expect(rows[0]!.textContent).toContain("0.9.0");
    expect(rows[0]!.textContent).toMatch(/s ago|just now/);
    expect(screen.getByTestId("dropped-edge-2").textContent).toContain("3 dropped (190 samples)");
    expect(screen.queryByTestId("dropped-edge-1")).toBeNull();
    expect(screen.getByText(/this node: server-1/)).toBeTruthy();
  });

  it("says how to start an agent when none has reported", async () => {
    serve([]);
    render(
      <Services>
        <Agents />
      </Services>,
    );
    expect((await screen.findByTestId("agents-empty")).textContent).toContain("sentra agent --server");
  });
});

describe("HostPicker", () => {
  it("offers this node and every agent, and reports the choice", async () => {
    serve([agent("edge-1"), agent("edge-2", { online: false })]);
    const picked: string[] = [];
    render(
      <Services>
        <HostPicker value={ALL_HOSTS} onChange={(h) => picked.push(h)} />
      </Services>,
    );
    const select = screen.getByTestId("host-picker") as HTMLSelectElement;
    await waitFor(() => expect(select.options).toHaveLength(4));
    expect([...select.options].map((o) => o.textContent)).toEqual([
      "All hosts",
      "This node (server-1)",
      "edge-1 (edge-1.lan)",
      "edge-2 (edge-2.lan) · offline",
    ]);
    fireEvent.change(select, { target: { value: "edge-2" } });
    expect(picked).toEqual(["edge-2"]);
  });

  it("keeps a host from the URL selectable before (or without) its agent record", async () => {
    serve([]);
    render(
      <Services>
        <HostPicker value="gone-host" allowAll={false} onChange={() => undefined} />
      </Services>,
    );
    const select = screen.getByTestId("host-picker") as HTMLSelectElement;
    await waitFor(() => expect(select.options[0]!.textContent).toBe("This node (server-1)"));
    expect(select.value).toBe("gone-host");
  });
});

describe("RemoteHost", () => {
  it("reads the agent's latest readings by its host label", async () => {
    const f = fakeFetch((url) => {
      if (url.pathname !== "/api/v1/history") return undefined;
      const name = url.searchParams.get("name");
      if (name === "system.cpu.utilization")
        return json({ from: 0, to: 1, tier: "raw", granularity: 1, series: [{ name, labels: { cpu: "total", host: "edge-1" }, points: [[T0, 0.1], [T0 + 1, 0.25]], min: [], max: [] }] });
      return json({ type: "about:blank", title: "Not Found", status: 404, detail: "no stored series" }, 404);
    });
    vi.stubGlobal("fetch", f.fn);
    render(
      <Services>
        <RemoteHost host="edge-1" />
      </Services>,
    );
    await waitFor(() => expect(screen.getByTestId("remote-CPU").textContent).toContain("25.0%"));
    const cpu = f.calls.find((c) => c.url.searchParams.get("name") === "system.cpu.utilization")!;
    expect(cpu.url.searchParams.get("labels")).toBe("cpu=total,host=edge-1");
    expect(screen.getByTestId("remote-Memory").textContent).toContain("—");
    expect(screen.queryByRole("alert")).toBeNull(); // a series the agent does not report is no error
  });
});
