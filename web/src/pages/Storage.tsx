import { useCallback, useEffect, useState } from "react";
import type { StorageInfo } from "../api/types";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { useApp } from "../context";
import { formatBytes, formatTimestamp } from "../format";

const FOLDER_HINT: Record<string, string> = {
  config: "preferences and settings",
  state: "checkpoint, clean-shutdown flag, keys",
  db: "history database",
  logs: "rotating logs",
  spool: "agent spool",
  cache: "safe to delete",
  reports: "exported reports",
};

const FOLDER_ORDER = ["db", "state", "config", "logs", "spool", "cache", "reports"];

export function UsageBar({ usage }: { usage: Record<string, number> }) {
  const entries = Object.entries(usage).sort(
    (a, b) => (FOLDER_ORDER.indexOf(a[0]) + 1 || 99) - (FOLDER_ORDER.indexOf(b[0]) + 1 || 99),
  );
  const total = entries.reduce((n, [, v]) => n + Math.max(0, v), 0);
  return (
    <div className="usage">
      <div className="usage-bar" role="img" aria-label={`Data directory usage, ${formatBytes(total)} in total`}>
        {entries.map(([k, v], i) =>
          v > 0 && total > 0 ? (
            <span
              key={k}
              className={`usage-seg seg-${i % 7}`}
              style={{ width: `${Math.max(0.5, (v / total) * 100)}%` }}
              title={`${k}: ${formatBytes(v)}`}
            />
          ) : null,
        )}
      </div>
      <ul className="usage-legend">
        {entries.map(([k, v], i) => (
          <li key={k} data-folder={k}>
            <span className={`swatch seg-${i % 7}`} aria-hidden="true" />
            <span className="mono">{k}/</span> <strong>{formatBytes(v)}</strong>{" "}
            <span className="muted small">{FOLDER_HINT[k] ?? ""}</span>
          </li>
        ))}
        <li>
          <span className="swatch" aria-hidden="true" /> total <strong>{formatBytes(total)}</strong>
        </li>
      </ul>
    </div>
  );
}

type Pending = "cache" | "history" | null;

export function Storage() {
  const { api } = useApp();
  const [info, setInfo] = useState<StorageInfo | null>(null);
  const [error, setError] = useState("");
  const [pending, setPending] = useState<Pending>(null);
  const [result, setResult] = useState("");

  const load = useCallback(async () => {
    try {
      setInfo(await api.storageInfo());
      setError("");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  const close = useCallback(() => setPending(null), []);

  const clearCache = async () => {
    const r = await api.clearCache();
    setResult(`Cache cleared: ${r.files} file${r.files === 1 ? "" : "s"}, ${formatBytes(r.bytes)} freed.`);
    setPending(null);
    await load();
  };

  const clearHistory = async () => {
    const r = await api.deleteHistory();
    setResult(`History cleared: ${r.deleted.toLocaleString()} samples deleted.`);
    setPending(null);
    await load();
  };

  return (
    <section className="page storage">
      <div className="page-head">
        <h1>Storage</h1>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <p className="notice ok" role="status" data-testid="storage-result">
          {result}
        </p>
      )}
      {info?.previous_run_unclean && (
        <p className="notice warn" role="alert">
          The previous run ended uncleanly. Data up to the last checkpoint was kept.
        </p>
      )}
      {!info && !error && <p className="muted">Loading…</p>}
      {info && (
        <>
          <div className="card">
            <h2>Data directory</h2>
            <dl className="kv">
              <dt>Path</dt>
              <dd className="mono" data-testid="data-dir">
                {info.data_dir}
              </dd>
              <dt>Database</dt>
              <dd className="mono">{info.db_path}</dd>
            </dl>
            <UsageBar usage={info.usage} />
          </div>
          <div className="card">
            <h2>History</h2>
            <dl className="kv">
              <dt>Series</dt>
              <dd>{info.history.series.toLocaleString()}</dd>
              <dt>Raw samples</dt>
              <dd>{info.history.raw_samples.toLocaleString()}</dd>
              <dt>Oldest</dt>
              <dd>{formatTimestamp(info.history.oldest_ts)}</dd>
              <dt>Newest</dt>
              <dd>{formatTimestamp(info.history.newest_ts)}</dd>
              <dt>Database size</dt>
              <dd>{formatBytes(info.history.db_bytes)}</dd>
            </dl>
          </div>
          <div className="card actions-card">
            <h2>Maintenance</h2>
            <div className="actions">
              <div>
                <button type="button" onClick={() => setPending("cache")}>
                  Clear cache…
                </button>
                <p className="muted small">Deletes derived files under cache/. Nothing else is touched.</p>
              </div>
              <div>
                <button type="button" className="danger" onClick={() => setPending("history")}>
                  Clear history…
                </button>
                <p className="muted small">Deletes every stored sample. Live values keep coming.</p>
              </div>
            </div>
          </div>
          <ConfirmDialog
            open={pending === "cache"}
            title="Clear the cache?"
            confirmLabel="Clear cache"
            onConfirm={clearCache}
            onCancel={close}
          >
            <p>
              This deletes every file under <code className="mono">{info.data_dir}/cache</code> (
              {formatBytes(info.usage.cache ?? 0)}). Cached files are derived data the node rebuilds when needed.
            </p>
            <p>Configuration, state, history and logs are not touched.</p>
          </ConfirmDialog>
          <ConfirmDialog
            open={pending === "history"}
            title="Clear all history?"
            confirmLabel="Delete history"
            onConfirm={clearHistory}
            onCancel={close}
          >
            <p>
              This permanently deletes <strong>{info.history.raw_samples.toLocaleString()} raw samples</strong> in{" "}
              {info.history.series.toLocaleString()} series, recorded from {formatTimestamp(info.history.oldest_ts)} to{" "}
              {formatTimestamp(info.history.newest_ts)}, and their rollups. Charts of the past will be empty.
            </p>
            <p>This cannot be undone. Live values, configuration and tokens are kept.</p>
          </ConfirmDialog>
        </>
      )}
    </section>
  );
}
