// Report buttons: fetch a PDF with the API client (it needs the bearer token) and hand it to
// the browser as a download through a short-lived object URL.
import { useState } from "react";
import type { ApiClient } from "../api/client";
import { fetchReport, renderRolloutReport, type SavedReport } from "../api/reports";
import { useApp } from "../context";

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Save a Blob under `name` via a temporary link (revoked once clicked). */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

export async function downloadReport(api: ApiClient, report: SavedReport): Promise<void> {
  saveBlob(await fetchReport(api, report), report.name);
}

/** Busy state and error of one async action. */
function useAction(): { busy: boolean; error: string; run: (work: () => Promise<void>) => Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError("");
    try {
      await work();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run };
}

/** "Download report (PDF)" for one rollout: the node renders it (operator role), then it downloads. */
export function RolloutReportButton({ name }: { name: string }) {
  const { api } = useApp();
  const { busy, error, run } = useAction();
  return (
    <span className="report-button">
      <button
        type="button"
        disabled={busy}
        aria-busy={busy}
        data-testid="report-download"
        onClick={() => void run(async () => downloadReport(api, await renderRolloutReport(api, name)))}
      >
        {busy ? "Rendering report…" : "Download report (PDF)"}
      </button>
      {error && (
        <span className="error small" role="alert">
          {" "}
          Report: {error}
        </span>
      )}
    </span>
  );
}

/** A download button for a report already saved on the node. */
export function SavedReportButton({ report }: { report: SavedReport }) {
  const { api } = useApp();
  const { busy, error, run } = useAction();
  return (
    <>
      <button type="button" disabled={busy} onClick={() => void run(() => downloadReport(api, report))} aria-label={`Download ${report.name}`}>
        {busy ? "Downloading…" : "Download"}
      </button>
      {error && (
        <span className="error small" role="alert">
          {" "}
          {error}
        </span>
      )}
    </>
  );
}
