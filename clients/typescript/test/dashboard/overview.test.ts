import { describe, expect, it } from "vitest";
import { overviewOf, topTenantsOf } from "../../app/dashboard/overview.js";
import { feedOf, instanceDoc } from "./fixtures.js";

describe("the overview of several instances", () => {
  const feed = feedOf([
    instanceDoc("a", {
      eventsPerSecondByType: { "order.created": 10 },
      disconnectsByCode: { "1000": 3 },
      latencyMs: { p50: 1, p99: 9 },
      topTenants: [
        { tenantId: "t1", deliveriesPerSecond: 5 },
        { tenantId: "t2", deliveriesPerSecond: 4 },
      ],
    }),
    instanceDoc("b", {
      eventsPerSecondByType: { "order.created": 1, "card.transition": 2 },
      disconnectsByCode: { "1000": 1, "4004": 2 },
      latencyMs: { p50: 3, p99: null },
      topTenants: [{ tenantId: "t2", deliveriesPerSecond: 4 }],
    }),
    instanceDoc("c", { latencyMs: { p50: null, p99: null }, topTenants: [], eventsPerSecondByType: {}, disconnectsByCode: {} }),
  ]);
  const overview = overviewOf(feed);

  it("sums events by type and disconnects by code", () => {
    expect(overview.eventsPerSecondByType).toEqual({ "order.created": 11, "card.transition": 2 });
    expect(overview.disconnectsByCode).toEqual({ "1000": 4, "4004": 2 });
  });

  it("ranks tenants by their deliveries summed over instances", () => {
    expect(overview.topTenants).toEqual([
      { tenantId: "t2", deliveriesPerSecond: 8 },
      { tenantId: "t1", deliveriesPerSecond: 5 },
    ]);
  });

  it("takes the slowest instance's latency (null only when none had an event)", () => {
    expect(overview.latencyMs).toEqual({ p50: 3, p99: 9 });
    expect(overviewOf(feedOf([instanceDoc("x", { latencyMs: { p50: null, p99: null } })])).latencyMs).toEqual({ p50: null, p99: null });
  });

  it("keeps the top 10, ties by tenant id", () => {
    const tenants = Array.from({ length: 12 }, (_, i) => ({ tenantId: `t${String(i).padStart(2, "0")}`, deliveriesPerSecond: 1 }));
    const top = topTenantsOf(feedOf([instanceDoc("a", { topTenants: tenants })]).instances);
    expect(top.map((t) => t.tenantId)).toEqual(tenants.slice(0, 10).map((t) => t.tenantId));
  });
});
