import { useCallback, useEffect, useState } from "react";
import { listReports, renderNodeReport, type SavedReport } from "../api/reports";
import { downloadReport, SavedReportButton } from "../components/ReportButton";
import { useApp } from "../context";
import { formatBytes, formatTimestamp } from "../format";

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
export const NODE_WINDOW_S = 24 * 3600;

/** The KPI reports saved on the node (under reports/), and a node report for the last 24 h. */
export function Reports({ now = () => Date.now() / 1000 }: { now?: () => number }) {
  const { api } = useApp();
  const [reports, setReports] = useState<SavedReport[] | null>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [made, setMade] = useState("");

  const load = useCallback(async () => {
    try {
      setReports((await listReports(api)).reports);
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, [api]);
  useEffect(() => void load(), [load]);

  const nodeReport = async () => {
    setBusy(true);
    setMade("");
    setError("");
    try {
      const t = now();
      const saved = await renderNodeReport(api, t - NODE_WINDOW_S, t);
      setMade(saved.name);
      await load();
      await downloadReport(api, saved);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page reports">
      <h1>Reports</h1>
      <p className="muted">
        KPI reports as PDF: a rollout's gates with thresholds and PASS/FAIL stamps, its charts and decisions (from the
        rollout's page), or the node's host metrics over a window. The node keeps them under <code>reports/</code>.
      </p>
      <div className="toolbar">
        <button type="button" onClick={() => void nodeReport()} disabled={busy} aria-busy={busy} data-testid="node-report">
          {busy ? "Rendering node report…" : "Node report for the last 24 h"}
        </button>
      </div>
      {made && (
        <p className="notice ok" role="status">
          Saved {made}.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {reports === null ? (
        !error && <p className="muted">Loading…</p>
      ) : reports.length === 0 ? (
        <p className="muted" data-testid="no-reports">
          No reports yet.
        </p>
      ) : (
        <table className="table" data-testid="reports">
          <thead>
            <tr>
              <th>Report</th>
              <th>Kind</th>
              <th>Created</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {reports.map((r) => (
              <tr key={r.name} data-name={r.name}>
                <td className="mono">{r.name}</td>
                <td>{r.kind}</td>
                <td>{formatTimestamp(r.created_at)}</td>
                <td>{formatBytes(r.size)}</td>
                <td>
                  <SavedReportButton report={r} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
