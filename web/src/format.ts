// Small, pure formatting helpers. Every function accepts null/undefined and
// returns an em dash so a missing metric never renders "NaN".

const DASH = "—";
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function isNum(v: number | null | undefined): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** 1536 → "1.5 KiB". Binary (IEC) units, like `free -h` and `du -h`. */
export function formatBytes(v: number | null | undefined, digits = 1): string {
  if (!isNum(v)) return DASH;
  const sign = v < 0 ? "-" : "";
  let n = Math.abs(v);
  let i = 0;
  while (n >= 1024 && i < BYTE_UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  const shown = i === 0 ? String(Math.round(n)) : n.toFixed(n >= 100 ? 0 : digits);
  return `${sign}${shown} ${BYTE_UNITS[i]}`;
}

/** Bytes per second → "1.5 MiB/s". */
export function formatRate(v: number | null | undefined): string {
  if (!isNum(v)) return DASH;
  return `${formatBytes(v)}/s`;
}

/** A 0..1 ratio → "12.3%". */
export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (!isNum(ratio)) return DASH;
  const pct = ratio * 100;
  return `${pct.toFixed(pct >= 100 || pct === 0 ? 0 : digits)}%`;
}

/** Seconds → "3d 4h", "5h 12m", "4m 3s", "12s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (!isNum(seconds)) return DASH;
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

export function formatNumber(v: number | null | undefined, digits = 2): string {
  if (!isNum(v)) return DASH;
  return v.toFixed(digits);
}

export function formatCelsius(v: number | null | undefined): string {
  return isNum(v) ? `${v.toFixed(0)} °C` : DASH;
}

export function formatWatts(v: number | null | undefined): string {
  return isNum(v) ? `${v.toFixed(v >= 100 ? 0 : 1)} W` : DASH;
}

export function formatMHz(v: number | null | undefined): string {
  return isNum(v) ? `${v.toFixed(0)} MHz` : DASH;
}

/** Unix seconds → local "YYYY-MM-DD HH:MM:SS". */
export function formatTimestamp(ts: number | null | undefined): string {
  if (!isNum(ts)) return DASH;
  const d = new Date(ts * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

/** Format a value of a metric by its OpenTelemetry-style name. */
export function formatMetric(name: string, v: number | null | undefined): string {
  if (name.endsWith(".utilization") || name === "gpu.fan.speed") return formatPercent(v);
  if (name.endsWith(".io.rate") || name === "container.blockio.rate") return formatRate(v);
  if (name.endsWith(".operations.rate") || name.endsWith(".errors.rate"))
    return isNum(v) ? `${v.toFixed(1)}/s` : DASH;
  if (name.includes("temperature")) return formatCelsius(v);
  if (name.startsWith("gpu.power")) return formatWatts(v);
  if (name.startsWith("gpu.clock")) return formatMHz(v);
  if (name === "system.uptime") return formatDuration(v);
  if (name.includes("memory") || name.includes("paging") || name.includes("filesystem"))
    return formatBytes(v);
  if (name === "hw.fan.speed") return isNum(v) ? `${v.toFixed(0)} rpm` : DASH;
  if (name.includes("load_average")) return formatNumber(v);
  return isNum(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : DASH;
}
