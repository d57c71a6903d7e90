import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SavedReport } from "../api/reports";
import { RolloutReportButton } from "../components/ReportButton";
import { NODE_WINDOW_S, Reports } from "./Reports";
import { fakeFetch, json, Services, T0 } from "./rollouts.fixtures";

const saved = (name: string, kind: SavedReport["kind"] = "rollout"): SavedReport => ({
  name,
  kind,
  size: 120_000,
  created_at: T0,
  url: `/api/v1/reports/${name}`,
});
const pdf = () => new Response("%PDF-1.4 fake", { status: 200, headers: { "Content-Type": "application/pdf" } });

let downloads: { href: string; download: string }[] = [];
beforeEach(() => {
  downloads = [];
  URL.createObjectURL = vi.fn((b: Blob) => `blob:${b.type}`);
  URL.revokeObjectURL = vi.fn();
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    downloads.push({ href: this.getAttribute("href") ?? "", download: this.download });
  });
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("Reports page", () => {
  it("lists saved reports and downloads one with the token", async () => {
    const f = fakeFetch((url) => {
      if (url.pathname === "/api/v1/reports") return json({ reports: [saved("rollout-checkout-20251201T185000Z.pdf"), saved("node-20251201T180000Z.pdf", "node")] });
      if (url.pathname === "/api/v1/reports/node-20251201T180000Z.pdf") return pdf();
      return undefined;
    });
    vi.stubGlobal("fetch", f.fn);
    render(
      <Services>
        <Reports />
      </Services>,
    );
    const rows = await screen.findAllByRole("row");
    expect(rows.slice(1).map((r) => r.getAttribute("data-name"))).toEqual(["rollout-checkout-20251201T185000Z.pdf", "node-20251201T180000Z.pdf"]);
    fireEvent.click(screen.getByRole("button", { name: "Download node-20251201T180000Z.pdf" }));
    await waitFor(() => expect(downloads).toEqual([{ href: "blob:application/pdf", download: "node-20251201T180000Z.pdf" }]));
    const get = f.calls.find((c) => c.url.pathname.endsWith(".pdf"))!;
    expect(get.method).toBe("GET");
  });

  it("renders a node report for the last 24 h, refreshes the list and downloads it", async () => {
    let list: SavedReport[] = [];
    const f = fakeFetch((url, init) => {
      if (url.pathname === "/api/v1/reports") return json({ reports: list });
      if (url.pathname === "/api/v1/reports/node" && init.method === "POST") {
        list = [saved("node-20251201T185000Z.pdf", "node")];
        return json(list[0], 201);
      }
      if (url.pathname === "/api/v1/reports/node-20251201T185000Z.pdf") return pdf();
      return undefined;
    });
    vi.stubGlobal("fetch", f.fn);
    render(
      <Services>
        <Reports now={() => T0} />
      </Services>,
    );
    await screen.findByTestId("no-reports");
    fireEvent.click(screen.getByTestId("node-report"));
    expect((await screen.findByRole("status")).textContent).toContain("Saved node-20251201T185000Z.pdf.");
    await waitFor(() => expect(downloads.map((d) => d.download)).toEqual(["node-20251201T185000Z.pdf"]));
    const post = f.calls.find((c) => c.method === "POST")!;
    expect(post.url.searchParams.get("from")).toBe(String(T0 - NODE_WINDOW_S));
    expect(post.url.searchParams.get("to")).toBe(String(T0));
    expect(screen.getByTestId("reports").textContent).toContain("node-20251201T185000Z.pdf");
  });

  it("shows the node's problem when rendering is refused", async () => {
    const f = fakeFetch((url) => {
      if (url.pathname === "/api/v1/reports") return json({ reports: [] });
      if (url.pathname === "/api/v1/reports/node") return json({ title: "Forbidden", status: 403, detail: "this needs the operator role; your token has viewer" }, 403);
      return undefined;
    });
    vi.stubGlobal("fetch", f.fn);
    render(
      <Services>
        <Reports />
      </Services>,
    );
    await screen.findByTestId("no-reports");
    fireEvent.click(screen.getByTestId("node-report"));
    expect((await screen.findByRole("alert")).textContent).toContain("this needs the operator role");
    expect(downloads).toEqual([]);
  });
});

describe("RolloutReportButton", () => {
  it("asks the node to render the rollout's report, then downloads the PDF", async () => {
    const f = fakeFetch((url, init) => {
      if (url.pathname === "/api/v1/reports/rollouts/checkout" && init.method === "POST") return json(saved("rollout-checkout-20251201T185000Z.pdf"), 201);
      if (url.pathname === "/api/v1/reports/rollout-checkout-20251201T185000Z.pdf") return pdf();
      return undefined;
    });
    vi.stubGlobal("fetch", f.fn);
    render(
      <Services>
        <RolloutReportButton name="checkout" />
      </Services>,
    );
    const button = screen.getByRole("button", { name: "Download report (PDF)" });
    fireEvent.click(button);
    expect((button as HTMLButtonElement).disabled).toBe(true);
    await waitFor(() => expect(downloads).toEqual([{ href: "blob:application/pdf", download: "rollout-checkout-20251201T185000Z.pdf" }]));
    await waitFor(() => expect((button as HTMLButtonElement).disabled).toBe(false));
    expect(f.calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual([
      "POST /api/v1/reports/rollouts/checkout",
      "GET /api/v1/reports/rollout-checkout-20251201T185000Z.pdf",
    ]);
  });

  it("says why when the rollout is gone", async () => {
    vi.stubGlobal("fetch", fakeFetch(() => json({ title: "Not Found", status: 404, detail: "there is no rollout named 'checkout'" }, 404)).fn);
    render(
      <Services>
        <RolloutReportButton name="checkout" />
      </Services>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Download report (PDF)" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Report: there is no rollout named 'checkout'");
  });
});
