// Token handling: kept in sessionStorage for the browser session only.
// The node prints http://host:port/#token=XYZ at first start; the fragment
// is read once, stored, and stripped from the URL so it is not bookmarked.

const KEY = "sentra.token";

/** Extract a token from a URL fragment such as "#token=abc" or "#a=1&token=abc". */
export function parseTokenFragment(hash: string): string | null {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  if (!raw) return null;
  const params = new URLSearchParams(raw);
  const token = params.get("token");
  if (token === null) return null;
  const trimmed = token.trim();
  return trimmed.length > 0 ? trimmed : null;
}

/** The fragment with the token removed ("" when nothing else was there). */
export function stripTokenFragment(hash: string): string {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const params = new URLSearchParams(raw);
  params.delete("token");
  const rest = params.toString();
  return rest ? `#${rest}` : "";
}

export interface TokenStore {
  get(): string | null;
  set(token: string): void;
  clear(): void;
}

export function sessionTokenStore(storage: Storage = window.sessionStorage): TokenStore {
  return {
    get: () => {
      try {
        return storage.getItem(KEY);
      } catch {
        return null;
      }
    },
    set: (token) => storage.setItem(KEY, token),
    clear: () => storage.removeItem(KEY),
  };
}

/**
 * If the current URL carries #token=…, store it and replace the URL without
 * the fragment (no new history entry). Returns true when a token was taken.
 */
export function adoptTokenFromLocation(
  store: TokenStore,
  loc: Location = window.location,
  hist: History = window.history,
): boolean {
  const token = parseTokenFragment(loc.hash);
  if (!token) return false;
  store.set(token);
  hist.replaceState(hist.state, "", loc.pathname + loc.search + stripTokenFragment(loc.hash));
  return true;
}
