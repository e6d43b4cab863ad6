import { describe, expect, it } from "vitest";
import { addSample, type Sample } from "../../app/dashboard/samples.js";
import {
  allDisconnects,
  counterRate,
  disconnectRows,
  eventTypeLines,
  increaseBetween,
  increaseOver,
  instanceLines,
  OTHER_TYPES,
  seriesOf,
} from "../../app/dashboard/series.js";
import { instanceDoc, sampleAt, type Doc } from "./fixtures.js";

const samplesOf = (steps: [number, Doc[]][]): Sample[] => steps.reduce<Sample[]>((acc, [t, docs]) => addSample(acc, sampleAt(t, docs)), []);

describe("series", () => {
  it("seriesOf: one point per sample", () => {
    const samples = samplesOf([
      [0, [instanceDoc("a", { deliveriesPerSecond: 1 })]],
      [1000, [instanceDoc("a", { deliveriesPerSecond: 3 })]],
    ]);
    expect(seriesOf(samples, (s) => s.overview.total.deliveriesPerSecond)).toEqual([
      { t: 0, v: 1 },
      { t: 1000, v: 3 },
    ]);
  });

  it("instanceLines: a line per instance, null where an instance was not there", () => {
    const samples = samplesOf([
      [0, [instanceDoc("b", { connections: 1 })]],
      [1000, [instanceDoc("a", { connections: 2 }), instanceDoc("b", { connections: 3 })]],
    ]);
    expect(instanceLines(samples, (i) => i.connections)).toEqual([
      { key: "a", label: "a", points: [{ t: 0, v: null }, { t: 1000, v: 2 }] },
      { key: "b", label: "b", points: [{ t: 0, v: 1 }, { t: 1000, v: 3 }] },
    ]);
  });

  it("eventTypeLines: the busiest types first, 0 where a type was idle, the rest as other types", () => {
    const byType = (rates: Record<string, number>): Doc[] => [instanceDoc("a", { eventsPerSecondByType: rates })];
    const samples = samplesOf([
      [0, byType({ a: 5, b: 1, c: 1, d: 0.5 })],
      [1000, byType({ a: 5, c: 3 })],
    ]);
    const lines = eventTypeLines(samples, 3);
    expect(lines.map((l) => l.key)).toEqual(["a", "c", OTHER_TYPES]);
    expect(lines[2]?.label).toBe(`2 ${OTHER_TYPES}`);
    expect(lines[2]?.points).toEqual([
      { t: 0, v: 1.5 },
      { t: 1000, v: 0 },
    ]);
    expect(eventTypeLines(samples).map((l) => l.key)).toEqual(["a", "c", "b", "d"]);
    expect(eventTypeLines([])).toEqual([]);
  });
});

describe("counters (totals since an instance started)", () => {
  const slow = (a: number, b?: number): Doc[] => [
    instanceDoc("a", { slowConsumerCloses: a }),
    ...(b === undefined ? [] : [instanceDoc("b", { slowConsumerCloses: b })]),
  ];

  it("increaseBetween: the rise over instances seen in both samples", () => {
    expect(increaseBetween(sampleAt(0, slow(2, 1)), sampleAt(1000, slow(5, 4)), (i) => i.slowConsumerCloses)).toBe(6);
  });

  it("an instance appearing counts from its next sample (its total so far is not news)", () => {
    expect(increaseBetween(sampleAt(0, slow(2)), sampleAt(1000, slow(2, 50)), (i) => i.slowConsumerCloses)).toBe(0);
  });

  it("a counter that went down (a restart under the same id) counts from 0", () => {
    expect(increaseBetween(sampleAt(0, slow(9)), sampleAt(1000, slow(2)), (i) => i.slowConsumerCloses)).toBe(2);
  });

  it("increaseOver and counterRate over the window (a gap in the feed spreads the rise over it)", () => {
    const samples = samplesOf([
      [0, slow(0)],
      [1000, slow(2)],
      [2000, slow(2)],
      [6000, slow(10)],
    ]);
    const pick = (i: { slowConsumerCloses: number }): number => i.slowConsumerCloses;
    expect(increaseOver(samples, pick)).toBe(10);
    expect(counterRate(samples, pick)).toEqual([
      { t: 0, v: null },
      { t: 1000, v: 2 },
      { t: 2000, v: 0 },
      { t: 6000, v: 2 },
    ]);
  });

  it("disconnectRows: every code seen, its total now and its rise, by code", () => {
    const samples = samplesOf([
      [0, [instanceDoc("a", { disconnectsByCode: { "4004": 1, "1000": 3 } })]],
      [1000, [instanceDoc("a", { disconnectsByCode: { "4004": 1, "1000": 5, "1001": 1 } }), instanceDoc("b", { disconnectsByCode: { "1000": 7 } })]],
    ]);
    expect(disconnectRows(samples)).toEqual([
      { code: "1000", total: 12, recent: 2 },
      { code: "1001", total: 1, recent: 1 },
      { code: "4004", total: 1, recent: 0 },
    ]);
    const [a] = samples[1]?.feed.instances ?? [];
    expect(a && allDisconnects(a)).toBe(7);
  });
});
