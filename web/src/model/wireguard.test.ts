import { describe, expect, it } from "vitest";
import type { WgStatus } from "../api/wireguard";
import { NOW, peer } from "../pages/wireguard.fixtures";
import { configFileName, expiryAt, expiryText, handshakeAge, isOnline, isPublicKey, mergeStatus, sortPeers, svgDataUrl, trafficText } from "./wireguard";

describe("handshakeAge", () => {
  it("says how long ago, in the words of the rollout pages", () => {
    expect(handshakeAge(NOW - 30, NOW)).toBe("30 s ago");
    expect(handshakeAge(NOW - 150, NOW)).toBe("2 min ago");
    expect(handshakeAge(NOW - 3 * 3600 - 5, NOW)).toBe("3 h ago");
    expect(handshakeAge(NOW, NOW)).toBe("just now");
  });
  it("says never when there was no handshake (WireGuard reports 0)", () => {
    expect(handshakeAge(0, NOW)).toBe("never");
    expect(handshakeAge(null, NOW)).toBe("never");
  });
});

describe("isOnline", () => {
  it("needs the node's flag and a recent handshake", () => {
    expect(isOnline(peer().status, NOW)).toBe(true);
    expect(isOnline({ ...peer().status!, latest_handshake: NOW - 600 }, NOW)).toBe(false);
    expect(isOnline({ ...peer().status!, online: false }, NOW)).toBe(false);
    expect(isOnline(null, NOW)).toBe(false);
  });
});

describe("trafficText", () => {
  it("formats rates and totals in binary units", () => {
    expect(trafficText(2048, 1_572_864)).toEqual({ rate: "2.0 KiB/s", total: "1.5 MiB" });
    expect(trafficText(0, 512)).toEqual({ rate: "0 B/s", total: "512 B" });
  });
  it("shows a dash for a missing counter rather than NaN", () => {
    expect(trafficText(null, undefined)).toEqual({ rate: "—", total: "—" });
  });
});

describe("mergeStatus", () => {
  it("lays the polled counters over the peers by id, keeping the rest", () => {
    const status: WgStatus = {
      ts: NOW,
      interfaces: [
        {
          name: "wg0",
          peers: [{ id: "p1", online: false, endpoint: "198.51.100.1:4000", latest_handshake: NOW - 5, rx_total: 9, tx_total: 8, rx_rate: 7, tx_rate: 6 }],
        },
      ],
    };
    const [a, b] = mergeStatus([peer(), peer({ id: "p2", name: "bob" })], status);
    expect(a!.status).toMatchObject({ online: false, endpoint: "198.51.100.1:4000", rx_rate: 7, tx_total: 8 });
    expect(a!.name).toBe("alice-phone");
    expect(b!.status).toEqual(peer().status);
  });
  it("gives a peer without status its first one", () => {
    const status: WgStatus = { ts: NOW, interfaces: [{ name: "wg0", peers: [{ id: "p1", online: true, endpoint: null, latest_handshake: NOW, rx_total: 1, tx_total: 2, rx_rate: 3, tx_rate: 4 }] }] };
    expect(mergeStatus([peer({ status: null })], status)[0]!.status).toMatchObject({ online: true, rx_rate: 3 });
  });
  it("returns the peers unchanged before the first poll", () => {
    const peers = [peer()];
    expect(mergeStatus(peers, null)).toBe(peers);
  });
});

describe("sortPeers", () => {
  it("puts enabled peers first, then by name", () => {
    const sorted = sortPeers([peer({ id: "1", name: "zed" }), peer({ id: "2", name: "amy", enabled: false }), peer({ id: "3", name: "bob" })]);
    expect(sorted.map((p) => p.name)).toEqual(["bob", "zed", "amy"]);
  });
});

describe("expiry", () => {
  it("turns a choice into unix seconds, and never into nothing", () => {
    expect(expiryAt(86_400, NOW + 0.7)).toBe(NOW + 86_400);
    expect(expiryAt(null, NOW)).toBeUndefined();
  });
  it("says when a peer expires", () => {
    expect(expiryText(null, NOW)).toBe("never");
    expect(expiryText(NOW - 1, NOW)).toBe("expired");
    expect(expiryText(NOW + 90, NOW)).toBe("in 2 min");
    expect(expiryText(NOW + 5 * 3600, NOW)).toBe("in 5 h");
    expect(expiryText(NOW + 3 * 86_400 + 10, NOW)).toBe("in 3 d");
    // Just created with "7 days": not "in 6 d".
    expect(expiryText(NOW + 7 * 86_400 - 2, NOW)).toBe("in 7 d");
  });
});

describe("svgDataUrl", () => {
  it("makes a data: URL of an SVG document, with or without a prolog", () => {
    expect(svgDataUrl('<svg xmlns="http://www.w3.org/2000/svg"/>')).toBe("data:image/svg+xml;charset=utf-8,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%2F%3E");
    expect(svgDataUrl('<?xml version="1.0" encoding="utf-8"?>\n<svg viewBox="0 0 1 1"></svg>')).toMatch(/^data:image\/svg\+xml/);
  });
  it("refuses what is not an SVG (a problem page, HTML)", () => {
    expect(svgDataUrl('{"detail":"no"}')).toBeNull();
    expect(svgDataUrl("<html><svg></svg></html>")).toBeNull();
  });
});

describe("configFileName", () => {
  it("makes a safe .conf name from the interface and the peer", () => {
    expect(configFileName("wg0", "alice-phone")).toBe("wg0-alice-phone.conf");
    expect(configFileName("wg0", "Bob's iPad / home")).toBe("wg0-Bob-s-iPad-home.conf");
    expect(configFileName("", "")).toBe("peer.conf");
  });
});

describe("isPublicKey", () => {
  it("accepts a base64 Curve25519 key and refuses anything else", () => {
    expect(isPublicKey("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=")).toBe(true);
    expect(isPublicKey(" xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg= ")).toBe(true);
    expect(isPublicKey("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg")).toBe(false);
    expect(isPublicKey("not a key")).toBe(false);
  });
});
