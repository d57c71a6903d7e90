import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient } from "../api/client";
import { fakeFetch, json } from "./rollouts.fixtures";
import { SignIn } from "./SignIn";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const answer = (extra: Record<string, unknown> = {}) => ({
  access_token: "jwt-1",
  token_type: "Bearer",
  expires_in: 900,
  user: { name: "alice", role: "admin", totp_enabled: true },
  ...extra,
});

function setup(routes: Parameters<typeof fakeFetch>[0], linkCode?: string) {
  const f = fakeFetch(routes);
  vi.stubGlobal("fetch", f.fn);
  const onSignedIn = vi.fn();
  const onUnauthorized = vi.fn();
  const api = new ApiClient({ baseUrl: "", getToken: () => null, onUnauthorized });
  render(<SignIn api={api} message="" onSignedIn={onSignedIn} linkCode={linkCode} />);
  return { f, onSignedIn, onUnauthorized };
}

const type = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });
const submit = () => fireEvent.click(screen.getByRole("button", { name: /^Sign in/ }));
const bodyOf = (call: { body: unknown }) => JSON.parse(String(call.body)) as Record<string, unknown>;

describe("SignIn with a password", () => {
  it("asks for the authenticator code when the node says so, then resubmits with it", async () => {
    const { f, onSignedIn, onUnauthorized } = setup((url, init) => {
      if (url.pathname !== "/api/v1/auth/login") return undefined;
      const body = JSON.parse(String(init.body)) as { totp?: string };
      if (!body.totp)
        return json({ title: "Unauthorized", status: 401, detail: "enter the 6-digit code of your authenticator app", totp_required: true }, 401);
      return json(answer());
    });
    expect(screen.queryByLabelText("Authenticator code")).toBeNull();
    type("User name", " alice ");
    type("Password", "correct horse");
    submit();
    const code = await screen.findByLabelText("Authenticator code");
    expect(onSignedIn).not.toHaveBeenCalled();
    expect(screen.queryByRole("alert")).toBeNull(); // a step, not an error
    fireEvent.change(code, { target: { value: "123456" } });
    submit();
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledTimes(1));
    expect(onSignedIn.mock.calls[0]![0]).toBe("jwt-1");
    expect(onSignedIn.mock.calls[0]![1]).toMatchObject({ expires_in: 900, user: { name: "alice" } });
    const logins = f.calls.filter((c) => c.url.pathname === "/api/v1/auth/login");
    expect(logins.map(bodyOf)).toEqual([
      { username: "alice", password: "correct horse" },
      { username: "alice", password: "correct horse", totp: "123456" },
    ]);
    // A refused sign-in is not a lost session.
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("shows a wrong code's detail and keeps the code field", async () => {
    setup((url, init) => {
      const body = JSON.parse(String(init.body)) as { totp?: string };
      if (url.pathname !== "/api/v1/auth/login") return undefined;
      return json({ status: 401, title: "Unauthorized", detail: body.totp ? "the code is wrong or was already used" : "enter the code", totp_required: true }, 401);
    });
    type("User name", "alice");
    type("Password", "pw");
    submit();
    fireEvent.change(await screen.findByLabelText("Authenticator code"), { target: { value: "000000" } });
    submit();
    expect((await screen.findByRole("alert")).textContent).toBe("the code is wrong or was already used");
    expect(screen.getByLabelText("Authenticator code")).toBeTruthy();
  });

  it("shows the node's detail for a wrong password", async () => {
    const { onSignedIn } = setup(() => json({ title: "Unauthorized", status: 401, detail: "wrong username or password" }, 401));
    type("User name", "alice");
    type("Password", "nope");
    submit();
    expect((await screen.findByRole("alert")).textContent).toBe("wrong username or password");
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it("counts down a 429's Retry-After and blocks the button until then", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "Date"] });
    setup(
      () =>
        new Response(JSON.stringify({ title: "Too Many Requests", status: 429, detail: "too many sign-in attempts; wait a minute" }), {
          status: 429,
          headers: { "Content-Type": "application/problem+json", "Retry-After": "65" },
        }),
    );
    type("User name", "alice");
    type("Password", "guess");
    await act(async () => {
      submit();
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.getByRole("alert").textContent).toContain("too many sign-in attempts; wait a minute");
    expect(screen.getByTestId("retry-countdown").textContent).toBe("Try again in 1:05.");
    const button = () => screen.getByRole("button", { name: /^Sign in/ }) as HTMLButtonElement;
    expect(button().disabled).toBe(true);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(60_000);
    });
    expect(screen.getByTestId("retry-countdown").textContent).toBe("Try again in 0:05.");
    await act(async () => {
      await vi.advanceTimersByTimeAsync(5000);
    });
    expect(button().disabled).toBe(false);
    expect(screen.queryByTestId("retry-countdown")).toBeNull();
  });
});

describe("SignIn with an API token", () => {
  it("still takes a pasted token, checked with whoami", async () => {
    const { f, onSignedIn } = setup((url) => (url.pathname === "/api/v1/whoami" ? json({ name: "ci", role: "viewer" }) : undefined));
    type("Access token (API token)", " tok_abc ");
    submit();
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith("tok_abc"));
    expect(f.calls.map((c) => c.url.pathname)).toEqual(["/api/v1/whoami"]);
  });
});

describe("SignIn with a #signin= link", () => {
  it("exchanges the code, then asks for a password and signs in with the fresh answer", async () => {
    const { f, onSignedIn } = setup((url) => {
      if (url.pathname === "/api/v1/auth/link") return json(answer({ must_set_password: true, user: { name: "admin", role: "admin", totp_enabled: false } }));
      if (url.pathname === "/api/v1/auth/password") return json(answer({ access_token: "jwt-2" }));
      return undefined;
    }, "c0de");
    await screen.findByRole("form", { name: "Set your password" });
    expect(bodyOf(f.calls[0]!)).toEqual({ code: "c0de" });
    type("New password", "a long passphrase");
    type("Repeat it", "a long passphrase");
    fireEvent.click(screen.getByRole("button", { name: "Set password" }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledTimes(1));
    expect(onSignedIn.mock.calls[0]![0]).toBe("jwt-2");
    const pw = f.calls.find((c) => c.url.pathname === "/api/v1/auth/password")!;
    expect(bodyOf(pw)).toEqual({ current: "", new: "a long passphrase" });
  });

  it("shows the node's refusal of a weak password", async () => {
    const { onSignedIn } = setup((url) => {
      if (url.pathname === "/api/v1/auth/link") return json(answer({ must_set_password: true }));
      if (url.pathname === "/api/v1/auth/password") return json({ title: "Bad Request", status: 400, detail: "the password must be at least 12 characters" }, 400);
      return undefined;
    }, "c0de");
    await screen.findByRole("form", { name: "Set your password" });
    type("New password", "short");
    type("Repeat it", "short");
    fireEvent.click(screen.getByRole("button", { name: "Set password" }));
    expect((await screen.findByRole("alert")).textContent).toBe("the password must be at least 12 characters");
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it("explains a used link and offers the normal sign-in", async () => {
    setup(() => json({ title: "Unauthorized", status: 401, detail: "this sign-in link is not valid (already used or expired)" }, 401), "old");
    expect((await screen.findByRole("alert")).textContent).toContain("already used or expired");
    expect(screen.getByLabelText("User name")).toBeTruthy();
  });
});
