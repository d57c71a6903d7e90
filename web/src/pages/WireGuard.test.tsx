import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Peer } from "../api/wireguard";
import { POLL_MS } from "../components/RolloutBits";
import { fakeFetch, json, Services } from "./rollouts.fixtures";
import { iface, NOW, peer } from "./wireguard.fixtures";
import { WireGuard } from "./WireGuard";

const CONFIG = "[Interface]\nPrivateKey = cGVlci1wcml2YXRl\nAddress = 10.8.0.3/32\n\n[Peer]\nPublicKey = HIgo…\nEndpoint = vpn.example.net:51820\n";
const QR_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29"><path d="M0 0h7v7H0z"/></svg>';

let objectUrls: string[] = [];
beforeEach(() => {
  objectUrls = [];
  vi.spyOn(Date, "now").mockReturnValue(NOW * 1000);
  // jsdom has no object URLs.
  URL.createObjectURL = vi.fn((b: Blob) => {
    const u = `blob:${b.type || "x"}-${objectUrls.length}`;
    objectUrls.push(u);
    return u;
  });
  URL.revokeObjectURL = vi.fn();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function serve(opts: { peers?: Peer[]; status?: () => unknown } = {}) {
  let peers = opts.peers ?? [peer()];
  const f = fakeFetch((url, init) => {
    const m = init.method ?? "GET";
    if (url.pathname === "/api/v1/wg/interfaces") return json({ interfaces: [iface(), iface({ name: "wg1", up: false })] });
    if (url.pathname === "/api/v1/wg/peers" && m === "GET") return json({ peers: peers.filter((p) => p.interface === url.searchParams.get("interface")) });
    if (url.pathname === "/api/v1/wg/status") return json(opts.status?.() ?? { ts: NOW, interfaces: [] });
    if (url.pathname === "/api/v1/wg/peers" && m === "POST") {
      const body = JSON.parse(String(init.body)) as { name: string; interface: string };
      const created = peer({ id: "p9", name: body.name, interface: body.interface, addresses: ["10.8.0.3/32"], status: null });
      peers = [...peers, created];
      return json({ peer: created, config: CONFIG }, 201);
    }
    if (url.pathname === "/api/v1/wg/peers/p9/qr.svg") return new Response(QR_SVG, { headers: { "Content-Type": "image/svg+xml" } });
    if (url.pathname === "/api/v1/wg/peers/p9/link" && m === "POST")
      return json({ url: "http://node/api/v1/wg/links/one-time-code", expires_at: NOW + 3600 });
    const dis = /^\/api\/v1\/wg\/peers\/(\w+)\/(enable|disable)$/.exec(url.pathname);
    if (dis && m === "POST") {
      peers = peers.map((p) => (p.id === dis[1] ? { ...p, enabled: dis[2] === "enable" } : p));
      return json({ ok: true });
    }
    return undefined;
  });
  vi.stubGlobal("fetch", f.fn);
  return f;
}

const renderPage = (role = "admin") =>
  render(
    <Services>
      <WireGuard role={role} />
    </Services>,
  );

describe("WireGuard peers", () => {
  it("lists the peers with an online dot, the handshake age and live rates", async () => {
    serve();
    renderPage();
    const row = (await screen.findByTestId("peers")).querySelector('[data-peer="alice-phone"]') as HTMLElement;
    expect(row.getAttribute("data-online")).toBe("true");
    expect(within(row).getByRole("img", { name: "online" })).toBeTruthy();
    expect(row.textContent).toContain("1 min ago");
    expect(within(row).getByTestId("rx-rate").textContent).toBe("2.0 KiB/s");
    expect(row.textContent).toContain("1.5 MiB");
    expect(screen.getByTestId("wg-interface").textContent).toContain("vpn.example.net:51820");
  });

  it("polls /wg/status every 5 s and shows the new counters", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let rate = 2048;
    const f = serve({
      status: () => ({
        ts: NOW,
        interfaces: [{ name: "wg0", peers: [{ id: "p1", online: true, endpoint: "203.0.113.7:51820", latest_handshake: NOW - 10, rx_total: 3 << 20, tx_total: 0, rx_rate: rate, tx_rate: 0 }] }],
      }),
    });
    renderPage();
    await waitFor(() => expect(screen.getByTestId("rx-rate").textContent).toBe("2.0 KiB/s"));
    rate = 5 << 20;
    await act(async () => {
      await vi.advanceTimersByTimeAsync(POLL_MS);
    });
    await waitFor(() => expect(screen.getByTestId("rx-rate").textContent).toBe("5.0 MiB/s"));
    expect(f.calls.filter((c) => c.url.pathname === "/api/v1/wg/status").length).toBeGreaterThanOrEqual(2);
  });

  it("switches interfaces with the picker", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("peers");
    fireEvent.change(screen.getByLabelText("Interface"), { target: { value: "wg1" } });
    await waitFor(() => expect(window.location.search).toBe("?interface=wg1"));
    await screen.findByText("No peers on wg1");
    expect(f.calls.some((c) => c.url.searchParams.get("interface") === "wg1")).toBe(true);
    window.history.replaceState(null, "", "/");
  });

  it("disables a peer only after the confirmation, and enables it at once", async () => {
    const f = serve();
    renderPage("operator");
    const toggle = (await screen.findByRole("switch", { name: "alice-phone enabled" })) as HTMLInputElement;
    expect(toggle.checked).toBe(true);
    fireEvent.click(toggle);
    const confirm = screen.getByRole("alertdialog", { name: "Disable alice-phone?" });
    expect(f.calls.some((c) => c.url.pathname.endsWith("/disable"))).toBe(false);
    // Cancel: nothing posted, still enabled.
    fireEvent.click(within(confirm).getByRole("button", { name: "Cancel" }));
    expect(f.calls.some((c) => c.url.pathname.endsWith("/disable"))).toBe(false);
    expect((screen.getByRole("switch", { name: "alice-phone enabled" }) as HTMLInputElement).checked).toBe(true);

    fireEvent.click(screen.getByRole("switch", { name: "alice-phone enabled" }));
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Disable" }));
    await waitFor(() => expect((screen.getByRole("switch", { name: "alice-phone enabled" }) as HTMLInputElement).checked).toBe(false));
    expect(f.calls.filter((c) => c.method === "POST").map((c) => c.url.pathname)).toEqual(["/api/v1/wg/peers/p1/disable"]);

    fireEvent.click(screen.getByRole("switch", { name: "alice-phone enabled" }));
    await waitFor(() => expect(f.calls.some((c) => c.url.pathname === "/api/v1/wg/peers/p1/enable")).toBe(true));
    expect(screen.queryByRole("alertdialog")).toBeNull();
  });

  it("offers add, config and delete to admins only, and the toggle to operators", async () => {
    serve();
    renderPage("viewer");
    const toggle = (await screen.findByRole("switch", { name: "alice-phone enabled" })) as HTMLInputElement;
    expect(toggle.disabled).toBe(true);
    expect(screen.queryByRole("button", { name: "Add peer" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Delete…" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Config" })).toBeNull();
  });
});

describe("Add peer", () => {
  it("posts the form, then shows the QR (fetched with the token), the config and a one-time link", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("peers");
    fireEvent.click(screen.getByRole("button", { name: "Add peer" }));
    const dialog = screen.getByRole("dialog", { name: "Add a peer to wg0" });
    fireEvent.change(within(dialog).getByLabelText("Name"), { target: { value: "bob-laptop" } });
    fireEvent.change(within(dialog).getByLabelText("Expires"), { target: { value: "3" } }); // 7 days
    fireEvent.click(within(dialog).getByRole("button", { name: "Add peer" }));

    const qr = (await screen.findByTestId("peer-qr")) as HTMLImageElement;
    expect(qr.getAttribute("src")).toBe(`data:image/svg+xml;charset=utf-8,${encodeURIComponent(QR_SVG)}`);
    const post = f.calls.find((c) => c.method === "POST" && c.url.pathname === "/api/v1/wg/peers")!;
    expect(JSON.parse(String(post.body))).toEqual({ interface: "wg0", name: "bob-laptop", expires_at: NOW + 7 * 86_400, preshared_key: true });
    const qrCall = f.calls.find((c) => c.url.pathname === "/api/v1/wg/peers/p9/qr.svg")!;
    expect(qrCall).toBeTruthy();
    expect(screen.getByRole("dialog", { name: "bob-laptop is added" })).toBeTruthy();
    expect(screen.getByTestId("peer-config-text").textContent).toBe(CONFIG);
    // The config given by the POST is used: no second fetch of it.
    expect(f.calls.some((c) => c.url.pathname.endsWith("/config"))).toBe(false);
    const download = screen.getByRole("link", { name: "Download .conf" });
    expect(download.getAttribute("download")).toBe("wg0-bob-laptop.conf");
    expect(download.getAttribute("href")).toMatch(/^blob:text\/plain/);

    fireEvent.click(screen.getByRole("button", { name: "One-time link" }));
    expect((await screen.findByTestId("one-time-link")).textContent).toContain("http://node/api/v1/wg/links/one-time-code");
    expect(JSON.parse(String(f.calls.find((c) => c.url.pathname.endsWith("/link"))!.body))).toEqual({ ttl_s: 3600 });

    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.getByTestId("peers").querySelector('[data-peer="bob-laptop"]')).not.toBeNull());
    expect(URL.revokeObjectURL).toHaveBeenCalled();
  });

  it("sends the QR request with the bearer token", async () => {
    const seen: (string | null)[] = [];
    const f = serve();
    const inner = f.fn;
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init: RequestInit = {}) => {
      if (String(input).includes("qr.svg")) seen.push(new Headers(init.headers).get("Authorization"));
      return inner(input, init);
    });
    renderPage();
    await screen.findByTestId("peers");
    fireEvent.click(screen.getByRole("button", { name: "Add peer" }));
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "bob" } });
    fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Add peer" }));
    await screen.findByTestId("peer-qr");
    expect(seen).toEqual(["Bearer T"]);
  });

  it("refuses a malformed public key before posting", async () => {
    const f = serve();
    renderPage();
    await screen.findByTestId("peers");
    fireEvent.click(screen.getByRole("button", { name: "Add peer" }));
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "bob" } });
    fireEvent.change(screen.getByLabelText("Public key (optional)"), { target: { value: "abc" } });
    fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Add peer" }));
    expect(screen.getByRole("alert").textContent).toContain("not a WireGuard public key");
    expect(f.calls.some((c) => c.method === "POST")).toBe(false);
  });
});
