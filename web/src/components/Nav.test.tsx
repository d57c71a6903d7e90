import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Nav } from "./Nav";

afterEach(cleanup);

const links = () => within(screen.getByRole("navigation", { name: "Main" })).getAllByRole("link").map((a) => a.textContent);

function renderNav(role: string | null) {
  render(<Nav pathname="/" live={null} theme="phosphor" onTheme={() => undefined} onSignOut={() => undefined} role={role} userMenu={<span>menu</span>} />);
}

describe("Nav", () => {
  it("shows the admin pages to an admin", () => {
    renderNav("admin");
    expect(links()).toEqual(["Overview", "History", "Agents", "Rollouts", "Alerts", "Reports", "WireGuard", "Storage", "Users", "Tokens", "Audit"]);
  });

  it("hides the admin pages from operators, viewers and while the role is unknown", () => {
    for (const role of ["operator", "viewer", null]) {
      renderNav(role);
      expect(links()).toEqual(["Overview", "History", "Agents", "Rollouts", "Alerts", "Reports", "WireGuard", "Storage"]);
      cleanup();
    }
  });

  it("shows the user menu in place of the plain sign-out button", () => {
    renderNav("viewer");
    expect(screen.getByText("menu")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Sign out" })).toBeNull();
  });
});
