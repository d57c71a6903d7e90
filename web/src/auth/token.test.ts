import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  adoptTokenFromLocation,
  parseTokenFragment,
  SessionKeeper,
  sessionTokenStore,
  stripTokenFragment,
  takeSigninCode,
  type TokenStore,
} from "./token";

describe("parseTokenFragment", () => {
  it("reads #token=… as printed by the node", () => {
    expect(parseTokenFragment("#token=XYZ")).toBe("XYZ");
    expect(parseTokenFragment("token=abc.def-ghi_")).toBe("abc.def-ghi_");
  });
  it("finds the token among other fragment parameters", () => {
    expect(parseTokenFragment("#view=1&token=s3cr3t")).toBe("s3cr3t");
  });
  it("decodes percent-encoding", () => {
    expect(parseTokenFragment("#token=a%2Bb%3D")).toBe("a+b=");
  });
  it("returns null without a usable token", () => {
    expect(parseTokenFragment("")).toBeNull();
    expect(parseTokenFragment("#")).toBeNull();
    expect(parseTokenFragment("#section-2")).toBeNull();
    expect(parseTokenFragment("#token=")).toBeNull();
    expect(parseTokenFragment("#token=%20")).toBeNull();
  });
});

describe("stripTokenFragment", () => {
  it("removes only the token", () => {
    expect(stripTokenFragment("#token=XYZ")).toBe("");
    expect(stripTokenFragment("#a=1&token=XYZ")).toBe("#a=1");
  });
});

describe("adoptTokenFromLocation", () => {
  it("stores the fragment token and strips it from the URL", () => {
    window.history.replaceState(null, "", "/history?range=1h#token=XYZ");
    const store = sessionTokenStore(window.sessionStorage);
    store.clear();
    expect(adoptTokenFromLocation(store)).toBe(true);
    expect(store.get()).toBe("XYZ");
    expect(window.location.hash).toBe("");
    expect(window.location.pathname + window.location.search).toBe("/history?range=1h");
    expect(window.sessionStorage.getItem("sentra.token")).toBe("XYZ");
  });
  it("leaves the URL and the stored token alone without a fragment token", () => {
    window.history.replaceState(null, "", "/#other");
    const store = sessionTokenStore(window.sessionStorage);
    store.set("kept");
    expect(adoptTokenFromLocation(store)).toBe(false);
    expect(store.get()).toBe("kept");
    expect(window.location.hash).toBe("#other");
  });
});

describe("takeSigninCode", () => {
  it("answers the one-time code and strips it without storing it", () => {
    window.history.replaceState(null, "", "/?x=1#signin=c0de-42");
    window.sessionStorage.clear();
    expect(takeSigninCode()).toBe("c0de-42");
    expect(window.location.hash).toBe("");
    expect(window.location.search).toBe("?x=1");
    expect(Object.keys(window.sessionStorage)).toEqual([]);
    expect(takeSigninCode()).toBeNull();
  });
});

describe("sessionTokenStore meta", () => {
  it("keeps an access token's expiry and forgets it for an API token", () => {
    const store = sessionTokenStore(window.sessionStorage);
    store.set("jwt", { kind: "session", expiresAt: 123, lifetime: 900 });
    expect(store.meta()).toEqual({ kind: "session", expiresAt: 123, lifetime: 900 });
    store.set("api-token");
    expect(store.meta()).toBeNull();
    store.set("jwt", { kind: "session", expiresAt: 1, lifetime: 1 });
    store.clear();
    expect(store.get()).toBeNull();
    expect(store.meta()).toBeNull();
  });
});

// ---- SessionKeeper ----------------------------------------------------------------------

const T0 = 1_700_000_000_000;
const ok = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
const problem = (status: number, detail: string) =>
  new Response(JSON.stringify({ title: "x", status, detail }), { status, headers: { "Content-Type": "application/problem+json" } });

function memoryStore(): TokenStore {
  let token: string | null = null;
  let meta: ReturnType<TokenStore["meta"]> = null;
  return {
    get: () => token,
    set: (t, m) => {
      token = t;
      meta = m ?? null;
    },
    clear: () => {
      token = null;
      meta = null;
    },
    meta: () => meta,
  };
}

/** A node: /auth/refresh answers A1, A2 … (or `refusal`); /api/x accepts only the latest token. */
function fakeNode() {
  const calls: { url: string; auth: string | null; credentials?: RequestCredentials }[] = [];
  let n = 0;
  const node = {
    calls,
    refusal: null as Response | null,
    valid: "A0",
    fetch: vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const url = String(input);
      const auth = new Headers(init.headers).get("Authorization");
      calls.push({ url, auth, credentials: init.credentials });
      if (url.endsWith("/api/v1/auth/refresh")) {
        if (node.refusal) return node.refusal.clone();
        node.valid = `A${++n}`;
        return ok({ access_token: node.valid, token_type: "Bearer", expires_in: 900 });
      }
      if (url.endsWith("/api/v1/auth/logout")) return new Response(null, { status: 204 });
      return auth === `Bearer ${node.valid}` ? ok({ fine: true }) : problem(401, "the access token has expired");
    }),
  };
  return node;
}

describe("SessionKeeper", () => {
  let now = T0;
  beforeEach(() => {
    now = T0;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => vi.useRealTimers());

  function keeper(node: ReturnType<typeof fakeNode>, store = memoryStore()) {
    const k = new SessionKeeper({ store, baseUrl: "http://node", fetchImpl: node.fetch as unknown as typeof fetch, now: () => now });
    return { k, store };
  }

  it("refreshes the access token a minute before it runs out, again and again", async () => {
    const node = fakeNode();
    const { k, store } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    expect(store.meta()).toEqual({ kind: "session", expiresAt: T0 + 900_000, lifetime: 900 });
    now += 839_000;
    await vi.advanceTimersByTimeAsync(839_000);
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(0);
    now += 1000;
    await vi.advanceTimersByTimeAsync(1000);
    expect(store.get()).toBe("A1");
    const refresh = node.calls.find((c) => c.url === "http://node/api/v1/auth/refresh")!;
    expect(refresh.auth).toBeNull(); // the cookie only
    expect(refresh.credentials).toBe("same-origin");
    now += 840_000;
    await vi.advanceTimersByTimeAsync(840_000);
    expect(store.get()).toBe("A2");
  });

  it("refreshes once on a 401 and repeats the request with the new token", async () => {
    const node = fakeNode();
    const { k, store } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    node.valid = "elsewhere"; // the node no longer takes A0 (expired early, key rotated…)
    const res = await k.fetch("http://node/api/x", { headers: { Authorization: "Bearer A0" } });
    expect(res.status).toBe(200);
    expect(store.get()).toBe("A1");
    expect(node.calls.map((c) => [c.url.replace("http://node", ""), c.auth])).toEqual([
      ["/api/x", "Bearer A0"],
      ["/api/v1/auth/refresh", null],
      ["/api/x", "Bearer A1"],
    ]);
  });

  it("gives up after one refresh: a refused refresh hands the 401 back (then the app signs out)", async () => {
    const node = fakeNode();
    const { k } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    node.valid = "elsewhere";
    node.refusal = problem(401, "this sign-in has ended: sign in again");
    const res = await k.fetch("http://node/api/x", { headers: { Authorization: "Bearer A0" } });
    expect(res.status).toBe(401);
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(1);
    expect(node.calls).toHaveLength(2);
  });

  it("shares one refresh between requests that fail together", async () => {
    const node = fakeNode();
    const { k } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    node.valid = "elsewhere";
    const answers = await Promise.all(
      [1, 2, 3].map(() => k.fetch("http://node/api/x", { headers: { Authorization: "Bearer A0" } })),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(1);
  });

  it("never refreshes for a pasted API token", async () => {
    const node = fakeNode();
    const store = memoryStore();
    store.set("api-token");
    const { k } = keeper(node, store);
    k.resume();
    const res = await k.fetch("http://node/api/x", { headers: { Authorization: "Bearer api-token" } });
    expect(res.status).toBe(401);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(0);
  });

  it("does not repeat a sign-in call that answered 401", async () => {
    const node = fakeNode();
    const { k } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    node.fetch.mockImplementationOnce(async () => problem(401, "wrong username or password"));
    const res = await k.fetch("http://node/api/v1/auth/login", { method: "POST", headers: { Authorization: "Bearer A0" } });
    expect(res.status).toBe(401);
    expect(node.fetch).toHaveBeenCalledTimes(1);
  });

  it("hands the live socket a fresh token: token() starts a refresh once the old one is due", async () => {
    const node = fakeNode();
    const store = memoryStore();
    // A reload long after the sign-in: the stored token is past its refresh time.
    store.set("A0", { kind: "session", expiresAt: T0 + 10_000, lifetime: 900 });
    const { k } = keeper(node, store);
    expect(k.token()).toBe("A0");
    await vi.advanceTimersByTimeAsync(0);
    expect(k.token()).toBe("A1");
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(1);
  });

  it("retries a refresh the network lost, while the token is still valid", async () => {
    const node = fakeNode();
    const { k, store } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    node.fetch.mockImplementationOnce(async () => {
      throw new TypeError("Failed to fetch");
    });
    now += 840_000;
    await vi.advanceTimersByTimeAsync(840_000);
    expect(store.get()).toBe("A0");
    now += 5000;
    await vi.advanceTimersByTimeAsync(5000);
    expect(store.get()).toBe("A1");
  });

  it("signs out: tells the node with the token, forgets it and stops refreshing", async () => {
    const node = fakeNode();
    const { k, store } = keeper(node);
    k.adopt({ access_token: "A0", expires_in: 900 });
    await k.end();
    expect(store.get()).toBeNull();
    const out = node.calls.find((c) => c.url.endsWith("/api/v1/auth/logout"))!;
    expect(out.auth).toBe("Bearer A0");
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(node.calls.filter((c) => c.url.endsWith("/refresh"))).toHaveLength(0);
  });
});

describe("SessionKeeper with the browser's fetch", () => {
  afterEach(() => vi.unstubAllGlobals());
  it("calls the global fetch as a plain function, as browsers require", async () => {
    // Browsers throw "Illegal invocation" when fetch is called as a method of another object.
    const strict = vi.fn(function (this: unknown) {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return Promise.resolve(ok({ access_token: "A1", expires_in: 900 }));
    });
    vi.stubGlobal("fetch", strict);
    const store = memoryStore();
    const k = new SessionKeeper({ store, baseUrl: "" });
    expect(await k.fromCookie()).toEqual({ access_token: "A1", expires_in: 900 });
    expect((await k.fetch("/api/x")).status).toBe(200);
    expect(strict).toHaveBeenCalledTimes(2);
  });
});
