import type { Labels } from "../api/types";

/** Canonical identity of one series: `name{a="x",b="y"}` with sorted label keys. */
export function seriesKey(name: string, labels: Labels = {}): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(",")}}`;
}

/** Inverse of seriesKey for keys it produced (values without quotes or commas). */
export function parseSeriesKey(key: string): { name: string; labels: Labels } {
  const i = key.indexOf("{");
  if (i < 0 || !key.endsWith("}")) return { name: key, labels: {} };
  const labels: Labels = {};
  const body = key.slice(i + 1, -1);
  const re = /([^=,]+)="((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body)) !== null) labels[m[1]!] = m[2]!;
  return { name: key.slice(0, i), labels };
}

export function labelsText(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(", ");
}
