import { describe, expect, it } from "vitest";
import { closeCodeMeaning, closeCodeName, formatAgo, formatCount, formatDuration, formatMs, formatPlain, formatRate } from "../../app/dashboard/format.js";

describe("formatting", () => {
  it("counts", () => {
    expect([0, 7, 1234, 1234567, 2.6].map(formatCount)).toEqual(["0", "7", "1,234", "1,234,567", "3"]);
  });

  it("rates per second", () => {
    expect([0, 0.01, 0.2, 1, 2.25, 9.96, 12.4, 1234.4, 12_345, 20_000, Number.NaN].map(formatRate)).toEqual([
      "0",
      "<0.1",
      "0.2",
      "1",
      "2.3",
      "10",
      "12",
      "1,234",
      "12.3k",
      "20k",
      "0",
    ]);
  });

  it("milliseconds, unknown as a dash", () => {
    expect([null, 0.123, 1.23, 4.5, 12.6, 999, 1234, 12_345].map(formatMs)).toEqual([
      "—",
      "0.12 ms",
      "1.2 ms",
      "4.5 ms",
      "13 ms",
      "999 ms",
      "1.2 s",
      "12 s",
    ]);
  });

  it("plain numbers (the latency chart's scale)", () => {
    expect([0, 5, 2.5, 0.25, 12.34, 1234.5, Number.NaN].map(formatPlain)).toEqual(["0", "5", "2.5", "0.25", "12.3", "1,235", "—"]);
  });

  it("durations and ages", () => {
    expect([0, 12.3, 184, 7380, 93_600].map(formatDuration)).toEqual(["0 s", "12 s", "3 min 4 s", "2 h 3 min", "1 d 2 h"]);
    expect([0, 1999, 5000, 119_000, 180_000].map(formatAgo)).toEqual(["just now", "just now", "5 s ago", "119 s ago", "3 min ago"]);
  });

  it("close codes by the protocol's table", () => {
    expect(closeCodeName("4004")).toBe("slow_consumer");
    expect(closeCodeName("1000")).toBe("normal");
    expect(closeCodeName("4999")).toBeNull();
    expect(closeCodeName("toString")).toBeNull();
    expect(closeCodeMeaning("4004")).toContain("fell behind");
    expect(closeCodeMeaning("x")).toBe("");
  });
});
