import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiClient } from "./api/client";
import { adoptTokenFromLocation, SessionKeeper, type SessionAnswer, sessionTokenStore, takeSigninCode } from "./auth/token";
import { Nav } from "./components/Nav";
import { useMe, UserMenu } from "./components/UserMenu";
import { AppContext, type AppServices } from "./context";
import { SeriesBuffers } from "./live/buffers";
import { PollingSource } from "./live/source";
import { DECISIONS_QUERY, type DecisionFeedOptions } from "./live/decisions";
import { liveUrl, OVERVIEW_QUERY, WebSocketSource } from "./live/websocket";
import { isSparkMetric } from "./model/summary";
import { Agents } from "./pages/Agents";
import { ALERTS_QUERY, Alerts } from "./pages/Alerts";
import { Audit } from "./pages/Audit";
import { History } from "./pages/History";
import { NotFound } from "./pages/NotFound";
import { Overview } from "./pages/Overview";
import { Reports } from "./pages/Reports";
import { RolloutDetail } from "./pages/RolloutDetail";
import { Rollouts } from "./pages/Rollouts";
import { SignIn } from "./pages/SignIn";
import { Storage } from "./pages/Storage";
import { Tokens } from "./pages/Tokens";
import { Users } from "./pages/Users";
import { WireGuard } from "./pages/WireGuard";
import { navigate, useLocationPath } from "./router";
import { applyTheme, chartPalette, loadTheme, saveTheme, type Theme } from "./theme";

const API_BASE = (import.meta.env.VITE_API_BASE_URL as string | undefined) ?? "";
const tokenStore = sessionTokenStore();
// Read #token=… before anything renders, then drop it from the address bar.
adoptTokenFromLocation(tokenStore);
// #signin=<code> (an account's one-time link): taken from the address bar, kept in memory only.
const pendingLink = { code: takeSigninCode() };
// Refreshes an account's access token; every reader of the token goes through it.
const keeper = new SessionKeeper({ store: tokenStore, baseUrl: API_BASE });
keeper.resume();
// The rollout pages' live feed (kinds=decisions); one object so their effects keep it.
const rolloutFeed: DecisionFeedOptions = {
  url: liveUrl(API_BASE, DECISIONS_QUERY),
  getToken: () => keeper.token(),
};

// The Alerts page's live feed (kinds=alerts).
const alertFeed: DecisionFeedOptions = {
  url: liveUrl(API_BASE, ALERTS_QUERY),
  getToken: () => keeper.token(),
  kind: "alerts",
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
    void keeper.end();
    setToken(null);
    setSignInMessage(message);
    const here = window.location.pathname + window.location.search;
    if (!here.startsWith("/signin")) navigate(`/signin?next=${encodeURIComponent(here)}`, { replace: true });
  }, []);

  const api = useMemo(
    () =>
      new ApiClient({
        baseUrl: API_BASE,
        getToken: () => keeper.token(),
        fetchImpl: keeper.fetch,
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
      getToken: () => keeper.token(),
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

  const onSignedIn = useCallback((t: string, answer?: SessionAnswer) => {
    pendingLink.code = null;
    if (answer) keeper.adopt(answer);
    else tokenStore.set(t);
    setSignInMessage("");
    setToken(t);
    const next = new URLSearchParams(window.location.search).get("next");
    navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
  }, []);

  // A new tab: sign in from the refresh cookie when there is one (no password asked).
  useEffect(() => {
    if (tokenStore.get() || pendingLink.code) return;
    void keeper.fromCookie().then((a) => a && onSignedIn(a.access_token, a));
  }, [onSignedIn]);
  const { me, reload: reloadMe } = useMe(api, token);

  const services: AppServices | null = session
    ? { api, live: session.live, buffers: session.buffers, theme, palette, prefillOnce: session.prefillOnce }
    : null;

  const rollout = rolloutName(pathname);
  let page;
  if (pathname === "/signin" || !services) {
    page = <SignIn api={api} message={signInMessage} onSignedIn={onSignedIn} linkCode={pendingLink.code} />;
  } else if (pathname === "/") page = <Overview />;
  else if (pathname === "/history") page = <History />;
  else if (pathname === "/settings/storage" || pathname === "/settings") page = <Storage />;
  else if (pathname === "/rollouts" || pathname === "/rollouts/") page = <Rollouts feed={rolloutFeed} />;
  else if (rollout !== undefined) page = <RolloutDetail key={rollout} name={rollout} feed={rolloutFeed} />;
  else if (pathname === "/alerts") page = <Alerts feed={alertFeed} role={me?.role ?? null} />;
  else if (pathname === "/wireguard") page = <WireGuard role={me?.role ?? null} />;
  else if (pathname === "/users") page = <Users self={me?.name ?? ""} />;
  else if (pathname === "/tokens") page = <Tokens />;
  else if (pathname === "/audit") page = <Audit />;
  else if (pathname === "/reports") page = <Reports />;
  else if (pathname === "/agents") page = <Agents />;
  else page = <NotFound />;

  return (
    <>
      <Nav
        pathname={pathname}
        live={services && pathname !== "/signin" ? services.live : null}
        theme={theme}
        onTheme={setTheme}
        onSignOut={token ? () => signOut("You have signed out.") : null}
        role={me?.role ?? null}
        userMenu={token ? <UserMenu api={api} me={me} onSignOut={() => signOut("You have signed out.")} onChanged={reloadMe} onSession={(a) => keeper.adopt(a)} /> : null}
      />
      <main className="main">
        {services ? <AppContext.Provider value={services}>{page}</AppContext.Provider> : page}
      </main>
    </>
  );
}
