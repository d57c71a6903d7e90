import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AuditEntry } from "../api/account";
import { Audit, AUDIT_PAGE, statusTone } from "./Audit";
import { fakeFetch, json, Services } from "./rollouts.fixtures";

beforeEach(() => window.history.replaceState(null, "", "/audit"));
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const entry = (id: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  id,
  ts: 1_764_615_000 + id,
  actor: "alice",
  kind: "user",
  role: "admin",
  method: "POST",
  path: "/api/v1/wg/peers",
  status: 201,
  ip: "192.0.2.4",
  detail: "",
  ...extra,
});

/** `n` entries, ids n … 1, alice and bob in turn; the node pages with before_id and filters by actor. */
function serve(n = 130) {
  const all = Array.from({ length: n }, (_, i) => entry(n - i, { actor: i % 2 ? "bob" : "alice" }));
  const f = fakeFetch((url) => {
    if (url.pathname !== "/api/v1/audit") return undefined;
    const q = url.searchParams;
    const before = Number(q.get("before_id") ?? Infinity);
    const rows = all.filter((e) => e.id < before && (!q.get("actor") || e.actor === q.get("actor")));
    return json({ entries: rows.slice(0, Number(q.get("limit"))) });
  });
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const renderPage = () =>
  render(
    <Services>
      <Audit />
    </Services>,
  );
const ids = () => [...screen.getByTestId("audit").querySelectorAll("tbody tr")].map((r) => Number(r.getAttribute("data-id")));

describe("Audit", () => {
  it("pages back with before_id until the log runs out", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("audit");
    expect(ids()).toHaveLength(AUDIT_PAGE);
    expect(ids()[0]).toBe(130);
    fireEvent.click(screen.getByRole("button", { name: "Older" }));
    await waitFor(() => expect(ids()).toHaveLength(130));
    expect(f.calls.at(-1)!.url.searchParams.get("before_id")).toBe("31");
    expect(ids().at(-1)).toBe(1);
    // A short page: the log has run out.
    expect(screen.queryByRole("button", { name: "Older" })).toBeNull();
  }, 15_000);

  it("filters by actor through the URL, and sends no empty filter", async () => {
    const f = serve(10);
    renderPage();
    await screen.findByTestId("audit");
    expect([...f.calls[0]!.url.searchParams.keys()]).toEqual(["limit"]);
    fireEvent.change(screen.getByLabelText("Actor"), { target: { value: "bob" } });
    fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    await waitFor(() => expect(window.location.search).toBe("?actor=bob"));
    await waitFor(() => expect(f.calls.at(-1)!.url.searchParams.get("actor")).toBe("bob"));
    await waitFor(() => expect(screen.getByTestId("audit").textContent).not.toContain("alice"));
  });

  it("colours statuses: refused amber, failed red", () => {
    expect([201, 204, 401, 403, 429, 500, 503, 0].map(statusTone)).toEqual(["ok", "ok", "warn", "warn", "warn", "crit", "crit", "muted"]);
  });
});
