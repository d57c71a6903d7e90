import { useEffect, useId, useMemo, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { getTrace } from "../api/rollouts";
import type { TraceResponse } from "../api/types";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { formatMs, layoutWaterfall, waterfallTicks } from "../model/waterfall";

/** The spans of one trace, laid out by start and duration, indented by parent; errors red. */
export function Waterfall({ trace }: { trace: TraceResponse }) {
  const w = useMemo(() => layoutWaterfall(trace.spans), [trace]);
  const ticks = useMemo(() => waterfallTicks(w.durationMs), [w.durationMs]);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <div className="waterfall" data-testid="waterfall">
      <p className="muted small">
        {w.rows.length} span{w.rows.length === 1 ? "" : "s"} · {formatMs(w.durationMs)} · {w.services.join(", ") || "—"}
        {w.errors > 0 && <span className="error"> · {w.errors} error{w.errors === 1 ? "" : "s"}</span>} · started{" "}
        {formatTimestamp(w.start)}
      </p>
      <div className="wf-axis" aria-hidden="true">
        <span className="wf-name" />
        <span className="wf-track">
          {ticks.map((t) => {
            const at = w.durationMs > 0 ? (t / w.durationMs) * 100 : 0;
            return (
              <span key={t} className={`wf-tick${at > 85 ? " wf-tick-end" : ""}`} style={{ left: `${at}%` }}>
                {formatMs(t)}
              </span>
            );
          })}
        </span>
        <span className="wf-dur" />
      </div>
      <ul className="wf-rows">
        {w.rows.map((r) => {
          const s = r.span;
          const expanded = open === s.span_id;
          return (
            <li key={s.span_id} className={`wf-row${r.error ? " wf-error" : ""}`} data-span={s.span_id} data-depth={r.depth} data-error={r.error || undefined}>
              <button
                type="button"
                className="wf-line"
                aria-expanded={expanded}
                onClick={() => setOpen(expanded ? null : s.span_id)}
                title={`${s.service} ${s.name}: ${formatMs(s.duration_ms)}${s.status_message ? ` — ${s.status_message}` : ""}`}
              >
                <span className="wf-name" style={{ paddingLeft: `${r.depth * 12}px` }}>
                  <span className="mono">{s.name}</span> <span className="muted small">{s.service}</span>
                  {r.orphan && <span className="muted small"> (parent not stored)</span>}
                </span>
                <span className="wf-track">
                  <span className="wf-bar" style={{ left: `${r.offset}%`, width: `${r.width}%` }} />
                </span>
                <span className="wf-dur small mono">{formatMs(s.duration_ms)}</span>
              </button>
              {expanded && (
                <dl className="kv wf-detail small">
                  <dt>span</dt>
                  <dd className="mono">{s.span_id}</dd>
                  <dt>service</dt>
                  <dd>
                    {s.service} {s.version && <span className="muted">{s.version}</span>}
                  </dd>
                  <dt>kind</dt>
                  <dd>{s.kind}</dd>
                  <dt>status</dt>
                  <dd className={r.error ? "error" : undefined}>
                    {s.status}
                    {s.status_message ? ` — ${s.status_message}` : ""}
                  </dd>
                  {Object.entries(s.attributes ?? {}).map(([k, v]) => (
                    <div key={k} className="kv-pair">
                      <dt className="mono">{k}</dt>
                      <dd className="mono">{typeof v === "string" ? v : JSON.stringify(v)}</dd>
                    </div>
                  ))}
                </dl>
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** A trace in an overlay: fetched by id, closed with Escape, the ✕ or a click outside. */
export function TraceOverlay({ traceId, onClose }: { traceId: string; onClose: () => void }) {
  const { api } = useApp();
  const [trace, setTrace] = useState<TraceResponse | null>(null);
  const [error, setError] = useState("");
  const titleId = useId();
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const ac = new AbortController();
    setTrace(null);
    setError("");
    getTrace(api, traceId, ac.signal).then(setTrace, (err: unknown) => {
      if (ac.signal.aborted) return;
      setError(
        err instanceof ApiError && err.status === 404
          ? "No spans of this trace are stored (yet): the exemplar may be older than the retention, or still arriving."
          : err instanceof Error
            ? err.message
            : String(err),
      );
    });
    return () => ac.abort();
  }, [api, traceId]);

  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal modal-wide" role="dialog" aria-modal="true" aria-labelledby={titleId}>
        <div className="panel-head">
          <h2 id={titleId}>
            Trace <span className="mono muted">{traceId}</span>
          </h2>
          <button type="button" className="icon-button" ref={closeRef} onClick={onClose} aria-label="Close trace">
            ✕
          </button>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {!trace && !error && <p className="muted">Loading…</p>}
        {trace && <Waterfall trace={trace} />}
      </div>
    </div>
  );
}
