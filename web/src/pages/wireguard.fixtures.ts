// Test fixtures of the WireGuard page: the WireGuard API contract's shapes. Used by *.test.* files only.
import type { Peer, WgInterface } from "../api/wireguard";

export const NOW = 1_764_615_000;

export function peer(extra: Partial<Peer> = {}): Peer {
  return {
    id: "p1",
    interface: "wg0",
    name: "alice-phone",
    public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
    addresses: ["10.8.0.2/32"],
    allowed_ips: ["10.8.0.2/32"],
    extra_routes: [],
    enabled: true,
    expires_at: null,
    created_at: NOW - 86_400,
    has_preshared_key: true,
    has_private_key: true,
    status: {
      online: true,
      endpoint: "203.0.113.7:51820",
      latest_handshake: NOW - 95,
      rx_total: 1_572_864,
      tx_total: 512,
      rx_rate: 2048,
      tx_rate: 0,
    },
    ...extra,
  };
}

export function iface(extra: Partial<WgInterface> = {}): WgInterface {
  return {
    name: "wg0",
    addresses: ["10.8.0.1/24"],
    listen_port: 51820,
    dns: ["10.8.0.1"],
    mtu: null,
    endpoint: "vpn.example.net:51820",
    public_key: "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
    peers: 1,
    up: true,
    ...extra,
  };
}
