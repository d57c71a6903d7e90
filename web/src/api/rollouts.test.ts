import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError } from "./client";
import { gateHistory, listDecisions, rolloutAction } from "./rollouts";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function client(onUnauthorized = vi.fn()) {
  // Global fetch: the JSON-body POST goes through it too.
  const fetchMock = vi.fn(async (_url: string, _init?: RequestInit) => json({ name: "checkout", phase: "promoting" }));
  vi.stubGlobal("fetch", fetchMock);
  const api = new ApiClient({ baseUrl: "http://node:5099", getToken: () => "T", onUnauthorized });
  return { api, fetchMock };
}

afterEach(() => vi.unstubAllGlobals());

describe("rollout calls", () => {
  it("pages decisions with before_id and reads gate history by labels", async () => {
    const { api, fetchMock } = client();
    await listDecisions(api, "check out", { limit: 50, beforeId: 17 });
    let url = new URL(fetchMock.mock.calls[0]![0]);
    expect(url.pathname).toBe("/api/v1/rollouts/check%20out/decisions");
    expect(url.searchParams.get("limit")).toBe("50");
    expect(url.searchParams.get("before_id")).toBe("17");
    await gateHistory(api, "checkout", "p95", 100, 200);
    url = new URL(fetchMock.mock.calls[1]![0]);
    expect(url.searchParams.get("name")).toBe("sentra.rollout.gate.value");
    expect(url.searchParams.get("labels")).toBe("gate=p95,rollout=checkout");
  });

  it("posts an action without a body, and promote fully with {full: true}", async () => {
    const { api, fetchMock } = client();
    await rolloutAction(api, "checkout", "abort");
    const [url, init] = fetchMock.mock.calls[0]!;
    expect(url).toBe("http://node:5099/api/v1/rollouts/checkout/abort");
    expect(init!.method).toBe("POST");
    expect(init!.body).toBeUndefined();

    const r = await rolloutAction(api, "checkout", "promote", { full: true });
    const [url2, init2] = fetchMock.mock.calls[1]!;
    expect(url2).toBe("http://node:5099/api/v1/rollouts/checkout/promote");
    expect(init2!.method).toBe("POST");
    expect(JSON.parse(String(init2!.body))).toEqual({ full: true });
    const headers = init2!.headers as Record<string, string>;
    expect(headers["Content-Type"]).toBe("application/json");
    expect(headers.Authorization).toBe("Bearer T");
    expect(r.phase).toBe("promoting");
  });

  it("surfaces the problem's detail and lets a 401 sign out", async () => {
    const onUnauthorized = vi.fn();
    const { api, fetchMock } = client(onUnauthorized);
    fetchMock.mockImplementation(async () =>
      json({ type: "about:blank", title: "Conflict", status: 409, detail: "checkout is already promoted" }, 409),
    );
    const err = await rolloutAction(api, "checkout", "promote", { full: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe("checkout is already promoted");

    fetchMock.mockImplementation(async () => json({ title: "Unauthorized", status: 401, detail: "token revoked" }, 401));
    await expect(rolloutAction(api, "checkout", "promote", { full: true })).rejects.toThrow("token revoked");
    expect(onUnauthorized).toHaveBeenCalledWith("token revoked");
  });
});
