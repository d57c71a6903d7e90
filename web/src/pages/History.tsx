import { useCallback, useEffect, useMemo, useState } from "react";
import { ALL_HOSTS, hostLabels, matchesHost } from "../api/agents";
import { ApiError } from "../api/client";
import type { HistoryResponse, SeriesRef } from "../api/types";
import { HistoryChart } from "../charts/HistoryChart";
import { HostPicker } from "../components/HostPicker";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { labelsText, parseSeriesKey, seriesKey } from "../live/series";
import { isScored, SCORE_SERIES, stretchesFor, type Stretch } from "../model/anomalies";
import { historyViewSearch, parseHistoryView, RANGES, type HistoryView } from "./historyView";
import { navigate, useLocationPath } from "../router";

/** The step between points: "1 s", "43 s", "60 s", "1 h". */
export function formatStep(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return "—";
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds < 1) return "<1 s";
  return seconds < 10 ? `${Number(seconds.toFixed(1))} s` : `${Math.round(seconds)} s`;
}

function SeriesPicker({ selected, onAdd, host }: { selected: string[]; onAdd: (key: string) => void; host: string }) {
  const { api } = useApp();
  const [q, setQ] = useState("");
  const [results, setResults] = useState<SeriesRef[]>([]);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    const ac = new AbortController();
    const t = setTimeout(() => {
      setLoading(true);
      // An agent's series are found by its host label when nothing else is asked for.
      const agent = hostLabels(host).host;
      api.series(q.trim() || (agent ? `host=${agent}` : ""), 200, ac.signal).then(
        (r) => {
          setResults(r.series.filter((s) => matchesHost(s.labels, host)));
          setError("");
          setLoading(false);
        },
        (err: unknown) => {
          if (ac.signal.aborted) return;
          setError(err instanceof Error ? err.message : String(err));
          setLoading(false);
        },
      );
    }, 250);
    return () => {
      clearTimeout(t);
      ac.abort();
    };
  }, [api, q, host]);

  return (
    <div className="picker">
      <label htmlFor="series-q">Find series</label>
      <input
        id="series-q"
        type="search"
        placeholder="name or label, e.g. cpu, eth0, gpu"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        autoComplete="off"
      />
      {error && <p className="error">{error}</p>}
      <ul className="picker-results" aria-busy={loading} aria-label="Matching series">
        {results.slice(0, 100).map((s) => {
          const key = seriesKey(s.name, s.labels);
          const on = selected.includes(key);
          return (
            <li key={key}>
              <button type="button" className="series-option" disabled={on} onClick={() => onAdd(key)} title={key}>
                <span className="mono">{s.name}</span> <span className="muted">{labelsText(s.labels)}</span>
              </button>
            </li>
          );
        })}
        {!loading && results.length === 0 && !error && <li className="muted">No series match.</li>}
      </ul>
    </div>
  );
}

function SeriesPanel({ skey, from, to, host, onZoom, onRemove }: { skey: string; from: number; to: number; host: string; onZoom: (a: number, b: number) => void; onRemove: () => void }) {
  const { api, palette } = useApp();
  const [data, setData] = useState<HistoryResponse | null>(null);
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);
  const ref = useMemo(() => parseSeriesKey(skey), [skey]);
  const pointCount = data ? data.series.reduce((n, s) => n + s.points.length, 0) : 0;
  const [anomalies, setAnomalies] = useState<Stretch[]>([]);

  // The series' anomaly score, for shading its anomalous stretches (none stored yet: none shown).
  useEffect(() => {
    setAnomalies([]);
    if (!isScored(ref.name)) return;
    const ac = new AbortController();
    const labels = { ...ref.labels, series: ref.name };
    api.history({ name: SCORE_SERIES, labels, from, to, limit: 500 }, ac.signal).then(
      (r) => setAnomalies(stretchesFor(r, ref.name, ref.labels)),
      () => undefined,
    );
    return () => ac.abort();
  }, [api, ref, from, to]);

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    // The picked host narrows the series (an agent's carry host=<id>; this node's none).
    const labels = { ...ref.labels, ...hostLabels(host) };
    api.history({ name: ref.name, labels, from, to, limit: 500 }, ac.signal).then(
      (r) => {
        // The labels parameter is a filter: keep the exact series when it is there.
        const mine = r.series.filter((s) => matchesHost(s.labels, host));
        const wanted = seriesKey(ref.name, labels);
        const exact = mine.filter((s) => seriesKey(s.name, s.labels) === wanted);
        setData({ ...r, series: exact.length ? exact : mine });
        setError("");
        setLoading(false);
      },
      (err: unknown) => {
        if (ac.signal.aborted) return;
        setData(null);
        setError(
          err instanceof ApiError && err.status === 404
            ? "No stored data for this series yet."
            : err instanceof Error
              ? err.message
              : String(err),
        );
        setLoading(false);
      },
    );
    return () => ac.abort();
  }, [api, ref, skey, from, to, host]);

  return (
    <section className="card history-panel" aria-label={skey} data-series={skey}>
      <div className="panel-head">
        <h2>
          <span className="mono">{ref.name}</span> <span className="muted">{labelsText(ref.labels)}</span>
        </h2>
        <span className="muted small" data-testid="panel-meta">
          {loading ? "loading…" : data ? `${data.tier} · ${formatStep(data.granularity)} · ${pointCount} points` : ""}
        </span>
        <button type="button" className="icon-button" onClick={onRemove} aria-label={`Remove ${skey}`}>
          ✕
        </button>
      </div>
      {error && <p className="muted">{error}</p>}
      {data && (
        <div className="chart-wrap">
          <HistoryChart series={data.series} from={from} to={to} palette={palette} onZoom={onZoom} anomalies={anomalies} />
          {pointCount === 0 && <p className="chart-empty muted">No samples in this range.</p>}
        </div>
      )}
    </section>
  );
}

export function History() {
  const { search } = useLocationPath();
  const view = useMemo(() => parseHistoryView(search), [search]);
  const host = useMemo(() => new URLSearchParams(search).get("host") ?? ALL_HOSTS, [search]);
  const [tick, setTick] = useState(0);

  const { from, to } = useMemo(() => {
    if (view.from !== null && view.to !== null) return { from: view.from, to: view.to };
    const secs = RANGES.find((r) => r.key === view.range)?.seconds ?? 3600;
    const now = Date.now() / 1000;
    return { from: now - secs, to: now };
    // `tick` forces a new "now" on refresh.
  }, [view.from, view.to, view.range, tick]);

  const go = useCallback(
    (v: HistoryView, h: string = host) =>
      navigate(`/history${historyViewSearch(v)}${h ? `&host=${encodeURIComponent(h)}` : ""}`),
    [host],
  );
  const onZoom = useCallback((a: number, b: number) => go({ ...view, from: a, to: b }), [go, view]);

  return (
    <section className="page history">
      <div className="page-head">
        <h1>History</h1>
        <span className="muted" data-testid="history-range" data-from={from.toFixed(0)} data-to={to.toFixed(0)}>
          {formatTimestamp(from)} → {formatTimestamp(to)}
        </span>
      </div>
      <div className="toolbar" role="toolbar" aria-label="Time range">
        {RANGES.map((r) => (
          <button
            key={r.key}
            type="button"
            aria-pressed={view.from === null && view.range === r.key}
            onClick={() => {
              go({ ...view, range: r.key, from: null, to: null });
              setTick((t) => t + 1);
            }}
          >
            {r.label}
          </button>
        ))}
        {view.from !== null && (
          <button type="button" onClick={() => go({ ...view, from: null, to: null })} data-testid="reset-zoom">
            Reset zoom
          </button>
        )}
        <button type="button" onClick={() => setTick((t) => t + 1)} disabled={view.from !== null}>
          Refresh
        </button>
        <HostPicker value={host} onChange={(h) => go(view, h)} />
        <span className="muted small hint-inline">Drag across a chart to zoom.</span>
      </div>
      <div className="history-layout">
        <SeriesPicker host={host} selected={view.series} onAdd={(k) => go({ ...view, series: [...view.series, k] })} />
        <div className="history-charts">
          {view.series.map((k) => (
            <SeriesPanel
              key={k}
              skey={k}
              from={from}
              to={to}
              host={host}
              onZoom={onZoom}
              onRemove={() => go({ ...view, series: view.series.filter((x) => x !== k) })}
            />
          ))}
          {view.series.length === 0 && <p className="muted">Pick a series on the left.</p>}
        </div>
      </div>
    </section>
  );
}
