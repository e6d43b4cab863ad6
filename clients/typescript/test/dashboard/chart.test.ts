import { describe, expect, it } from "vitest";
import { linePath, niceCeiling, runsOf, scaleOf, spanLabel, ticksOf, timeWindowOf, xOf, yOf, type Frame } from "../../app/dashboard/chart.js";

const frame: Frame = { t0: 0, t1: 10_000, yMax: 10, box: { width: 100, height: 50 }, maxGapMs: 3_500 };

describe("chart geometry", () => {
  it("niceCeiling: the next 1, 2, 2.5, 5 × 10^k", () => {
    expect([0, -3, 0.13, 1, 1.2, 2.2, 3, 7, 10, 11, 99, 101, 0.2, 2500].map(niceCeiling)).toEqual([
      1, 1, 0.2, 1, 2, 2.5, 5, 10, 10, 20, 100, 200, 0.2, 2500,
    ]);
  });

  it("scaleOf: the lines' largest value, at least the floor", () => {
    const line = (vs: (number | null)[]) => ({ key: "k", label: "k", points: vs.map((v, t) => ({ t, v })) });
    expect(scaleOf([line([1, null, 3]), line([7])])).toBe(10);
    expect(scaleOf([line([0.1])], 5)).toBe(5);
    expect(scaleOf([])).toBe(1);
    expect(ticksOf(10)).toEqual([0, 5, 10]);
  });

  it("maps time to x and value to y (0 at the bottom), clamped to the scale", () => {
    expect(xOf(0, frame)).toBe(0);
    expect(xOf(5_000, frame)).toBe(50);
    expect(yOf(0, frame)).toBe(50);
    expect(yOf(10, frame)).toBe(0);
    expect(yOf(20, frame)).toBe(0);
    expect(yOf(-1, frame)).toBe(50);
  });

  it("joins consecutive points; breaks at a missing value and at a gap in time; drops points outside the window", () => {
    const points = [
      { t: -1000, v: 1 },
      { t: 0, v: 0 },
      { t: 1000, v: 10 },
      { t: 2000, v: null },
      { t: 3000, v: 5 },
      { t: 4000, v: 5 },
      { t: 9000, v: 0 }, // 5 s after the last: the feed was down
      { t: 11_000, v: 3 },
    ];
    expect(runsOf(points, frame)).toEqual([
      [{ x: 0, y: 50 }, { x: 10, y: 0 }],
      [{ x: 30, y: 25 }, { x: 40, y: 25 }],
      [{ x: 90, y: 50 }],
    ]);
    expect(linePath(points, frame)).toBe("M0 50L10 0M30 25L40 25M88.5 50h3");
    expect(linePath([], frame)).toBe("");
  });
});

describe("the charts' time window", () => {
  it("reaches back to the first sample, at least 10 s, at most 5 minutes", () => {
    const end = 1_000_000;
    expect(timeWindowOf(null, end, 300_000)).toEqual({ t0: end - 10_000, t1: end });
    expect(timeWindowOf(end - 3_000, end, 300_000)).toEqual({ t0: end - 10_000, t1: end });
    expect(timeWindowOf(end - 42_000, end, 300_000)).toEqual({ t0: end - 42_000, t1: end });
    expect(timeWindowOf(end - 900_000, end, 300_000)).toEqual({ t0: end - 300_000, t1: end });
  });

  it("says how far back it reaches", () => {
    expect(spanLabel({ t0: 0, t1: 42_000 })).toBe("42 s ago");
    expect(spanLabel({ t0: 0, t1: 300_000 })).toBe("5 min ago");
  });
});
