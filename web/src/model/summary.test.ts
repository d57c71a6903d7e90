import { describe, expect, it } from "vitest";
import type { Summary } from "../api/types";
import { mapSummary } from "./summary";

const ts = 1763800000;
const p = (labels: Record<string, string>, value: number) => ({ labels, value, ts });

const summary: Summary = {
  ts,
  hostname: "box",
  previous_run_unclean: true,
  collectors: {
    "host.cpu": { state: "ok", message: "", ts, duration_ms: 1.2 },
    gpu: { state: "absent", message: "NVML library not found: libnvidia-ml.so.1" },
    docker: { state: "error", message: "permission denied on /var/run/docker.sock" },
    "host.sensors": { state: "stale", message: "last sample 40 s ago" },
  },
  metrics: {
    "system.cpu.utilization": [p({ cpu: "total" }, 0.25), p({ cpu: "10" }, 0.9), p({ cpu: "2" }, 0.1), p({ cpu: "0" }, 0.3)],
    "system.memory.usage": [p({ state: "used" }, 4e9), p({ state: "available" }, 12e9), p({ state: "cached" }, 2e9)],
    "system.memory.limit": [p({}, 16e9)],
    "system.paging.utilization": [p({}, 0.05)],
    "system.cpu.load_average.1m": [p({}, 1.5)],
    "system.filesystem.usage": [
      p({ device: "/dev/sda1", mountpoint: "/", state: "used" }, 30),
      p({ device: "/dev/sda1", mountpoint: "/", state: "free" }, 70),
    ],
    "system.network.io.rate": [
      p({ device: "eth0", direction: "receive" }, 1000),
      p({ device: "eth0", direction: "transmit" }, 200),
      p({ device: "lo", direction: "receive" }, 5),
    ],
    "system.disk.io.rate": [p({ device: "loop3", direction: "read" }, 1), p({ device: "nvme0n1", direction: "write" }, 4096)],
    "gpu.utilization": [
      p({ gpu: "1", uuid: "GPU-b", name: "RTX B" }, 0.5),
      p({ gpu: "0", uuid: "GPU-a", name: "RTX A" }, 0.75),
    ],
    "gpu.memory.used": [p({ gpu: "0", uuid: "GPU-a", name: "RTX A" }, 2e9)],
    "gpu.memory.total": [p({ gpu: "0", uuid: "GPU-a", name: "RTX A" }, 8e9)],
    "gpu.temperature": [p({ gpu: "0", uuid: "GPU-a", name: "RTX A" }, 64)],
    "gpu.process.memory.used": [p({ gpu: "0", pid: "42", process: "python", pid_namespace: "host" }, 1e9)],
    "container.cpu.utilization": [p({ container: "web", id: "abc", image: "nginx:1" }, 0.02)],
    "container.network.io.rate": [
      p({ container: "web", id: "abc", image: "nginx:1", direction: "receive" }, 10),
      p({ container: "web", id: "abc", image: "nginx:1", direction: "transmit" }, 20),
    ],
    "container.memory.usage": [p({ container: "db", id: "def", image: "postgres:16" }, 3e8)],
  },
};

describe("mapSummary", () => {
  const m = mapSummary(summary);

  it("maps the host card with per-core values in numeric order", () => {
    expect(m.host.hostname).toBe("box");
    expect(m.host.cpu.total).toBe(0.25);
    expect(m.host.cpu.cores.map((c) => c.cpu)).toEqual(["0", "2", "10"]);
    expect(m.host.cpu.key).toBe('system.cpu.utilization{cpu="total"}');
  });

  it("derives memory utilisation from used/limit when the ratio is missing", () => {
    expect(m.host.memory.used).toBe(4e9);
    expect(m.host.memory.ratio).toBeCloseTo(0.25);
    expect(m.host.swap.ratio).toBe(0.05);
    expect(m.host.load.m1).toBe(1.5);
    expect(m.host.load.m5).toBeNull();
  });

  it("joins filesystem usage rows and computes their ratio", () => {
    expect(m.host.filesystems).toEqual([{ device: "/dev/sda1", mountpoint: "/", used: 30, free: 70, ratio: 0.3 }]);
  });

  it("pairs network and disk directions per device and hides lo and loop devices", () => {
    expect(m.host.networks).toHaveLength(1);
    expect(m.host.networks[0]).toMatchObject({ device: "eth0", in: 1000, out: 200 });
    expect(m.host.networks[0]!.inKey).toBe('system.network.io.rate{device="eth0",direction="receive"}');
    expect(m.host.disks.map((d) => d.device)).toEqual(["nvme0n1"]);
    expect(m.host.disks[0]).toMatchObject({ in: null, out: 4096 });
  });

  it("makes one card per GPU, sorted by index, keyed by the full label set", () => {
    expect(m.gpus.map((g) => g.index)).toEqual(["0", "1"]);
    const g0 = m.gpus[0]!;
    expect(g0).toMatchObject({ name: "RTX A", uuid: "GPU-a", utilization: 0.75, memoryUsed: 2e9, memoryTotal: 8e9, temperature: 64, powerDraw: null });
    expect(g0.keys.utilization).toBe('gpu.utilization{gpu="0",name="RTX A",uuid="GPU-a"}');
    expect(g0.processes).toEqual([{ pid: "42", process: "python", memory: 1e9 }]);
  });

  it("builds one container row per id", () => {
    expect(m.containers.map((c) => c.container)).toEqual(["db", "web"]);
    expect(m.containers[1]).toMatchObject({ image: "nginx:1", cpu: 0.02, netRx: 10, netTx: 20, memoryUsage: null });
  });

  it("orders collector badges by severity and keeps the message for the tooltip", () => {
    expect(m.collectors.map((c) => c.state)).toEqual(["error", "stale", "absent", "ok"]);
    expect(m.collectors.find((c) => c.name === "gpu")?.message).toContain("NVML library not found");
    expect(m.previousRunUnclean).toBe(true);
  });

  it("copes with an empty summary", () => {
    const e = mapSummary({ ts, hostname: "x", previous_run_unclean: false, collectors: {}, metrics: {} });
    expect(e.host.cpu.total).toBeNull();
    expect(e.gpus).toEqual([]);
    expect(e.containers).toEqual([]);
    expect(e.collectors).toEqual([]);
  });
});
