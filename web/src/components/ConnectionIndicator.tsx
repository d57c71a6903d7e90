import { useEffect, useState } from "react";
import type { ConnectionState, LiveSource } from "../live/source";

const TEXT: Record<ConnectionState, string> = {
  connecting: "connecting",
  live: "live",
  reconnecting: "reconnecting",
  offline: "offline",
  paused: "paused",
};

export function useConnectionState(live: LiveSource): ConnectionState {
  const [state, setState] = useState(live.state);
  useEffect(() => {
    setState(live.state);
    return live.onState(setState);
  }, [live]);
  return state;
}

export function ConnectionIndicator({ live }: { live: LiveSource }) {
  const state = useConnectionState(live);
  const title = state === "live" ? "Receiving live data" : live.lastError || TEXT[state];
  return (
    <span className={`conn conn-${state}`} role="status" aria-live="polite" title={title} data-testid="connection">
      <span className="dot" aria-hidden="true" />
      {TEXT[state]}
    </span>
  );
}
