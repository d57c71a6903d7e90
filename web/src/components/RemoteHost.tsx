import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import type { Labels } from "../api/types";
import { useApp } from "../context";
import { formatBytes, formatNumber, formatPercent, formatTimestamp } from "../format";
import { seriesKey } from "../live/series";
import { Link } from "../router";

/** The readings the Overview shows for an agent's host: name, labels, how to print it. */
export const REMOTE_TILES: { title: string; name: string; labels: Labels; format: (v: number | null) => string }[] = [
  { title: "CPU", name: "system.cpu.utilization", labels: { cpu: "total" }, format: (v) => formatPercent(v) },
  { title: "Memory", name: "system.memory.utilization", labels: {}, format: (v) => formatPercent(v) },
  { title: "Memory used", name: "system.memory.usage", labels: { state: "used" }, format: (v) => formatBytes(v) },
  { title: "Load 1m", name: "system.cpu.load_average.1m", labels: {}, format: (v) => formatNumber(v) },
  { title: "Processes", name: "system.processes.count", labels: {}, format: (v) => (v === null ? "—" : String(v)) },
];

/** How often the latest readings are read again. */
export const REMOTE_REFRESH_MS = 5000;

interface Reading {
  value: number | null;
  ts: number | null;
}

/**
 * An agent's host on the Overview: its latest stored readings (the live stream carries this
 * node's collectors only), read from history every few seconds, with links to its charts.
 */
export function RemoteHost({ host }: { host: string }) {
  const { api } = useApp();
  const [readings, setReadings] = useState<Record<string, Reading>>({});
  const [error, setError] = useState("");

  useEffect(() => {
    const ac = new AbortController();
    const load = async () => {
      const to = Date.now() / 1000 + 60;
      const out: Record<string, Reading> = {};
      const results = await Promise.allSettled(
        REMOTE_TILES.map((t) => api.history({ name: t.name, labels: { ...t.labels, host }, from: to - 900, to, limit: 10 }, ac.signal)),
      );
      if (ac.signal.aborted) return;
      let failure = "";
      results.forEach((r, i) => {
        const tile = REMOTE_TILES[i]!;
        const points = r.status === "fulfilled" ? (r.value.series[0]?.points ?? []) : [];
        const last = points.at(-1);
        out[tile.title] = { value: last ? last[1] : null, ts: last ? last[0] : null };
        if (r.status === "rejected" && !(r.reason instanceof ApiError && r.reason.status === 404)) failure = String(r.reason);
      });
      setReadings(out);
      setError(failure);
    };
    void load();
    const t = setInterval(() => void load(), REMOTE_REFRESH_MS);
    return () => {
      clearInterval(t);
      ac.abort();
    };
  }, [api, host]);

  const newest = Math.max(...Object.values(readings).map((r) => r.ts ?? 0));
  const charts = REMOTE_TILES.slice(0, 2)
    .map((t) => `s=${encodeURIComponent(seriesKey(t.name, { ...t.labels, host }))}`)
    .join("&");
  return (
    <section className="card" aria-labelledby="remote-host-title" data-testid="remote-host">
      <h2 id="remote-host-title">
        Host <span className="muted">{host}</span>
      </h2>
      <p className="muted small">
        Reported by its agent{newest > 0 ? `; latest sample ${formatTimestamp(newest)}` : ""}.{" "}
        <Link to={`/history?${charts}&range=1h&host=${encodeURIComponent(host)}`}>Open its history</Link> ·{" "}
        <Link to="/agents">Agents</Link>
      </p>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="tiles">
        {REMOTE_TILES.map((t) => (
          <div className="tile" key={t.title} data-testid={`remote-${t.title}`}>
            <div className="tile-head">
              <span className="tile-title">{t.title}</span>
              <span className="tile-value">{t.format(readings[t.title]?.value ?? null)}</span>
            </div>
          </div>
        ))}
      </div>
    </section>
  );
}
