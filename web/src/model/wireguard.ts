// Pure helpers of the WireGuard page: handshake ages, merging polled counters into the
// peer list, expiry choices and file names. No I/O, no clock ("now" is passed in).
import type { Peer, PeerStatus, WgStatus } from "../api/wireguard";
import { formatBytes, formatRate } from "../format";
import { formatAgo } from "./rollouts";

/** A peer that has not shaken hands for this long is shown as offline whatever the node says. */
export const STALE_HANDSHAKE_S = 180;

/** "never" (no handshake yet), "just now", "42 s ago", "2 min ago", "3 h ago". */
export function handshakeAge(latest: number | null | undefined, now: number): string {
  if (!latest) return "never";
  return formatAgo(latest, now);
}

/** Online: the node says so and the last handshake is recent (WireGuard re-keys every 2 minutes). */
export function isOnline(status: PeerStatus | null | undefined, now: number): boolean {
  if (!status?.online) return false;
  if (!status.latest_handshake) return false;
  return now - status.latest_handshake <= STALE_HANDSHAKE_S;
}

/** "1.2 MiB/s ↓ · 3.4 KiB/s ↑"-style halves for one direction: rate and total. */
export function trafficText(rate: number | null | undefined, total: number | null | undefined): { rate: string; total: string } {
  return { rate: formatRate(rate ?? null), total: formatBytes(total ?? null) };
}

/** The peers with the counters of a /wg/status poll laid over their own (by id). */
export function mergeStatus(peers: Peer[], status: WgStatus | null): Peer[] {
  if (!status) return peers;
  const byId = new Map<string, PeerStatus>();
  for (const iface of status.interfaces) for (const p of iface.peers) byId.set(p.id, p);
  return peers.map((p) => {
    const s = byId.get(p.id);
    if (!s) return p;
    const { id: _id, ...counters } = s as PeerStatus & { id: string };
    return { ...p, status: { ...(p.status ?? ({} as PeerStatus)), ...counters } };
  });
}

/** Enabled peers first, then by name. */
export function sortPeers(peers: Peer[]): Peer[] {
  return [...peers].sort((a, b) => Number(b.enabled) - Number(a.enabled) || a.name.localeCompare(b.name));
}

export const EXPIRY_CHOICES: { label: string; seconds: number | null }[] = [
  { label: "Never", seconds: null },
  { label: "1 hour", seconds: 3600 },
  { label: "1 day", seconds: 86_400 },
  { label: "7 days", seconds: 7 * 86_400 },
  { label: "30 days", seconds: 30 * 86_400 },
  { label: "90 days", seconds: 90 * 86_400 },
];

/** Unix seconds of an expiry `seconds` from now (undefined for "never"). */
export function expiryAt(seconds: number | null, now: number): number | undefined {
  return seconds === null ? undefined : Math.floor(now + seconds);
}

/** "expired", "in 3 d", "—" for none. */
export function expiryText(expiresAt: number | null | undefined, now: number): string {
  if (!expiresAt) return "never";
  const d = expiresAt - now;
  if (d <= 0) return "expired";
  if (d < 3600) return `in ${Math.ceil(d / 60)} min`;
  if (d < 86_400) return `in ${Math.round(d / 3600)} h`;
  return `in ${Math.round(d / 86_400)} d`;
}

/**
 * An <img> source for an SVG the node sent. A data: URL, not an object URL: the node's
 * Content-Security-Policy allows `img-src 'self' data:` only. An SVG shown through <img>
 * runs no script. Null for anything that is not an SVG document.
 */
export function svgDataUrl(svg: string): string | null {
  const s = svg.trimStart();
  if (!/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>/]/i.test(s)) return null;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(s)}`;
}

/** "wg0-alice-phone.conf": a safe download name (WireGuard apps name the tunnel after it). */
export function configFileName(iface: string, peer: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_=+.-]+/g, "-").replace(/^-+|-+$/g, "");
  const base = [clean(iface), clean(peer)].filter(Boolean).join("-") || "peer";
  return `${base.slice(0, 60)}.conf`;
}

/** A WireGuard public key: 32 bytes in base64 (44 characters ending in "="). */
export function isPublicKey(s: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(s.trim());
}
