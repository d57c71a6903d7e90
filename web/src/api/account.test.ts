import { describe, expect, it, vi } from "vitest";
import { listAudit, login, normaliseAuditEntry, tokenSecret } from "./account";
import { ApiClient, ApiError } from "./client";

describe("accounts API", () => {
  it("keeps a problem's extension members and the Retry-After seconds", async () => {
    const fetchImpl = vi.fn(
      async () =>
        new Response(JSON.stringify({ title: "Too Many Requests", status: 429, detail: "wait", totp_required: false }), {
          status: 429,
          headers: { "Retry-After": "42" },
        }),
    );
    const onUnauthorized = vi.fn();
    const api = new ApiClient({ baseUrl: "", getToken: () => "T", fetchImpl, onUnauthorized });
    const err = (await login(api, { username: "a", password: "b" }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.retryAfter).toBe(42);
    expect(err.body.totp_required).toBe(false);
    // Sign-in sends no bearer, even when one is stored.
    const [, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("does not sign out on a refused sign-in", async () => {
    const onUnauthorized = vi.fn();
    const api = new ApiClient({
      baseUrl: "",
      getToken: () => "T",
      onUnauthorized,
      fetchImpl: async () => new Response(JSON.stringify({ detail: "wrong username or password" }), { status: 401 }),
    });
    await expect(login(api, { username: "a", password: "b" })).rejects.toThrow("wrong username or password");
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("sends only the audit filters that are set", async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ entries: [] })));
    const api = new ApiClient({ baseUrl: "", getToken: () => "T", fetchImpl });
    await listAudit(api, { actor: "", path: "/api/v1/wg", beforeId: 17 });
    const url = new URL((fetchImpl.mock.calls[0] as unknown as [string])[0], "http://x");
    expect(Object.fromEntries(url.searchParams)).toEqual({ limit: "100", before_id: "17", path: "/api/v1/wg" });
  });

  it("reads an audit entry under either name of its kind and address", () => {
    const base = { id: 1, ts: 1, actor: "admin", role: "admin", method: "POST", path: "/api/v1/tokens", status: 201, detail: "create_token" };
    expect(normaliseAuditEntry({ ...base, actor_kind: "user", client: "127.0.0.1" })).toEqual({ ...base, kind: "user", ip: "127.0.0.1" });
    expect(normaliseAuditEntry({ ...base, kind: "token", ip: "::1" })).toEqual({ ...base, kind: "token", ip: "::1" });
    expect(normaliseAuditEntry(base)).toEqual({ ...base, kind: "", ip: "" });
  });

  it("finds a created token's secret", () => {
    expect(tokenSecret({ id: "1", name: "ci", role: "viewer", token: "sentra_1_x" })).toBe("sentra_1_x");
    expect(tokenSecret({ token: { id: "1" }, secret: "s" })).toBe("s");
    expect(tokenSecret({ id: "1" })).toBe("");
  });
});
