import { useEffect, useState } from "react";
import { ALL_HOSTS, listAgents, LOCAL_HOST, type AgentsResponse } from "../api/agents";
import { useApp } from "../context";

export interface HostPickerProps {
  value: string;
  onChange: (host: string) => void;
  /** Offer "All hosts" (History); the Overview shows one host at a time. */
  allowAll?: boolean;
}

/** Picks the host whose telemetry a page shows: this node or one of the agents reporting to it. */
export function HostPicker({ value, onChange, allowAll = true }: HostPickerProps) {
  const { api } = useApp();
  const [data, setData] = useState<AgentsResponse | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    const ac = new AbortController();
    listAgents(api, ac.signal).then(
      (r) => {
        setData(r);
        setError("");
      },
      (err: unknown) => {
        if (!ac.signal.aborted) setError(err instanceof Error ? err.message : String(err));
      },
    );
    return () => ac.abort();
  }, [api]);

  const agents = data?.agents ?? [];
  // A host named in the URL or chosen before the list arrived stays selectable.
  const known = value === ALL_HOSTS || value === LOCAL_HOST || agents.some((a) => a.id === value);
  return (
    <label className="host-pick">
      <span>Host</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label="Host" data-testid="host-picker">
        {allowAll && <option value={ALL_HOSTS}>All hosts</option>}
        <option value={LOCAL_HOST}>This node{data ? ` (${data.local.hostname})` : ""}</option>
        {agents.map((a) => (
          <option key={a.id} value={a.id}>
            {a.id}
            {a.hostname && a.hostname !== a.id ? ` (${a.hostname})` : ""}
            {a.online ? "" : " · offline"}
          </option>
        ))}
        {!known && <option value={value}>{value}</option>}
      </select>
      {error && (
        <span className="muted small" role="status">
          agents unavailable: {error}
        </span>
      )}
    </label>
  );
}
