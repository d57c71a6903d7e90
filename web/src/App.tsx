import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiClient } from "./api/client";
import { adoptTokenFromLocation, sessionTokenStore } from "./auth/token";
import { Nav } from "./components/Nav";
import { AppContext, type AppServices } from "./context";
import { SeriesBuffers } from "./live/buffers";
import { PollingSource } from "./live/source";
import { DECISIONS_QUERY, type DecisionFeedOptions } from "./live/decisions";
import { liveUrl, OVERVIEW_QUERY, WebSocketSource } from "./live/websocket";
import { isSparkMetric } from "./model/summary";
import { History } from "./pages/History";
import { NotFound } from "./pages/NotFound";
import { Overview } from "./pages/Overview";
import { RolloutDetail } from "./pages/RolloutDetail";
import { Rollouts } from "./pages/Rollouts";
import { SignIn } from "./pages/SignIn";
import { Storage } from "./pages/Storage";
import { navigate, useLocationPath } from "./router";
import { applyTheme, chartPalette, loadTheme, saveTheme, type Theme } from "./theme";

const API_BASE = (import.meta.env.VITE_API_BASE_URL as string | undefined) ?? "";
const tokenStore = sessionTokenStore();
// Read #token=… before anything renders, then drop it from the address bar.
adoptTokenFromLocation(tokenStore);
// The rollout pages' live feed (kinds=decisions); one object so their effects keep it.
const rolloutFeed: DecisionFeedOptions = {
  url: liveUrl(API_BASE, DECISIONS_QUERY),
  getToken: () => tokenStore.get(),
};

/** "/rollouts/<name>" → name (undefined for other paths or a malformed escape). */
function rolloutName(pathname: string): string | undefined {
  const m = /^\/rollouts\/([^/]+)\/?$/.exec(pathname);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
}

export function App() {
  const { pathname, search } = useLocationPath();
  const [token, setToken] = useState<string | null>(() => tokenStore.get());
  const [signInMessage, setSignInMessage] = useState("");
  const [theme, setTheme] = useState<Theme>(() => loadTheme());

  useEffect(() => {
    applyTheme(theme);
    saveTheme(theme);
  }, [theme]);
  // Recomputed after the theme attribute changes (the effect above runs first).
  const palette = useMemo(() => {
    applyTheme(theme);
    return chartPalette();
  }, [theme]);

  const signOut = useCallback((message: string) => {
    tokenStore.clear();
    setToken(null);
    setSignInMessage(message);
    const here = window.location.pathname + window.location.search;
    if (!here.startsWith("/signin")) navigate(`/signin?next=${encodeURIComponent(here)}`, { replace: true });
  }, []);

  const api = useMemo(
    () =>
      new ApiClient({
        baseUrl: API_BASE,
        getToken: () => tokenStore.get(),
        onUnauthorized: (detail) =>
          signOut(`Your session is no longer valid${detail ? `: ${detail}` : ""}. Please sign in again.`),
      }),
    [signOut],
  );

  // One live source and one set of buffers per signed-in session.
  const session = useMemo(() => {
    if (!token) return null;
    const buffers = new SeriesBuffers(300, isSparkMetric);
    // The overview is fed by the WebSocket stream; polling is its fallback.
    const live = new WebSocketSource({
      url: liveUrl(API_BASE, OVERVIEW_QUERY),
      getToken: () => tokenStore.get(),
      fetchSummary: (signal) => api.summary(signal),
      fallback: () => new PollingSource((signal) => api.summary(signal), { intervalMs: 1000 }),
    });
    live.subscribe((s) => buffers.ingestSummary(s));
    let prefill: Promise<void> | null = null;
    const prefillOnce = (names: string[], nodeNow: number) => {
      prefill ??= (async () => {
        // The node's clock, not the browser's: a remote node may be skewed.
        const to = nodeNow;
        const from = to - buffers.windowSec;
        const results = await Promise.allSettled(
          names.filter(isSparkMetric).map((name) => api.history({ name, from, to, limit: 300 })),
        );
        for (const r of results) if (r.status === "fulfilled") buffers.prefillHistory(r.value.series);
        buffers.notify();
      })();
      return prefill;
    };
    return { buffers, live, prefillOnce };
  }, [token, api]);

  useEffect(() => {
    if (!session) return;
    session.live.start();
    return () => session.live.stop();
  }, [session]);

  // Route guard: everything but /signin needs a token.
  const needsSignIn = !token && pathname !== "/signin";
  useEffect(() => {
    if (needsSignIn) {
      const here = pathname + search;
      navigate(here === "/" ? "/signin" : `/signin?next=${encodeURIComponent(here)}`, { replace: true });
    }
  }, [needsSignIn, pathname, search]);

  const onSignedIn = useCallback((t: string) => {
    tokenStore.set(t);
    setSignInMessage("");
    setToken(t);
    const next = new URLSearchParams(window.location.search).get("next");
    navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
  }, []);

  const services: AppServices | null = session
    ? { api, live: session.live, buffers: session.buffers, theme, palette, prefillOnce: session.prefillOnce }
    : null;

  const rollout = rolloutName(pathname);
  let page;
  if (pathname === "/signin" || !services) {
    page = <SignIn api={api} message={signInMessage} onSignedIn={onSignedIn} />;
  } else if (pathname === "/") page = <Overview />;
  else if (pathname === "/history") page = <History />;
  else if (pathname === "/settings/storage" || pathname === "/settings") page = <Storage />;
  else if (pathname === "/rollouts" || pathname === "/rollouts/") page = <Rollouts feed={rolloutFeed} />;
  else if (rollout !== undefined) page = <RolloutDetail key={rollout} name={rollout} feed={rolloutFeed} />;
  else page = <NotFound />;

  return (
    <>
      <Nav
        pathname={pathname}
        live={services && pathname !== "/signin" ? services.live : null}
        theme={theme}
        onTheme={setTheme}
        onSignOut={token ? () => signOut("You have signed out.") : null}
      />
      <main className="main">
        {services ? <AppContext.Provider value={services}>{page}</AppContext.Provider> : page}
      </main>
    </>
  );
}
