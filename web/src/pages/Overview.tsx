import { useEffect, useMemo, useState, type ReactNode } from "react";
import type { Summary } from "../api/types";
import { LOCAL_HOST } from "../api/agents";
import { Sparkline } from "../charts/Sparkline";
import { CollectorBadges } from "../components/Badge";
import { HostScores } from "../components/HostScores";
import { HostPicker } from "../components/HostPicker";
import { RemoteHost } from "../components/RemoteHost";
import { useApp } from "../context";
import {
  formatBytes,
  formatCelsius,
  formatDuration,
  formatMHz,
  formatNumber,
  formatPercent,
  formatRate,
  formatTimestamp,
  formatWatts,
} from "../format";
import { mapSummary, type CollectorBadge, type GpuCard, type HostCard, type OverviewModel } from "../model/summary";
import { navigate, useLocationPath } from "../router";

function Tile({ title, value, sub, children, testId }: { title: string; value: ReactNode; sub?: ReactNode; children?: ReactNode; testId?: string }) {
  return (
    <div className="tile" data-testid={testId}>
      <div className="tile-head">
        <span className="tile-title">{title}</span>
        <span className="tile-value">{value}</span>
      </div>
      {sub && <div className="tile-sub">{sub}</div>}
      {children}
    </div>
  );
}

function Bar({ ratio, label }: { ratio: number | null; label: string }) {
  const pct = ratio === null ? 0 : Math.min(100, Math.max(0, ratio * 100));
  const level = pct >= 90 ? "crit" : pct >= 75 ? "warn" : "ok";
  return (
    <div className={`bar bar-${level}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
      <div className="bar-fill" style={{ width: `${pct}%` }} />
    </div>
  );
}

function CoreStrip({ cores }: { cores: HostCard["cpu"]["cores"] }) {
  if (cores.length === 0) return null;
  return (
    <div className="cores" aria-label="Per-core utilisation">
      {cores.map((c) => {
        const pct = c.value === null ? 0 : Math.min(100, Math.max(0, c.value * 100));
        return (
          <span key={c.cpu} className="core" title={`cpu${c.cpu}: ${formatPercent(c.value)}`}>
            <span className="core-fill" style={{ height: `${pct}%` }} />
          </span>
        );
      })}
    </div>
  );
}

function HostSection({ host }: { host: HostCard }) {
  const { buffers, palette } = useApp();
  return (
    <section className="card" aria-labelledby="host-title">
      <h2 id="host-title">
        Host <span className="muted">{host.hostname}</span>
      </h2>
      <div className="tiles">
        <Tile title="CPU" value={formatPercent(host.cpu.total)} testId="tile-cpu" sub={`${host.cpu.cores.length} cores`}>
          <Sparkline buffers={buffers} keys={[host.cpu.key]} palette={palette} scale="ratio" label="CPU utilisation, last 5 minutes" />
          <CoreStrip cores={host.cpu.cores} />
        </Tile>
        <Tile title="Memory" value={formatPercent(host.memory.ratio)} testId="tile-memory" sub={`${formatBytes(host.memory.used)} of ${formatBytes(host.memory.limit)} · cached ${formatBytes(host.memory.cached)}`}>
          <Sparkline buffers={buffers} keys={[host.memory.key]} palette={palette} scale="ratio" label="Memory utilisation, last 5 minutes" colorOffset={1} />
        </Tile>
        <Tile title="Swap" value={formatPercent(host.swap.ratio)} testId="tile-swap" sub={`${formatBytes(host.swap.used)} used · ${formatBytes(host.swap.free)} free`}>
          <Sparkline buffers={buffers} keys={[host.swap.key]} palette={palette} scale="ratio" label="Swap utilisation, last 5 minutes" colorOffset={2} />
        </Tile>
        <Tile title="Load" value={formatNumber(host.load.m1)} testId="tile-load" sub={`1m ${formatNumber(host.load.m1)} · 5m ${formatNumber(host.load.m5)} · 15m ${formatNumber(host.load.m15)}`}>
          <Sparkline buffers={buffers} keys={host.load.keys} palette={palette} label="Load average, last 5 minutes" />
        </Tile>
        <Tile title="Processes" value={host.processes.count ?? "—"} testId="tile-processes" sub={`up ${formatDuration(host.uptime)}`}>
          <Sparkline buffers={buffers} keys={[host.processes.key]} palette={palette} label="Process count, last 5 minutes" colorOffset={3} />
        </Tile>
        {host.networks.map((n) => (
          <Tile key={`net-${n.device}`} title={`Net ${n.device}`} value={<span>↓ {formatRate(n.in)}</span>} sub={`↑ ${formatRate(n.out)}`} testId={`tile-net-${n.device}`}>
            <Sparkline buffers={buffers} keys={[n.inKey, n.outKey]} palette={palette} label={`Network ${n.device} receive and transmit`} colorOffset={1} />
          </Tile>
        ))}
        {host.disks.map((d) => (
          <Tile key={`disk-${d.device}`} title={`Disk ${d.device}`} value={<span>R {formatRate(d.in)}</span>} sub={`W ${formatRate(d.out)}`} testId={`tile-disk-${d.device}`}>
            <Sparkline buffers={buffers} keys={[d.inKey, d.outKey]} palette={palette} label={`Disk ${d.device} read and write`} colorOffset={2} />
          </Tile>
        ))}
      </div>
      {host.filesystems.length > 0 && (
        <table className="table fs-table">
          <caption className="sr-only">Filesystems</caption>
          <thead>
            <tr>
              <th scope="col">Mount</th>
              <th scope="col">Device</th>
              <th scope="col" className="wide">Usage</th>
              <th scope="col" className="num">Used</th>
              <th scope="col" className="num">Free</th>
            </tr>
          </thead>
          <tbody>
            {host.filesystems.map((f) => (
              <tr key={f.mountpoint}>
                <td className="mono">{f.mountpoint}</td>
                <td className="mono muted">{f.device}</td>
                <td className="wide">
                  <Bar ratio={f.ratio} label={`${f.mountpoint} usage`} /> <span className="muted">{formatPercent(f.ratio)}</span>
                </td>
                <td className="num">{formatBytes(f.used)}</td>
                <td className="num">{formatBytes(f.free)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(host.temperatures.length > 0 || host.fans.length > 0) && (
        <ul className="sensors" aria-label="Sensors">
          {host.temperatures.map((t) => (
            <li key={`t-${t.chip}-${t.sensor}`}>
              <span className="muted">{t.chip} {t.sensor}</span> {formatCelsius(t.value)}
            </li>
          ))}
          {host.fans.map((f) => (
            <li key={`f-${f.chip}-${f.sensor}`}>
              <span className="muted">{f.chip} {f.sensor}</span> {f.value === null ? "—" : `${f.value.toFixed(0)} rpm`}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function GpuSection({ gpus, collector }: { gpus: GpuCard[]; collector: CollectorBadge | undefined }) {
  const { buffers, palette } = useApp();
  if (gpus.length === 0) {
    return (
      <section className="card" aria-labelledby="gpu-title">
        <h2 id="gpu-title">GPUs</h2>
        <p className="muted" data-testid="gpu-empty">
          No GPU data{collector ? ` (${collector.state})` : ""}.
          {collector?.message ? ` ${collector.message}` : ""}
        </p>
      </section>
    );
  }
  return (
    <>
      {gpus.map((g) => (
        <section className="card" key={g.index} aria-label={`GPU ${g.index}`} data-testid={`gpu-${g.index}`}>
          <h2>
            GPU {g.index} <span className="muted">{g.name}</span>
          </h2>
          <div className="tiles">
            <Tile title="Utilisation" value={formatPercent(g.utilization)} sub={`SM ${formatMHz(g.clockSm)} · mem ${formatMHz(g.clockMemory)}`}>
              <Sparkline buffers={buffers} keys={[g.keys.utilization]} palette={palette} scale="ratio" label={`GPU ${g.index} utilisation`} />
            </Tile>
            <Tile title="Memory" value={formatPercent(g.memoryUtilization)} sub={`${formatBytes(g.memoryUsed)} of ${formatBytes(g.memoryTotal)}`}>
              <Sparkline buffers={buffers} keys={[g.keys.memory]} palette={palette} scale="ratio" label={`GPU ${g.index} memory`} colorOffset={1} />
            </Tile>
            <Tile title="Temperature" value={formatCelsius(g.temperature)} sub={`fan ${formatPercent(g.fan)}`}>
              <Sparkline buffers={buffers} keys={[g.keys.temperature]} palette={palette} label={`GPU ${g.index} temperature`} colorOffset={2} />
            </Tile>
            <Tile title="Power" value={formatWatts(g.powerDraw)} sub={`limit ${formatWatts(g.powerLimit)}`}>
              <Sparkline buffers={buffers} keys={[g.keys.power]} palette={palette} label={`GPU ${g.index} power`} colorOffset={3} />
            </Tile>
          </div>
          {g.processes.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">PID</th>
                  <th scope="col">Process</th>
                  <th scope="col" className="num">GPU memory</th>
                </tr>
              </thead>
              <tbody>
                {g.processes.map((p) => (
                  <tr key={p.pid}>
                    <td className="mono">{p.pid}</td>
                    <td>{p.process}</td>
                    <td className="num">{formatBytes(p.memory)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </>
  );
}

function ContainersSection({ model, collector }: { model: OverviewModel; collector: CollectorBadge | undefined }) {
  return (
    <section className="card" aria-labelledby="containers-title">
      <h2 id="containers-title">Containers</h2>
      {model.containers.length === 0 ? (
        <p className="muted" data-testid="containers-empty">
          No containers reported{collector ? ` (${collector.state})` : ""}.{collector?.message ? ` ${collector.message}` : ""}
        </p>
      ) : (
        <div className="table-scroll">
          <table className="table" data-testid="containers">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Image</th>
                <th scope="col" className="num">CPU</th>
                <th scope="col" className="num">Memory</th>
                <th scope="col" className="num">Net ↓ / ↑</th>
                <th scope="col" className="num">Block R / W</th>
              </tr>
            </thead>
            <tbody>
              {model.containers.map((c) => (
                <tr key={c.id}>
                  <td title={c.id}>{c.container}</td>
                  <td className="mono muted">{c.image}</td>
                  <td className="num">{formatPercent(c.cpu)}</td>
                  <td className="num">
                    {formatBytes(c.memoryUsage)}
                    {c.memoryLimit ? <span className="muted"> / {formatBytes(c.memoryLimit)}</span> : null}
                  </td>
                  <td className="num">
                    {formatRate(c.netRx)} / {formatRate(c.netTx)}
                  </td>
                  <td className="num">
                    {formatRate(c.blockRead)} / {formatRate(c.blockWrite)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function findCollector(collectors: CollectorBadge[], prefix: string): CollectorBadge | undefined {
  return collectors.find((c) => c.name === prefix || c.name.startsWith(`${prefix}.`));
}

export function Overview() {
  const { live, prefillOnce } = useApp();
  // ?host=<agent id> shows that agent's host; this node's own view otherwise.
  const { search } = useLocationPath();
  const host = new URLSearchParams(search).get("host") ?? LOCAL_HOST;
  const picker = (
    <HostPicker value={host} allowAll={false} onChange={(h) => navigate(h === LOCAL_HOST ? "/" : `/?host=${encodeURIComponent(h)}`)} />
  );
  const [summary, setSummary] = useState<Summary | null>(() => live.latest);
  useEffect(() => live.subscribe(setSummary), [live]);
  // Prefill the sparklines with the last minutes of history, for the metrics this node reports.
  const hasSummary = summary !== null;
  useEffect(() => {
    if (hasSummary && live.latest) void prefillOnce(Object.keys(live.latest.metrics), live.latest.ts);
  }, [hasSummary, live, prefillOnce]);
  const model = useMemo(() => (summary ? mapSummary(summary) : null), [summary]);

  if (host !== LOCAL_HOST) {
    return (
      <section className="page overview">
        <div className="page-head">
          <h1>Overview</h1>
          {picker}
        </div>
        <RemoteHost host={host} />
      </section>
    );
  }
  if (!model) {
    return (
      <section className="page">
        <h1>Overview</h1>
        <p className="muted" role="status">
          Waiting for the first sample…
        </p>
      </section>
    );
  }
  return (
    <section className="page overview">
      <div className="page-head">
        <h1>Overview</h1>
        <span className="muted">
          updated <time data-testid="last-update" data-ts={model.ts}>{formatTimestamp(model.ts)}</time>
        </span>
        {picker}
      </div>
      {model.previousRunUnclean && (
        <p className="notice warn" role="alert" data-testid="unclean-notice">
          The previous run ended uncleanly (killed or power loss). History up to the last checkpoint was kept; a gap may
          show around the restart.
        </p>
      )}
      <CollectorBadges collectors={model.collectors} />
      <HostScores />
      <HostSection host={model.host} />
      <GpuSection gpus={model.gpus} collector={findCollector(model.collectors, "gpu")} />
      <ContainersSection model={model} collector={findCollector(model.collectors, "docker") ?? findCollector(model.collectors, "containers")} />
    </section>
  );
}
