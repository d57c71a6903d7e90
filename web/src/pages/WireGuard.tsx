import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError } from "../api/client";
import { deletePeer, listInterfaces, listPeers, setPeerEnabled, wgStatus, type Peer, type WgInterface, type WgStatus } from "../api/wireguard";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyButton } from "../components/CopyButton";
import { POLL_MS, useNow } from "../components/RolloutBits";
import { AddPeerDialog, PeerConfigDialog } from "../components/WgPeerDialogs";
import { useApp } from "../context";
import { formatTimestamp } from "../format";
import { roleAtLeast } from "../model/session";
import { expiryText, handshakeAge, isOnline, mergeStatus, sortPeers, trafficText } from "../model/wireguard";
import { navigate, useLocationPath } from "../router";
import "../components/accounts.css";
import { PageMessages } from "../components/PageMessages";

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Polls GET /api/v1/wg/status every POLL_MS (not while the tab is hidden). */
function useWgStatus(enabled: boolean): WgStatus | null {
  const { api } = useApp();
  const [status, setStatus] = useState<WgStatus | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let ac: AbortController | null = null;
    const poll = () => {
      if (document.visibilityState === "hidden") return;
      ac?.abort();
      ac = new AbortController();
      wgStatus(api, ac.signal).then(setStatus, () => undefined);
    };
    poll();
    const t = setInterval(poll, POLL_MS);
    return () => {
      clearInterval(t);
      ac?.abort();
    };
  }, [api, enabled]);
  return status;
}

function InterfaceCard({ iface }: { iface: WgInterface }) {
  return (
    <div className="card wg-iface" data-testid="wg-interface">
      <div className="panel-head">
        <h2>
          <span className="mono">{iface.name}</span>{" "}
          <span className={`pill tone-${iface.up ? "ok" : "crit"}`}>
            <span className="dot" aria-hidden="true" />
            {iface.up ? "up" : "down"}
          </span>
        </h2>
      </div>
      <dl className="kv">
        <dt>Addresses</dt>
        <dd className="mono">{iface.addresses.join(", ") || "—"}</dd>
        <dt>Endpoint</dt>
        <dd className="mono">
          {iface.endpoint || "—"}
          {iface.listen_port ? ` (listens on ${iface.listen_port}/udp)` : ""}
        </dd>
        <dt>DNS</dt>
        <dd className="mono">{iface.dns.join(", ") || "—"}</dd>
        <dt>MTU</dt>
        <dd>{iface.mtu ?? "default"}</dd>
        <dt>Public key</dt>
        <dd className="key-line">
          <code className="mono key">{iface.public_key}</code> <CopyButton text={iface.public_key} />
        </dd>
        <dt>Peers</dt>
        <dd>{iface.peers}</dd>
      </dl>
      {iface.apply_error && (
        <p className="error" role="alert" data-testid="apply-error">
          Not applied: {iface.apply_error}
        </p>
      )}
    </div>
  );
}

export function WireGuard({ role }: { role: string | null }) {
  const { api } = useApp();
  const { search } = useLocationPath();
  const wanted = useMemo(() => new URLSearchParams(search).get("interface"), [search]);
  const [ifaces, setIfaces] = useState<WgInterface[] | null>(null);
  const [peers, setPeers] = useState<Peer[] | null>(null);
  const [error, setError] = useState("");
  const [adding, setAdding] = useState(false);
  const [showing, setShowing] = useState<Peer | null>(null);
  const [disabling, setDisabling] = useState<Peer | null>(null);
  const [deleting, setDeleting] = useState<Peer | null>(null);
  const [result, setResult] = useState("");
  const now = useNow();
  // As the node enforces them: enable/disable needs operator; adding, configs and deleting admin.
  const canOperate = roleAtLeast(role, "operator");
  const isAdmin = roleAtLeast(role, "admin");

  useEffect(() => {
    const ac = new AbortController();
    listInterfaces(api, ac.signal).then(
      (r) => setIfaces(r.interfaces),
      (err: unknown) => {
        if (ac.signal.aborted) return;
        setError(err instanceof ApiError && err.status === 404 ? "This node has no WireGuard manager (the API answered 404)." : errorText(err));
      },
    );
    return () => ac.abort();
  }, [api]);

  const current = ifaces?.find((i) => i.name === wanted) ?? ifaces?.[0] ?? null;
  const name = current?.name ?? "";

  const load = useCallback(async () => {
    if (!name) return;
    try {
      setPeers((await listPeers(api, name)).peers);
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, [api, name]);
  useEffect(() => {
    setPeers(null);
    void load();
  }, [load]);

  const status = useWgStatus(name !== "");
  const rows = useMemo(() => (peers ? sortPeers(mergeStatus(peers, status)) : null), [peers, status]);
  const online = rows?.filter((p) => p.enabled && isOnline(p.status, now)).length ?? 0;

  const pickInterface = (n: string) => navigate(`/wireguard?interface=${encodeURIComponent(n)}`, { replace: true });

  const toggle = async (p: Peer, enabled: boolean) => {
    await setPeerEnabled(api, p.id, enabled);
    setPeers((old) => old?.map((x) => (x.id === p.id ? { ...x, enabled } : x)) ?? old);
    setResult(`${p.name} is ${enabled ? "enabled" : "disabled"}.`);
    void load();
  };

  return (
    <section className="page wireguard">
      <div className="page-head">
        <h1>WireGuard</h1>
        {ifaces && ifaces.length > 1 && (
          <label className="iface-pick">
            <span className="muted small">Interface</span>{" "}
            <select value={name} onChange={(e) => pickInterface(e.target.value)} aria-label="Interface" data-testid="iface-select">
              {ifaces.map((i) => (
                <option key={i.name} value={i.name}>
                  {i.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {rows && (
          <span className="muted small" data-testid="wg-online">
            {online} of {rows.length} online · refreshing every {POLL_MS / 1000} s
          </span>
        )}
        {isAdmin && current && (
          <button type="button" className="primary push-right" onClick={() => setAdding(true)}>
            Add peer
          </button>
        )}
      </div>
      <PageMessages error={error} result={result} loading={!ifaces} />
      {ifaces && ifaces.length === 0 && (
        <div className="card empty-state">
          <h2>No WireGuard interface</h2>
          <p>
            The node manages none yet. Create one with <code>sentra wg interface create</code> (or adopt a wg-quick config with{" "}
            <code>sentra wg interface adopt</code>), then reload.
          </p>
        </div>
      )}
      {current && <InterfaceCard iface={current} />}
      {current && rows && rows.length === 0 && (
        <div className="card empty-state">
          <h2>No peers on {name}</h2>
          <p>{isAdmin ? "Add one: the node makes the keys and shows a QR code for the phone app." : "An admin can add one."}</p>
        </div>
      )}
      {rows && rows.length > 0 && (
        <div className="card">
          <table className="table cards-table peer-table" data-testid="peers">
            <thead>
              <tr>
                <th scope="col">Peer</th>
                <th scope="col">Addresses</th>
                <th scope="col">Last handshake</th>
                <th scope="col">Endpoint</th>
                <th scope="col" className="num">
                  Received
                </th>
                <th scope="col" className="num">
                  Sent
                </th>
                <th scope="col">Expires</th>
                <th scope="col">Enabled</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => {
                const up = p.enabled && isOnline(p.status, now);
                const rx = trafficText(p.status?.rx_rate, p.status?.rx_total);
                const tx = trafficText(p.status?.tx_rate, p.status?.tx_total);
                const hs = p.status?.latest_handshake ?? null;
                return (
                  <tr key={p.id} data-peer={p.name} data-online={up} className={p.enabled ? undefined : "row-disabled"}>
                    <td data-label="Peer">
                      {/* One span per cell: on a phone the cell is a flex row of label and value. */}
                      <span>
                      <span className={`online-dot ${up ? "on" : "off"}`} role="img" aria-label={up ? "online" : "offline"} title={up ? "online" : "offline"} />{" "}
                      <strong>{p.name}</strong>
                      {p.has_preshared_key && (
                        <span className="muted small" title="has a preshared key">
                          {" "}
                          PSK
                        </span>
                      )}
                      </span>
                    </td>
                    <td data-label="Addresses" className="mono">
                      {p.addresses.join(", ")}
                    </td>
                    <td data-label="Last handshake">
                      <time data-ts={hs ?? ""} title={hs ? formatTimestamp(hs) : "no handshake yet"}>
                        {handshakeAge(hs, now)}
                      </time>
                    </td>
                    <td data-label="Endpoint" className="mono">
                      {p.status?.endpoint || "—"}
                    </td>
                    <td data-label="Received" className="num">
                      <span>
                        <span data-testid="rx-rate">{rx.rate}</span> <span className="muted small">{rx.total}</span>
                      </span>
                    </td>
                    <td data-label="Sent" className="num">
                      <span>
                        <span data-testid="tx-rate">{tx.rate}</span> <span className="muted small">{tx.total}</span>
                      </span>
                    </td>
                    <td data-label="Expires" title={p.expires_at ? formatTimestamp(p.expires_at) : undefined}>
                      {expiryText(p.expires_at, now)}
                    </td>
                    <td data-label="Enabled">
                      <label className="switch">
                        <input
                          type="checkbox"
                          role="switch"
                          checked={p.enabled}
                          disabled={!canOperate}
                          aria-label={`${p.name} enabled`}
                          onChange={(e) => (e.target.checked ? void toggle(p, true).catch((err: unknown) => setError(errorText(err))) : setDisabling(p))}
                        />
                        <span className="switch-track" aria-hidden="true" />
                      </label>
                    </td>
                    <td data-label="" className="row-actions">
                      {isAdmin && p.has_private_key !== false && (
                        <button type="button" onClick={() => setShowing(p)}>
                          Config
                        </button>
                      )}
                      {isAdmin && (
                        <button type="button" className="danger" onClick={() => setDeleting(p)}>
                          Delete…
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {adding && current && (
        <AddPeerDialog
          api={api}
          iface={current.name}
          onClose={() => setAdding(false)}
          onCreated={(p) => {
            setResult(`${p.name} is added to ${current.name}.`);
            void load();
          }}
        />
      )}
      {showing && <PeerConfigDialog api={api} peer={showing} onClose={() => setShowing(null)} />}
      <ConfirmDialog
        open={disabling !== null}
        title={`Disable ${disabling?.name ?? ""}?`}
        confirmLabel="Disable"
        onCancel={() => setDisabling(null)}
        onConfirm={async () => {
          await toggle(disabling!, false);
          setDisabling(null);
        }}
      >
        <p>The peer is removed from {name} at once: its tunnel drops and it cannot connect until it is enabled again. Its keys and config are kept.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirmLabel="Delete peer"
        onCancel={() => setDeleting(null)}
        onConfirm={async () => {
          await deletePeer(api, deleting!.id);
          setResult(`${deleting!.name} is deleted.`);
          setDeleting(null);
          void load();
        }}
      >
        <p>
          The peer, its keys and its config are gone for good; the device must get a new config to connect again. To cut it off
          for a while, disable it instead.
        </p>
      </ConfirmDialog>
    </section>
  );
}
