export const THEMES = ["phosphor", "night", "light"] as const;
export type Theme = (typeof THEMES)[number];

const KEY = "sentra.theme";

export function isTheme(v: unknown): v is Theme {
  return typeof v === "string" && (THEMES as readonly string[]).includes(v);
}

export function loadTheme(storage: Storage = window.localStorage): Theme {
  try {
    const v = storage.getItem(KEY);
    if (isTheme(v)) return v;
  } catch {
    /* storage disabled: use the default */
  }
  return "phosphor";
}

export function saveTheme(theme: Theme, storage: Storage = window.localStorage): void {
  try {
    storage.setItem(KEY, theme);
  } catch {
    /* storage disabled: theme lasts for this page only */
  }
}

export function applyTheme(theme: Theme, root: HTMLElement = document.documentElement): void {
  root.dataset.theme = theme;
}

export interface ChartPalette {
  series: string[];
  fill: string;
  band: string;
  axis: string;
  grid: string;
}

/** Chart colours come from the theme's CSS custom properties. */
export function chartPalette(root: HTMLElement = document.documentElement): ChartPalette {
  const cs = getComputedStyle(root);
  const v = (name: string, dflt: string) => cs.getPropertyValue(name).trim() || dflt;
  return {
    series: [v("--chart-1", "#39ff88"), v("--chart-2", "#4fc3f7"), v("--chart-3", "#ffb74d"), v("--chart-4", "#e57373")],
    fill: v("--chart-fill", "rgba(57,255,136,0.12)"),
    band: v("--chart-band", "rgba(57,255,136,0.18)"),
    axis: v("--chart-axis", "#8a9"),
    grid: v("--chart-grid", "rgba(128,128,128,0.15)"),
  };
}
