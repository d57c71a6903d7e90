import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { User } from "../api/account";
import { fakeFetch, json, Services } from "./rollouts.fixtures";
import { Users } from "./Users";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const user = (name: string, extra: Partial<User> = {}): User => ({
  name,
  role: "viewer",
  disabled: false,
  has_password: true,
  totp_enabled: false,
  created_at: 1_764_000_000,
  updated_at: 1_764_000_000,
  ...extra,
});

function serve() {
  let users = [user("admin", { role: "admin", totp_enabled: true }), user("bob")];
  const f = fakeFetch((url, init) => {
    const m = init.method ?? "GET";
    if (url.pathname === "/api/v1/users" && m === "GET") return json({ users });
    const one = /^\/api\/v1\/users\/(.+)$/.exec(url.pathname);
    if (one && m === "PATCH") {
      const patch = JSON.parse(String(init.body)) as Partial<User>;
      if (patch.role === "admin" && one[1] === "bob") return json({ title: "Conflict", status: 409, detail: "bob cannot be admin today" }, 409);
      users = users.map((u) => (u.name === one[1] ? { ...u, ...patch } : u));
      return json(users.find((u) => u.name === one[1]));
    }
    if (one && m === "DELETE") {
      users = users.filter((u) => u.name !== one[1]);
      return new Response(null, { status: 204 });
    }
    return undefined;
  });
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const renderPage = () =>
  render(
    <Services>
      <Users self="admin" />
    </Services>,
  );
const row = (name: string) => screen.getByTestId("users").querySelector(`[data-user="${name}"]`) as HTMLElement;

describe("Users", () => {
  it("deletes a user only after the confirmation", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("users");
    fireEvent.click(within(row("bob")).getByRole("button", { name: "Delete…" }));
    const confirm = screen.getByRole("alertdialog", { name: "Delete bob?" });
    expect(f.calls.some((c) => c.method === "DELETE")).toBe(false);
    fireEvent.click(within(confirm).getByRole("button", { name: "Delete user" }));
    await waitFor(() => expect(screen.getByTestId("users").querySelector('[data-user="bob"]')).toBeNull());
    expect(f.calls.filter((c) => c.method === "DELETE").map((c) => c.url.pathname)).toEqual(["/api/v1/users/bob"]);
  });

  it("does not let you delete or disable yourself from here", async () => {
    serve();
    renderPage();
    await screen.findByTestId("users");
    expect(row("admin").textContent).toContain("(you)");
    expect((within(row("admin")).getByRole("button", { name: "Delete…" }) as HTMLButtonElement).disabled).toBe(true);
    expect((within(row("admin")).getByRole("button", { name: "Disable…" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("changes a role, and shows the node's refusal", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("users");
    fireEvent.change(screen.getByLabelText("Role of bob"), { target: { value: "operator" } });
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("bob is now operator."));
    expect(JSON.parse(String(f.calls.find((c) => c.method === "PATCH")!.body))).toEqual({ role: "operator" });
    fireEvent.change(screen.getByLabelText("Role of bob"), { target: { value: "admin" } });
    expect((await screen.findByRole("alert")).textContent).toBe("bob cannot be admin today");
    expect((screen.getByLabelText("Role of bob") as HTMLSelectElement).value).toBe("operator");
  });

  it("disables after the confirmation and resets a password", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("users");
    fireEvent.click(within(row("bob")).getByRole("button", { name: "Disable…" }));
    fireEvent.click(within(screen.getByRole("alertdialog", { name: "Disable bob?" })).getByRole("button", { name: "Disable" }));
    await waitFor(() => expect(row("bob").textContent).toContain("disabled"));
    fireEvent.click(within(row("bob")).getByRole("button", { name: "Reset password…" }));
    fireEvent.change(screen.getByLabelText("New password"), { target: { value: "fresh long password" } });
    fireEvent.click(screen.getByRole("button", { name: "Set password" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("bob's password is reset."));
    const patches = f.calls.filter((c) => c.method === "PATCH").map((c) => JSON.parse(String(c.body)) as unknown);
    expect(patches).toEqual([{ disabled: true }, { password: "fresh long password" }]);
  });
});
