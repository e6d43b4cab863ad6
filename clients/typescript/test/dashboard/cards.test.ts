import { describe, expect, it } from "vitest";
import { cardsOf, type Card } from "../../app/dashboard/cards.js";
import { addSample, type Sample } from "../../app/dashboard/samples.js";
import { instanceDoc, sampleAt, type Doc } from "./fixtures.js";

const byId = (cards: Card[]): Record<string, Card> => Object.fromEntries(cards.map((c) => [c.id, c]));
const samplesOf = (steps: [number, Doc[]][]): Sample[] => steps.reduce<Sample[]>((acc, [t, docs]) => addSample(acc, sampleAt(t, docs)), []);

describe("the figures at the top", () => {
  it("before the first answer: dashes", () => {
    const cards = cardsOf([]);
    expect(cards.map((c) => c.id)).toEqual([
      "connections",
      "authenticated",
      "subscriptions",
      "events",
      "deliveries",
      "latency-p50",
      "latency-p99",
      "disconnects",
      "slow-consumers",
      "bus-reconnects",
      "gaps",
      "dead-letters",
    ]);
    expect(cards.every((c) => c.value === "—" && c.raw === null && !c.alarm)).toBe(true);
  });

  it("the total over instances, the slowest latency, counters with their rise in the window", () => {
    const samples = samplesOf([
      [0, [instanceDoc("a", { slowConsumerCloses: 1 }), instanceDoc("b")]],
      [1000, [instanceDoc("a", { slowConsumerCloses: 3, latencyMs: { p50: 0.5, p99: 30 } }), instanceDoc("b", { deliveriesPerSecond: 1234.5 })]],
    ]);
    const cards = byId(cardsOf(samples));
    expect(cards["connections"]).toMatchObject({ value: "6", raw: 6 });
    expect(cards["deliveries"]).toMatchObject({ value: "1,335", raw: 1334.5 });
    expect(cards["latency-p99"]).toMatchObject({ value: "30 ms", raw: 30, note: "slowest instance, 1 min" });
    expect(cards["latency-p50"]?.value).toBe("1.2 ms");
    expect(cards["slow-consumers"]).toMatchObject({ value: "3", raw: 3, note: "+2 in the last 5 min", alarm: true });
    expect(cards["disconnects"]).toMatchObject({ value: "8", alarm: false }); // normal closes are no alarm
    expect(cards["gaps"]).toMatchObject({ value: "0", alarm: false });
    expect(cards["connections"]?.spark.points).toEqual([
      { t: 0, v: 6 },
      { t: 1000, v: 6 },
    ]);
  });

  it("no event in the last minute: the latency says so", () => {
    const cards = byId(cardsOf(samplesOf([[0, [instanceDoc("a", { latencyMs: { p50: null, p99: null } })]]])));
    expect(cards["latency-p50"]).toMatchObject({ value: "—", raw: null, note: "no event in the last minute" });
  });
});
