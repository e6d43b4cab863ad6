import { describe, expect, it } from "vitest";
import { InvalidStatsError, parseStats, totalOf } from "../../app/dashboard/stats.js";
import { feedDoc, instanceDoc } from "./fixtures.js";

describe("parseStats: the body of GET /v1/stats", () => {
  it("reads the contract's example", () => {
    const feed = parseStats(feedDoc());
    expect(feed).toMatchObject({
      instance: "host:1",
      connections: 3,
      authenticatedConnections: 2,
      eventsPerSecondByType: { "order.created": 10, "card.transition": 2 },
      latencyMs: { p50: 1.2, p99: 4.5 },
      disconnectsByCode: { "1000": 3, "4004": 1 },
      topTenants: [{ tenantId: "tenant-001", deliveriesPerSecond: 100 }],
    });
    expect(feed.instances.map((i) => i.instance)).toEqual(["host:1"]);
    expect(feed.total).toEqual({
      connections: 3,
      authenticatedConnections: 2,
      subscriptions: 2,
      eventsPerSecond: 12,
      deliveriesPerSecond: 100,
      slowConsumerCloses: 0,
      busReconnects: 0,
      gaps: 0,
      deadLetters: 0,
    });
  });

  it("keeps null latencies (no event in the last minute) as null", () => {
    expect(parseStats(feedDoc([instanceDoc("a", { latencyMs: { p50: null, p99: null } })])).latencyMs).toEqual({ p50: null, p99: null });
  });

  it("refuses a body that is not an object with an instance id", () => {
    for (const body of [null, "x", 3, [], {}, { instance: "" }, { instance: 7 }]) {
      expect(() => parseStats(body)).toThrow(InvalidStatsError);
    }
  });

  it("reads a missing or malformed figure as 0, empty or null (another version's announcement)", () => {
    const feed = parseStats({
      instance: "old:1",
      connections: "3",
      eventsPerSecondByType: { a: 1, b: "x", c: Number.NaN },
      latencyMs: "fast",
      topTenants: [{ tenantId: "t" }, { deliveriesPerSecond: 3 }, "z"],
    });
    expect(feed).toMatchObject({
      at: "",
      connections: 0,
      deliveriesPerSecond: 0,
      eventsPerSecondByType: { a: 1 },
      latencyMs: { p50: null, p99: null },
      disconnectsByCode: {},
      topTenants: [{ tenantId: "t", deliveriesPerSecond: 0 }],
    });
  });

  it("lists every instance sorted by id, the answering one added when missing, unreadable ones left out", () => {
    const doc = { ...instanceDoc("m:2"), instances: [instanceDoc("z:9"), "junk", { connections: 1 }, instanceDoc("a:1"), instanceDoc("a:1")] };
    const feed = parseStats(doc);
    expect(feed.instances.map((i) => i.instance)).toEqual(["a:1", "m:2", "z:9"]);
    expect(feed.total.connections).toBe(9); // summed here: the body has no total
  });

  it("takes the service's total, summing only the figures it lacks", () => {
    const doc = { ...feedDoc([instanceDoc("a"), instanceDoc("b")]), total: { connections: 42 } };
    const feed = parseStats(doc);
    expect(feed.total.connections).toBe(42);
    expect(feed.total.deliveriesPerSecond).toBe(200);
  });

  it("totalOf sums the summed figures", () => {
    const feed = parseStats(feedDoc([instanceDoc("a", { gaps: 2 }), instanceDoc("b", { gaps: 3, connections: 1 })]));
    expect(totalOf(feed.instances)).toMatchObject({ gaps: 5, connections: 4 });
  });
});
