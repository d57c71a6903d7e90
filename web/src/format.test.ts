import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, formatMetric, formatPercent, formatRate } from "./format";

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
    expect(formatBytes(150 * 1024 ** 2)).toBe("150 MiB");
  });
  it("renders missing values as a dash, never NaN", () => {
    expect(formatBytes(null)).toBe("—");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("formatPercent", () => {
  it("turns a 0..1 ratio into a percentage", () => {
    expect(formatPercent(0.123)).toBe("12.3%");
    expect(formatPercent(1)).toBe("100%");
    expect(formatPercent(0)).toBe("0%");
    expect(formatPercent(null)).toBe("—");
  });
});

describe("formatDuration", () => {
  it("keeps the two largest units", () => {
    expect(formatDuration(12.7)).toBe("12s");
    expect(formatDuration(245)).toBe("4m 5s");
    expect(formatDuration(3 * 3600 + 120)).toBe("3h 2m");
    expect(formatDuration(2 * 86400 + 5 * 3600)).toBe("2d 5h");
  });
});

describe("formatMetric", () => {
  it("picks the unit from the metric name", () => {
    expect(formatRate(2048)).toBe("2.0 KiB/s");
    expect(formatMetric("system.network.io.rate", 2048)).toBe("2.0 KiB/s");
    expect(formatMetric("system.cpu.utilization", 0.5)).toBe("50.0%");
    expect(formatMetric("gpu.temperature", 61.4)).toBe("61 °C");
    expect(formatMetric("gpu.power.draw", 215.2)).toBe("215 W");
    expect(formatMetric("system.memory.usage", 1024)).toBe("1.0 KiB");
    expect(formatMetric("system.cpu.load_average.1m", 1.234)).toBe("1.23");
    expect(formatMetric("system.processes.count", 312)).toBe("312");
  });
});
