// Pure mapping from the summary JSON to what the overview cards show.
import type { CollectorStatus, Labels, MetricPoint, Summary } from "../api/types";
import { seriesKey } from "../live/series";

export interface CoreValue {
  cpu: string;
  value: number | null;
}

export interface FilesystemRow {
  device: string;
  mountpoint: string;
  used: number | null;
  free: number | null;
  ratio: number | null;
}

export interface DeviceRates {
  device: string;
  /** read / receive */
  in: number | null;
  /** write / transmit */
  out: number | null;
  inKey: string;
  outKey: string;
}

export interface SensorRow {
  chip: string;
  sensor: string;
  value: number | null;
}

export interface HostCard {
  hostname: string;
  cpu: { total: number | null; cores: CoreValue[]; key: string };
  memory: { used: number | null; limit: number | null; available: number | null; cached: number | null; ratio: number | null; key: string };
  swap: { used: number | null; free: number | null; ratio: number | null; key: string };
  load: { m1: number | null; m5: number | null; m15: number | null; keys: [string, string, string] };
  uptime: number | null;
  processes: { count: number | null; key: string };
  filesystems: FilesystemRow[];
  disks: DeviceRates[];
  networks: DeviceRates[];
  temperatures: SensorRow[];
  fans: SensorRow[];
}

export interface GpuProcess {
  pid: string;
  process: string;
  memory: number | null;
}

export interface GpuCard {
  index: string;
  uuid: string;
  name: string;
  utilization: number | null;
  memoryUtilization: number | null;
  memoryUsed: number | null;
  memoryTotal: number | null;
  temperature: number | null;
  powerDraw: number | null;
  powerLimit: number | null;
  clockSm: number | null;
  clockMemory: number | null;
  fan: number | null;
  processes: GpuProcess[];
  keys: { utilization: string; memory: string; temperature: string; power: string };
}

export interface ContainerRow {
  container: string;
  id: string;
  image: string;
  cpu: number | null;
  memoryUsage: number | null;
  memoryLimit: number | null;
  memoryUtilization: number | null;
  netRx: number | null;
  netTx: number | null;
  blockRead: number | null;
  blockWrite: number | null;
}

export interface CollectorBadge {
  name: string;
  state: string;
  message: string;
  ts: number | null;
  durationMs: number | null;
}

export interface OverviewModel {
  ts: number;
  hostname: string;
  previousRunUnclean: boolean;
  collectors: CollectorBadge[];
  host: HostCard;
  gpus: GpuCard[];
  containers: ContainerRow[];
}

/** Metric names whose history the overview keeps for sparklines. */
export const SPARK_METRICS = [
  "system.cpu.utilization",
  "system.memory.utilization",
  "system.paging.utilization",
  "system.cpu.load_average.1m",
  "system.cpu.load_average.5m",
  "system.cpu.load_average.15m",
  "system.processes.count",
  "system.disk.io.rate",
  "system.network.io.rate",
  "gpu.utilization",
  "gpu.memory.utilization",
  "gpu.temperature",
  "gpu.power.draw",
] as const;

const SPARK_SET = new Set<string>(SPARK_METRICS);
export const isSparkMetric = (name: string): boolean => SPARK_SET.has(name);

/** Virtual or noisy devices that the overview does not chart. */
export function isHiddenDevice(device: string): boolean {
  return device === "lo" || /^(loop|ram|zram|dm-)\d*/.test(device);
}

function matches(labels: Labels, want: Labels): boolean {
  for (const [k, v] of Object.entries(want)) if (labels[k] !== v) return false;
  return true;
}

class MetricIndex {
  constructor(private readonly metrics: Record<string, MetricPoint[]>) {}

  all(name: string): MetricPoint[] {
    return this.metrics[name] ?? [];
  }

  value(name: string, want: Labels = {}): number | null {
    const p = this.all(name).find((x) => matches(x.labels, want));
    return p && typeof p.value === "number" ? p.value : null;
  }

  /** Distinct values of one label, in first-seen order. */
  labelValues(name: string, label: string): string[] {
    const out: string[] = [];
    for (const p of this.all(name)) {
      const v = p.labels[label];
      if (v !== undefined && !out.includes(v)) out.push(v);
    }
    return out;
  }
}

function cpuSort(a: string, b: string): number {
  return Number(a) - Number(b);
}

function deviceRates(ix: MetricIndex, name: string, dirIn: string, dirOut: string): DeviceRates[] {
  const byDevice = new Map<string, { in?: MetricPoint; out?: MetricPoint }>();
  for (const p of ix.all(name)) {
    const dev = p.labels.device;
    if (dev === undefined || isHiddenDevice(dev)) continue;
    const e = byDevice.get(dev) ?? {};
    if (p.labels.direction === dirIn) e.in = p;
    else if (p.labels.direction === dirOut) e.out = p;
    byDevice.set(dev, e);
  }
  return [...byDevice.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([device, e]) => ({
      device,
      in: e.in?.value ?? null,
      out: e.out?.value ?? null,
      inKey: seriesKey(name, e.in?.labels ?? { device, direction: dirIn }),
      outKey: seriesKey(name, e.out?.labels ?? { device, direction: dirOut }),
    }));
}

function sensors(ix: MetricIndex, name: string): SensorRow[] {
  return ix.all(name).map((p) => ({
    chip: p.labels.chip ?? "",
    sensor: p.labels.sensor ?? "",
    value: p.value,
  }));
}

export function mapHost(s: Summary): HostCard {
  const ix = new MetricIndex(s.metrics);
  const cores = ix
    .all("system.cpu.utilization")
    .filter((p) => p.labels.cpu !== undefined && p.labels.cpu !== "total")
    .map((p) => ({ cpu: p.labels.cpu!, value: p.value }))
    .sort((a, b) => cpuSort(a.cpu, b.cpu));

  const filesystems = new Map<string, FilesystemRow>();
  for (const name of ["system.filesystem.usage", "system.filesystem.utilization"]) {
    for (const p of ix.all(name)) {
      const mount = p.labels.mountpoint ?? p.labels.device ?? "?";
      const row = filesystems.get(mount) ?? {
        device: p.labels.device ?? "",
        mountpoint: mount,
        used: null,
        free: null,
        ratio: null,
      };
      if (name === "system.filesystem.utilization") row.ratio = p.value;
      else if (p.labels.state === "used") row.used = p.value;
      else if (p.labels.state === "free") row.free = p.value;
      filesystems.set(mount, row);
    }
  }
  for (const row of filesystems.values()) {
    if (row.ratio === null && row.used !== null && row.free !== null && row.used + row.free > 0)
      row.ratio = row.used / (row.used + row.free);
  }

  const memLimit = ix.value("system.memory.limit");
  const memUsed = ix.value("system.memory.usage", { state: "used" });
  let memRatio = ix.value("system.memory.utilization");
  if (memRatio === null && memUsed !== null && memLimit) memRatio = memUsed / memLimit;

  return {
    hostname: s.hostname,
    cpu: {
      total: ix.value("system.cpu.utilization", { cpu: "total" }),
      cores,
      key: seriesKey("system.cpu.utilization", { cpu: "total" }),
    },
    memory: {
      used: memUsed,
      limit: memLimit,
      available: ix.value("system.memory.usage", { state: "available" }),
      cached: ix.value("system.memory.usage", { state: "cached" }),
      ratio: memRatio,
      key: seriesKey("system.memory.utilization"),
    },
    swap: {
      used: ix.value("system.paging.usage", { state: "used" }),
      free: ix.value("system.paging.usage", { state: "free" }),
      ratio: ix.value("system.paging.utilization"),
      key: seriesKey("system.paging.utilization"),
    },
    load: {
      m1: ix.value("system.cpu.load_average.1m"),
      m5: ix.value("system.cpu.load_average.5m"),
      m15: ix.value("system.cpu.load_average.15m"),
      keys: [
        seriesKey("system.cpu.load_average.1m"),
        seriesKey("system.cpu.load_average.5m"),
        seriesKey("system.cpu.load_average.15m"),
      ],
    },
    uptime: ix.value("system.uptime"),
    processes: { count: ix.value("system.processes.count"), key: seriesKey("system.processes.count") },
    filesystems: [...filesystems.values()].sort((a, b) => a.mountpoint.localeCompare(b.mountpoint)),
    disks: deviceRates(ix, "system.disk.io.rate", "read", "write"),
    networks: deviceRates(ix, "system.network.io.rate", "receive", "transmit"),
    temperatures: sensors(ix, "hw.temperature"),
    fans: sensors(ix, "hw.fan.speed"),
  };
}

export function mapGpus(s: Summary): GpuCard[] {
  const ix = new MetricIndex(s.metrics);
  const indices = new Set<string>();
  for (const name of ["gpu.utilization", "gpu.memory.used", "gpu.temperature", "gpu.memory.total"])
    for (const g of ix.labelValues(name, "gpu")) indices.add(g);
  return [...indices].sort(cpuSort).map((gpu) => {
    const labelsOf = (name: string): Labels =>
      ix.all(name).find((p) => p.labels.gpu === gpu)?.labels ?? { gpu };
    const ref = ix.all("gpu.utilization").find((p) => p.labels.gpu === gpu)?.labels ??
      ix.all("gpu.memory.total").find((p) => p.labels.gpu === gpu)?.labels ?? { gpu };
    const v = (name: string) => ix.value(name, { gpu });
    return {
      index: gpu,
      uuid: ref.uuid ?? "",
      name: ref.name ?? `GPU ${gpu}`,
      utilization: v("gpu.utilization"),
      memoryUtilization: v("gpu.memory.utilization"),
      memoryUsed: v("gpu.memory.used"),
      memoryTotal: v("gpu.memory.total"),
      temperature: v("gpu.temperature"),
      powerDraw: v("gpu.power.draw"),
      powerLimit: v("gpu.power.limit"),
      clockSm: v("gpu.clock.sm"),
      clockMemory: v("gpu.clock.memory"),
      fan: v("gpu.fan.speed"),
      processes: ix
        .all("gpu.process.memory.used")
        .filter((p) => p.labels.gpu === gpu)
        .map((p) => ({ pid: p.labels.pid ?? "", process: p.labels.process ?? "", memory: p.value })),
      keys: {
        utilization: seriesKey("gpu.utilization", labelsOf("gpu.utilization")),
        memory: seriesKey("gpu.memory.utilization", labelsOf("gpu.memory.utilization")),
        temperature: seriesKey("gpu.temperature", labelsOf("gpu.temperature")),
        power: seriesKey("gpu.power.draw", labelsOf("gpu.power.draw")),
      },
    };
  });
}

export function mapContainers(s: Summary): ContainerRow[] {
  const rows = new Map<string, ContainerRow>();
  const row = (labels: Labels): ContainerRow => {
    const id = labels.id ?? labels.container ?? "?";
    let r = rows.get(id);
    if (!r) {
      r = {
        container: labels.container ?? id,
        id,
        image: labels.image ?? "",
        cpu: null,
        memoryUsage: null,
        memoryLimit: null,
        memoryUtilization: null,
        netRx: null,
        netTx: null,
        blockRead: null,
        blockWrite: null,
      };
      rows.set(id, r);
    }
    return r;
  };
  const fields: [string, (r: ContainerRow, p: MetricPoint) => void][] = [
    ["container.cpu.utilization", (r, p) => (r.cpu = p.value)],
    ["container.memory.usage", (r, p) => (r.memoryUsage = p.value)],
    ["container.memory.limit", (r, p) => (r.memoryLimit = p.value)],
    ["container.memory.utilization", (r, p) => (r.memoryUtilization = p.value)],
    [
      "container.network.io.rate",
      (r, p) => {
        if (p.labels.direction === "receive") r.netRx = p.value;
        else if (p.labels.direction === "transmit") r.netTx = p.value;
      },
    ],
    [
      "container.blockio.rate",
      (r, p) => {
        if (p.labels.direction === "read") r.blockRead = p.value;
        else if (p.labels.direction === "write") r.blockWrite = p.value;
      },
    ],
  ];
  for (const [name, set] of fields) for (const p of s.metrics[name] ?? []) set(row(p.labels), p);
  return [...rows.values()].sort((a, b) => a.container.localeCompare(b.container));
}

const STATE_ORDER: Record<string, number> = { error: 0, stale: 1, absent: 2, ok: 3 };

export function mapCollectors(collectors: Record<string, CollectorStatus>): CollectorBadge[] {
  return Object.entries(collectors)
    .map(([name, c]) => ({
      name,
      state: c.state,
      message: c.message ?? "",
      ts: c.ts ?? null,
      durationMs: c.duration_ms ?? null,
    }))
    .sort((a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || a.name.localeCompare(b.name));
}

export function mapSummary(s: Summary): OverviewModel {
  return {
    ts: s.ts,
    hostname: s.hostname,
    previousRunUnclean: Boolean(s.previous_run_unclean),
    collectors: mapCollectors(s.collectors ?? {}),
    host: mapHost(s),
    gpus: mapGpus(s),
    containers: mapContainers(s),
  };
}
