import { useEffect, useState, type ReactNode } from "react";
import type { LiveSource } from "../live/source";
import { roleAtLeast, type Role } from "../model/session";
import { Link } from "../router";
import { THEMES, type Theme } from "../theme";
import { ConnectionIndicator } from "./ConnectionIndicator";

const LINKS: { to: string; label: string; min?: Role }[] = [
  { to: "/", label: "Overview" },
  { to: "/history", label: "History" },
  { to: "/agents", label: "Agents" },
  { to: "/rollouts", label: "Rollouts" },
  { to: "/alerts", label: "Alerts" },
  { to: "/reports", label: "Reports" },
  { to: "/wireguard", label: "WireGuard" },
  { to: "/settings/storage", label: "Storage" },
  // Admin pages: hidden unless /auth/me says admin (the node refuses them anyway).
  { to: "/users", label: "Users", min: "admin" },
  { to: "/tokens", label: "Tokens", min: "admin" },
  { to: "/audit", label: "Audit", min: "admin" },
];

export interface NavProps {
  pathname: string;
  live: LiveSource | null;
  theme: Theme;
  onTheme: (t: Theme) => void;
  onSignOut: (() => void) | null;
  /** The signed-in role (from /auth/me); null while unknown: role-gated links stay hidden. */
  role?: string | null;
  /** Replaces the plain "Sign out" button when given. */
  userMenu?: ReactNode;
}

export function Nav({ pathname, live, theme, onTheme, onSignOut, role = null, userMenu }: NavProps) {
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [pathname]);
  const signedIn = onSignOut !== null;

  return (
    <header className="nav">
      <div className="nav-inner">
        <Link to="/" className="brand" aria-label="Sentra overview">
          <span className="brand-mark" aria-hidden="true">◉</span> Sentra
        </Link>
        {live && <ConnectionIndicator live={live} />}
        <button
          type="button"
          className="menu-button"
          aria-expanded={open}
          aria-controls="nav-menu"
          aria-label="Menu"
          onClick={() => setOpen((o) => !o)}
        >
          ☰
        </button>
        <nav id="nav-menu" className={`nav-menu${open ? " open" : ""}`} aria-label="Main">
          {signedIn &&
            LINKS.filter((l) => !l.min || roleAtLeast(role, l.min)).map((l) => (
              <Link
                key={l.to}
                to={l.to}
                className="nav-link"
                aria-current={pathname === l.to || (l.to === "/rollouts" && pathname.startsWith("/rollouts/")) ? "page" : undefined}
              >
                {l.label}
              </Link>
            ))}
          <label className="theme-pick">
            <span className="sr-only">Theme</span>
            <select
              value={theme}
              onChange={(e) => onTheme(e.target.value as Theme)}
              aria-label="Theme"
              data-testid="theme-select"
            >
              {THEMES.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
          {signedIn && userMenu}
          {signedIn && !userMenu && (
            <button type="button" className="link-button" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </nav>
      </div>
    </header>
  );
}
