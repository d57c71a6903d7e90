import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeFetch, json, Services } from "./rollouts.fixtures";
import { Tokens } from "./Tokens";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const SECRET = "sentra_7f3a_9b8c7d6e5f4a3b2c1d0e";

function serve() {
  let tokens = [{ id: "1a2b", name: "grafana", role: "viewer", created_at: 1_764_000_000, last_used_at: null }];
  const f = fakeFetch((url, init) => {
    if (url.pathname === "/api/v1/tokens" && (init.method ?? "GET") === "GET") return json({ tokens });
    if (url.pathname === "/api/v1/tokens" && init.method === "POST") {
      const body = JSON.parse(String(init.body)) as { name: string; role: string };
      tokens = [...tokens, { id: "7f3a", name: body.name, role: body.role, created_at: 1_764_000_100, last_used_at: null }];
      return json({ id: "7f3a", name: body.name, role: body.role, token: SECRET }, 201);
    }
    if (url.pathname === "/api/v1/tokens/1a2b" && init.method === "DELETE") {
      tokens = tokens.filter((t) => t.id !== "1a2b");
      return new Response(null, { status: 204 });
    }
    return undefined;
  });
  vi.stubGlobal("fetch", f.fn);
  return f;
}

describe("Tokens", () => {
  it("shows a new token once, with a copy button, and never again after closing", async () => {
    const f = serve();
    const writeText = vi.fn(async () => undefined);
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    render(
      <Services>
        <Tokens />
      </Services>,
    );
    await screen.findByTestId("tokens");
    fireEvent.click(screen.getByRole("button", { name: "Create token" }));
    const dialog = screen.getByRole("dialog", { name: "Create an API token" });
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "ci" } });
    fireEvent.change(within(dialog).getByLabelText("Role"), { target: { value: "operator" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Create token" }));

    expect((await screen.findByTestId("new-token")).textContent).toBe(SECRET);
    expect(screen.getByRole("dialog").textContent).toContain("shown only this once");
    expect(JSON.parse(String(f.calls.find((c) => c.method === "POST")!.body))).toEqual({ name: "ci", role: "operator" });
    fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith(SECRET));
    expect(screen.getByRole("button", { name: "Copied ✓" })).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    await waitFor(() => expect(screen.getByTestId("tokens").textContent).toContain("ci"));
    // Gone from the page: only the list's metadata remains.
    expect(document.body.textContent).not.toContain(SECRET);
    expect(document.body.innerHTML).not.toContain(SECRET);
  });

  it("revokes a token only after the confirmation", async () => {
    const f = serve();
    render(
      <Services>
        <Tokens />
      </Services>,
    );
    const row = (await screen.findByTestId("tokens")).querySelector('[data-token="grafana"]') as HTMLElement;
    fireEvent.click(within(row).getByRole("button", { name: "Revoke…" }));
    const confirm = screen.getByRole("alertdialog", { name: "Revoke grafana?" });
    expect(f.calls.some((c) => c.method === "DELETE")).toBe(false);
    fireEvent.click(within(confirm).getByRole("button", { name: "Revoke token" }));
    await waitFor(() => expect(screen.queryByTestId("tokens")).toBeNull()); // the list is empty now
    expect(f.calls.filter((c) => c.method === "DELETE").map((c) => c.url.pathname)).toEqual(["/api/v1/tokens/1a2b"]);
    expect(screen.getByRole("status").textContent).toBe("grafana is revoked.");
  });
});
