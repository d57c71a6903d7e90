import { describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, labelsParam, normaliseBaseUrl } from "./client";

function problem(status: number, detail: string): Response {
  return new Response(JSON.stringify({ type: "about:blank", title: "Unauthorized", status, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

describe("ApiClient", () => {
  it("sends the bearer token and joins the base URL", async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ name: "admin", role: "admin" })));
    const api = new ApiClient({ baseUrl: "http://node:5099/", getToken: () => "T", fetchImpl });
    await api.whoami();
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("http://node:5099/api/v1/whoami");
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer T");
  });

  it("turns problem+json into an ApiError carrying detail, and reports 401", async () => {
    const onUnauthorized = vi.fn();
    const api = new ApiClient({
      baseUrl: "",
      getToken: () => "bad",
      onUnauthorized,
      fetchImpl: async () => problem(401, "token revoked"),
    });
    const err = await api.summary().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).detail).toBe("token revoked");
    expect(onUnauthorized).toHaveBeenCalledWith("token revoked");
  });

  it("does not sign out when validating a candidate token", async () => {
    const onUnauthorized = vi.fn();
    const api = new ApiClient({ baseUrl: "", getToken: () => null, onUnauthorized, fetchImpl: async () => problem(401, "unknown token") });
    await expect(api.whoami("candidate")).rejects.toThrow("unknown token");
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it("explains a network failure", async () => {
    const api = new ApiClient({
      baseUrl: "http://10.0.0.9:5099",
      getToken: () => "T",
      fetchImpl: async () => {
        throw new TypeError("Failed to fetch");
      },
    });
    await expect(api.health()).rejects.toThrow("Cannot reach the Sentra node at http://10.0.0.9:5099.");
  });

  it("builds the history query with a sorted labels filter", async () => {
    const fetchImpl = vi.fn(async () => new Response(JSON.stringify({ tier: "raw", granularity: 1, series: [] })));
    const api = new ApiClient({ baseUrl: "", getToken: () => "T", fetchImpl });
    await api.history({ name: "system.network.io.rate", labels: { direction: "receive", device: "eth0" }, from: 100.4, to: 200.2 });
    const url = new URL((fetchImpl.mock.calls[0] as unknown as [string])[0], "http://x");
    expect(url.pathname).toBe("/api/v1/history");
    expect(url.searchParams.get("labels")).toBe("device=eth0,direction=receive");
    expect(url.searchParams.get("from")).toBe("100");
    expect(url.searchParams.get("to")).toBe("201");
    expect(url.searchParams.get("limit")).toBe("500");
  });
});

describe("helpers", () => {
  it("normalises the base URL", () => {
    expect(normaliseBaseUrl(undefined)).toBe("");
    expect(normaliseBaseUrl(" http://a:1// ")).toBe("http://a:1");
  });
  it("formats labels as k=v pairs", () => {
    expect(labelsParam({ b: "2", a: "1" })).toBe("a=1,b=2");
  });
});
