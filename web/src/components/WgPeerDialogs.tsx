// The WireGuard page's dialogs: add a peer, and a peer's config (QR, text, download,
// one-time link). The QR and the config need the bearer token, so they are fetched with the
// API client: the QR is shown as a data: URL (the CSP has no blob: for images), the config
// is downloaded through an object URL (revoked when the dialog closes).
import { useEffect, useMemo, useState, type FormEvent } from "react";
import type { ApiClient } from "../api/client";
import { createPeer, peerConfig, peerLink, peerQr, type Peer } from "../api/wireguard";
import { formatTimestamp } from "../format";
import { configFileName, EXPIRY_CHOICES, expiryAt, isPublicKey, svgDataUrl } from "../model/wireguard";
import { CopyButton } from "./CopyButton";
import { Dialog } from "./Dialog";

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
/** How long a one-time link stays valid. */
export const LINK_TTL_S = 3600;

/** An object URL for a Blob, revoked when it changes or the component goes. */
function useObjectUrl(blob: Blob | null): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!blob) {
      setUrl(null);
      return;
    }
    const u = URL.createObjectURL(blob);
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [blob]);
  return url;
}

/** QR, config text, download and one-time link of one peer. `config` is given right after creation. */
export function PeerConfigView({ api, peer, config: given }: { api: ApiClient; peer: Peer; config?: string }) {
  const [qr, setQr] = useState<string | null>(null);
  const [config, setConfig] = useState<string | null>(given ?? null);
  const [error, setError] = useState("");
  const [link, setLink] = useState<{ url: string; expires_at: number } | null>(null);
  const [linkBusy, setLinkBusy] = useState(false);
  const qrUrl = useMemo(() => (qr === null ? null : svgDataUrl(qr)), [qr]);
  const configBlob = useMemo(() => (config === null ? null : new Blob([config], { type: "text/plain" })), [config]);
  const file = useObjectUrl(configBlob);

  useEffect(() => {
    const ac = new AbortController();
    peerQr(api, peer.id, ac.signal).then(
      (svg) => (svgDataUrl(svg) ? setQr(svg) : setError("QR code: the node did not send an SVG image.")),
      (err: unknown) => {
        if (!ac.signal.aborted) setError(`QR code: ${errorText(err)}`);
      },
    );
    if (given === undefined)
      peerConfig(api, peer.id, ac.signal).then(setConfig, (err: unknown) => {
        if (!ac.signal.aborted) setError(`Config: ${errorText(err)}`);
      });
    return () => ac.abort();
  }, [api, peer.id, given]);

  const makeLink = async () => {
    setLinkBusy(true);
    try {
      setLink(await peerLink(api, peer.id, LINK_TTL_S));
    } catch (err) {
      setError(`One-time link: ${errorText(err)}`);
    } finally {
      setLinkBusy(false);
    }
  };

  return (
    <div className="peer-config" data-testid="peer-config">
      <div className="qr-box">
        {qrUrl ? <img className="qr" src={qrUrl} alt={`QR code of ${peer.name}'s config`} data-testid="peer-qr" /> : <p className="muted">Loading the QR code…</p>}
        <p className="small muted">Scan with the WireGuard app: + → Scan from QR code.</p>
      </div>
      <div className="config-box">
        {config !== null ? <pre className="code config-text" data-testid="peer-config-text">{config}</pre> : <p className="muted">Loading the config…</p>}
        <div className="toolbar">
          {file && (
            <a className="button" href={file} download={configFileName(peer.interface, peer.name)}>
              Download .conf
            </a>
          )}
          {config !== null && <CopyButton text={config} label="Copy config" />}
          <button type="button" onClick={makeLink} disabled={linkBusy}>
            {linkBusy ? "Creating…" : "One-time link"}
          </button>
        </div>
        {link && (
          <div className="one-time-link" data-testid="one-time-link">
            <code className="secret wrap">{link.url}</code>
            <CopyButton text={link.url} />
            <p className="small muted">Opens once, until {formatTimestamp(link.expires_at)}. Send it to the device that should get the config.</p>
          </div>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}

export function PeerConfigDialog({ api, peer, onClose }: { api: ApiClient; peer: Peer; onClose: () => void }) {
  return (
    <Dialog title={`Config of ${peer.name}`} onClose={onClose} wide>
      <PeerConfigView api={api} peer={peer} />
      <div className="modal-actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

/** Add a peer; once created it shows the QR and the config (the private key is only in there). */
export function AddPeerDialog({
  api,
  iface,
  onClose,
  onCreated,
}: {
  api: ApiClient;
  iface: string;
  onClose: () => void;
  onCreated: (p: Peer) => void;
}) {
  const [name, setName] = useState("");
  const [publicKey, setPublicKey] = useState("");
  const [expiry, setExpiry] = useState(0);
  const [psk, setPsk] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [created, setCreated] = useState<{ peer: Peer; config: string | null } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const key = publicKey.trim();
    if (!name.trim()) return setError("Give the peer a name (e.g. alice-phone).");
    if (key && !isPublicKey(key)) return setError("That is not a WireGuard public key (44 characters of base64 ending in =).");
    setBusy(true);
    setError("");
    try {
      const expires = expiryAt(EXPIRY_CHOICES[expiry]!.seconds, Date.now() / 1000);
      const answer = await createPeer(api, {
        interface: iface,
        name: name.trim(),
        ...(key ? { public_key: key } : {}),
        ...(expires !== undefined ? { expires_at: expires } : {}),
        preshared_key: psk,
      });
      setCreated(answer);
      onCreated(answer.peer);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (created)
    return (
      <Dialog title={`${created.peer.name} is added`} onClose={onClose} wide>
        {created.config === null ? (
          <p data-testid="own-key">
            The device made its own key pair, so there is no config to hand over: give it this interface's public key,
            endpoint and the address {created.peer.addresses.join(", ")}.
          </p>
        ) : (
          <PeerConfigView api={api} peer={created.peer} config={created.config} />
        )}
        <div className="modal-actions">
          <button type="button" className="primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );

  return (
    <Dialog title={`Add a peer to ${iface}`} onClose={onClose} busy={busy}>
      <form className="form-grid" onSubmit={submit} aria-label="Add peer">
        <label htmlFor="peer-name">Name</label>
        <input id="peer-name" type="text" value={name} onChange={(e) => setName(e.target.value)} placeholder="alice-phone" autoComplete="off" />
        <label htmlFor="peer-key">Public key (optional)</label>
        <input
          id="peer-key"
          type="text"
          className="mono"
          value={publicKey}
          onChange={(e) => setPublicKey(e.target.value)}
          placeholder="empty: the node makes a key pair"
          spellCheck={false}
          autoComplete="off"
        />
        <label htmlFor="peer-expiry">Expires</label>
        <select id="peer-expiry" value={expiry} onChange={(e) => setExpiry(Number(e.target.value))}>
          {EXPIRY_CHOICES.map((c, i) => (
            <option key={c.label} value={i}>
              {c.label}
            </option>
          ))}
        </select>
        <label className="check">
          <input type="checkbox" checked={psk} onChange={(e) => setPsk(e.target.checked)} /> Preshared key (an extra symmetric key; post-quantum margin)
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <div className="modal-actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Adding…" : "Add peer"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
