import { describe, expect, it } from "vitest";
import { historyViewSearch, parseHistoryView } from "./historyView";

describe("history view in the URL", () => {
  it("defaults to CPU and memory over the last hour", () => {
    const v = parseHistoryView("");
    expect(v.series).toEqual(['system.cpu.utilization{cpu="total"}', "system.memory.utilization"]);
    expect(v).toMatchObject({ range: "1h", from: null, to: null });
  });

  it("round-trips series, range and a zoom window", () => {
    const v = { series: ['system.network.io.rate{device="eth0",direction="receive"}'], range: "6h", from: 1000, to: 2000 };
    expect(parseHistoryView(historyViewSearch(v))).toEqual(v);
  });

  it("keeps an explicitly empty selection and rejects unknown ranges", () => {
    const v = parseHistoryView("?s=&range=bogus");
    expect(v.series).toEqual([]);
    expect(v.range).toBe("1h");
    expect(parseHistoryView(historyViewSearch({ ...v, range: "1h" })).series).toEqual([]);
  });

  it("uses the default series for a deep link that names only a range", () => {
    expect(parseHistoryView("?range=6h").series).toHaveLength(2);
  });

  it("ignores a half or inverted zoom window", () => {
    expect(parseHistoryView("?from=5").from).toBeNull();
    expect(parseHistoryView("?from=5&to=1").from).toBeNull();
  });
});
