import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Me } from "../api/account";
import { ApiClient } from "../api/client";
import { fakeFetch, json } from "../pages/rollouts.fixtures";
import { useMe, UserMenu } from "./UserMenu";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const api = () => new ApiClient({ baseUrl: "", getToken: () => "T" });
const alice: Me = { name: "alice", role: "admin", kind: "user", totp_enabled: false };

function Who() {
  const { me } = useMe(api(), "T");
  return <p data-testid="who">{me ? `${me.name}/${me.role}/${me.kind}` : "…"}</p>;
}

describe("useMe", () => {
  it("reads /auth/me", async () => {
    vi.stubGlobal("fetch", fakeFetch((url) => (url.pathname === "/api/v1/auth/me" ? json(alice) : undefined)).fn);
    render(<Who />);
    await waitFor(() => expect(screen.getByTestId("who").textContent).toBe("alice/admin/user"));
  });
  it("falls back to /whoami on a node without accounts", async () => {
    vi.stubGlobal("fetch", fakeFetch((url) => (url.pathname === "/api/v1/whoami" ? json({ name: "ci", role: "operator" }) : undefined)).fn);
    render(<Who />);
    await waitFor(() => expect(screen.getByTestId("who").textContent).toBe("ci/operator/token"));
  });
});

describe("UserMenu", () => {
  it("turns two-factor on: shows the secret and the URI, confirms with a code", async () => {
    const f = fakeFetch((url) => {
      if (url.pathname === "/api/v1/auth/totp/setup") return json({ secret: "JBSWY3DPEHPK3PXP", otpauth_uri: "otpauth://totp/Sentra:alice?secret=JBSWY3DPEHPK3PXP&issuer=Sentra" });
      if (url.pathname === "/api/v1/auth/totp/enable") return json({ totp_enabled: true });
      return undefined;
    });
    vi.stubGlobal("fetch", f.fn);
    const onChanged = vi.fn();
    render(<UserMenu api={api()} me={alice} onSignOut={vi.fn()} onChanged={onChanged} onSession={vi.fn()} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    const menu = screen.getByRole("menu");
    expect(menu.textContent).toContain("alice");
    expect(menu.textContent).toContain("admin");
    fireEvent.click(within(menu).getByRole("menuitem", { name: "Two-factor: off" }));
    expect((await screen.findByTestId("totp-secret")).textContent).toBe("JBSWY3DPEHPK3PXP");
    expect(screen.getByTestId("totp-setup").textContent).toContain("otpauth://totp/Sentra:alice");
    fireEvent.change(screen.getByLabelText("Code"), { target: { value: "123456" } });
    fireEvent.click(screen.getByRole("button", { name: "Turn on" }));
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    expect(screen.getByRole("status").textContent).toContain("Two-factor sign-in is on");
    expect(JSON.parse(String(f.calls.find((c) => c.url.pathname.endsWith("/enable"))!.body))).toEqual({ code: "123456" });
  });

  it("changes the password and hands the fresh sign-in to the app", async () => {
    const fresh = { access_token: "jwt-new", token_type: "Bearer", expires_in: 900, user: { name: "alice", role: "admin", totp_enabled: false } };
    const f = fakeFetch((url) => (url.pathname === "/api/v1/auth/password" ? json(fresh) : undefined));
    vi.stubGlobal("fetch", f.fn);
    const onSession = vi.fn();
    render(<UserMenu api={api()} me={alice} onSignOut={vi.fn()} onChanged={vi.fn()} onSession={onSession} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    fireEvent.click(screen.getByRole("menuitem", { name: "Change password" }));
    fireEvent.change(screen.getByLabelText("Current password"), { target: { value: "old one" } });
    fireEvent.change(screen.getByLabelText("New password"), { target: { value: "new long one" } });
    fireEvent.change(screen.getByLabelText("Repeat the new password"), { target: { value: "new long one" } });
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    await waitFor(() => expect(onSession).toHaveBeenCalledWith(fresh));
    expect(JSON.parse(String(f.calls[0]!.body))).toEqual({ current: "old one", new: "new long one" });
  });

  it("offers an API token only sign-out (no password, no 2FA)", () => {
    const onSignOut = vi.fn();
    render(<UserMenu api={api()} me={{ ...alice, kind: "token", name: "ci" }} onSignOut={onSignOut} onChanged={vi.fn()} onSession={vi.fn()} />);
    fireEvent.click(screen.getByTestId("user-menu"));
    expect(screen.getAllByRole("menuitem").map((m) => m.textContent)).toEqual(["Sign out"]);
    fireEvent.click(screen.getByRole("menuitem", { name: "Sign out" }));
    expect(onSignOut).toHaveBeenCalled();
  });
});
