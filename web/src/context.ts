import { createContext, useContext } from "react";
import type { ApiClient } from "./api/client";
import type { SeriesBuffers } from "./live/buffers";
import type { LiveSource } from "./live/source";
import type { ChartPalette, Theme } from "./theme";

export interface AppServices {
  api: ApiClient;
  live: LiveSource;
  buffers: SeriesBuffers;
  theme: Theme;
  palette: ChartPalette;
  /** Prefill the live buffers from history once per app session (for these metric names). */
  prefillOnce: (names: string[], nodeNow: number) => Promise<void>;
}

export const AppContext = createContext<AppServices | null>(null);

export function useApp(): AppServices {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("useApp outside <AppContext.Provider>");
  return ctx;
}
