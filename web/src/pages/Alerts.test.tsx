import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Alert } from "../api/alerts";
import type { DecisionFeedOptions } from "../live/decisions";
import { Alerts } from "./Alerts";
import { fakeFetch, FakeSocket, json, Services, T0 } from "./rollouts.fixtures";

const feed: DecisionFeedOptions = {
  url: "ws://node/api/v1/live?kinds=alerts",
  getToken: () => "T",
  kind: "alerts",
  makeSocket: (u) => new FakeSocket(u),
};

function alert(extra: Partial<Alert> = {}): Alert {
  return {
    id: "a1",
    rule: "cpu-hot",
    kind: "threshold",
    severity: "critical",
    series: 'host.cpu.percent{host="web-1"}',
    labels: { host: "web-1" },
    state: "firing",
    value: 97.25,
    threshold: 90,
    summary: "the web box is hot",
    reason: "host.cpu.percent = 97.25 > 90",
    started_at: T0 - 60,
    updated_at: T0,
    fired_at: T0,
    resolved_at: null,
    acked_by: "",
    notifications: { chat: "firing: sent" },
    ...extra,
  };
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.spyOn(Date, "now").mockReturnValue((T0 + 12) * 1000);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function serve(list: () => unknown, onAck?: (id: string) => unknown) {
  const f = fakeFetch((url, init) => {
    if (url.pathname === "/api/v1/alerts") return json(list());
    const m = /^\/api\/v1\/alerts\/([^/]+)\/ack$/.exec(url.pathname);
    if (m && init.method === "POST" && onAck) return json(onAck(m[1]!));
    return undefined;
  });
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const rowsOf = () => within(screen.getByTestId("alerts")).getAllByRole("row").slice(1);

describe("Alerts page", () => {
  it("lists firing alerts first with their value, reason and delivery status", async () => {
    serve(() => ({
      alerts: [alert({ id: "old", rule: "disk", state: "resolved", updated_at: T0 + 5, resolved_at: T0 + 5, notifications: {} }), alert()],
      rules: 2,
      error: "",
    }));
    render(
      <Services>
        <Alerts feed={feed} role="viewer" />
      </Services>,
    );
    await screen.findByTestId("alerts");
    const rows = rowsOf();
    expect(rows.map((r) => r.getAttribute("data-alert"))).toEqual(["a1", "old"]);
    expect(rows[0]!.textContent).toContain("97.25");
    expect(rows[0]!.textContent).toContain("host.cpu.percent = 97.25 > 90");
    expect(rows[0]!.textContent).toContain("12 s ago");
    expect(within(rows[0]!).getByTestId("notified").textContent).toBe("chat: firing: sent");
    expect(screen.getByTestId("alerts-summary").textContent).toBe("1 firing · 2 rule(s)");
    // A viewer cannot acknowledge.
    expect(screen.queryByRole("button", { name: "Acknowledge" })).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Resolved" }));
    expect(rowsOf().map((r) => r.getAttribute("data-alert"))).toEqual(["old"]);
  });

  it("updates from the live stream without waiting for a poll", async () => {
    let answer = { alerts: [] as Alert[], rules: 1, error: "" };
    serve(() => answer);
    render(
      <Services>
        <Alerts feed={feed} role="viewer" />
      </Services>,
    );
    await screen.findByTestId("alerts-empty");
    const socket = FakeSocket.all[0]!;
    expect(socket.url).toContain("kinds=alerts");
    const firing = alert({ state: "pending", fired_at: null, reason: "cpu breaching" });
    answer = { alerts: [firing], rules: 1, error: "" };
    act(() => {
      socket.receive({ type: "hello" });
      socket.receive({
        type: "frame",
        seq: 1,
        dropped: 0,
        items: [
          { kind: "metrics", topic: "metrics.x", source: "x", ts: T0, samples: [] },
          { kind: "alerts", topic: "alerts.cpu-hot", source: "cpu-hot", ts: T0, data: firing },
        ],
      });
    });
    await waitFor(() => expect(rowsOf()[0]!.getAttribute("data-state")).toBe("pending"));
    expect(screen.getByTestId("alerts-mode").textContent).toBe("live");
  });

  it("lets an operator acknowledge, and says when the rules file is broken", async () => {
    const acked: string[] = [];
    serve(
      () => ({
        alerts: [alert({ acked_by: acked.length ? "user:olga" : "" })],
        rules: 0,
        error: "alerts.yaml is not valid (1 problem(s)): line 3",
      }),
      (id) => {
        acked.push(id);
        return alert({ acked_by: "user:olga" });
      },
    );
    render(
      <Services>
        <Alerts feed={feed} role="operator" />
      </Services>,
    );
    expect((await screen.findByTestId("rules-error")).textContent).toContain("line 3");
    fireEvent.click(await screen.findByRole("button", { name: "Acknowledge" }));
    await waitFor(() => expect(acked).toEqual(["a1"]));
    expect(await screen.findByText("acked by user:olga")).toBeTruthy();
  });
});
