import type { CollectorBadge } from "../model/summary";

export function CollectorBadges({ collectors }: { collectors: CollectorBadge[] }) {
  if (collectors.length === 0) return null;
  return (
    <ul className="badges" aria-label="Collectors">
      {collectors.map((c) => (
        <li
          key={c.name}
          className={`badge badge-${c.state}`}
          title={c.message || `${c.name}: ${c.state}${c.durationMs != null ? ` (${c.durationMs.toFixed(1)} ms)` : ""}`}
          data-collector={c.name}
          data-state={c.state}
        >
          <span className="dot" aria-hidden="true" />
          {c.name}
          <span className="sr-only">: {c.state}{c.message ? ` — ${c.message}` : ""}</span>
        </li>
      ))}
    </ul>
  );
}
