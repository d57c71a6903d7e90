import { describe, expect, it } from "vitest";
import { formatCountdown, MIN_REFRESH_DELAY_MS, refreshDelayMs, refreshDue, refreshRetryMs, roleAtLeast } from "./session";

const NOW = 1_700_000_000_000;

describe("refreshDelayMs", () => {
  it("refreshes a 15-minute token one minute before it runs out", () => {
    expect(refreshDelayMs(NOW + 900_000, 900, NOW)).toBe(840_000);
  });
  it("keeps a fifth of a short lifetime as the lead", () => {
    // 2 minutes: lead 24 s, refresh at 96 s.
    expect(refreshDelayMs(NOW + 120_000, 120, NOW)).toBe(96_000);
  });
  it("counts from when the token was issued, not from now", () => {
    // Issued 10 min ago with 15 min: 4 min left, refresh in 3.
    expect(refreshDelayMs(NOW + 300_000, 900, NOW)).toBe(240_000);
  });
  it("never schedules sooner than the floor, even for an expired token", () => {
    expect(refreshDelayMs(NOW - 1000, 900, NOW)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(NOW + 2000, 10, NOW)).toBe(MIN_REFRESH_DELAY_MS);
  });
});

describe("refreshDue", () => {
  it("is due inside the lead and after expiry, not before", () => {
    expect(refreshDue(NOW + 900_000, 900, NOW)).toBe(false);
    expect(refreshDue(NOW + 61_000, 900, NOW)).toBe(false);
    expect(refreshDue(NOW + 59_000, 900, NOW)).toBe(true);
    expect(refreshDue(NOW - 1, 900, NOW)).toBe(true);
  });
});

describe("refreshRetryMs", () => {
  it("backs off 5, 10, 20 s and stops at a minute", () => {
    expect([1, 2, 3, 4, 5, 9].map(refreshRetryMs)).toEqual([5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  });
});

describe("formatCountdown", () => {
  it("shows minutes and seconds, rounding up", () => {
    expect(formatCountdown(65)).toBe("1:05");
    expect(formatCountdown(8.2)).toBe("0:09");
    expect(formatCountdown(-3)).toBe("0:00");
  });
});

describe("roleAtLeast", () => {
  it("orders viewer < operator < admin", () => {
    expect(roleAtLeast("admin", "admin")).toBe(true);
    expect(roleAtLeast("operator", "admin")).toBe(false);
    expect(roleAtLeast("operator", "operator")).toBe(true);
    expect(roleAtLeast("viewer", "operator")).toBe(false);
    expect(roleAtLeast("admin", "viewer")).toBe(true);
  });
  it("grants nothing to an unknown or missing role", () => {
    expect(roleAtLeast("root", "viewer")).toBe(false);
    expect(roleAtLeast(null, "viewer")).toBe(false);
    expect(roleAtLeast(undefined, "viewer")).toBe(false);
  });
});
