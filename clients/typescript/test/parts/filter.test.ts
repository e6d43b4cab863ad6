import { describe, expect, it } from "vitest";
import { canonicalFilter, clampBacklog, clampHistoryLimit, filterKey, sameFilter, subscribePayload } from "../../src/client/filter.js";

describe("filters", () => {
  it("are canonical: sorted, each entry once, empty lists dropped, nothing left is no filter", () => {
    expect(canonicalFilter({ types: ["order.*", "card.transition", "order.*"], severity: ["warning", "error", "warning"] })).toEqual({
      types: ["card.transition", "order.*"],
      severity: ["error", "warning"],
    });
    expect(canonicalFilter({ types: ["order.*"], severity: [] })).toEqual({ types: ["order.*"] });
    expect(canonicalFilter({ types: [], severity: null })).toBeNull();
    expect(canonicalFilter({})).toBeNull();
    expect(canonicalFilter(null)).toBeNull();
    expect(canonicalFilter(undefined)).toBeNull();
  });

  it("compare by value", () => {
    const a = canonicalFilter({ severity: ["error", "info"] });
    const b = canonicalFilter({ severity: ["info", "error"] });
    expect(sameFilter(a, b)).toBe(true);
    expect(sameFilter(a, null)).toBe(false);
    expect(sameFilter(null, null)).toBe(true);
    expect(filterKey({ types: ["b.x", "a.y"] })).toBe(filterKey({ types: ["a.y", "b.x", "a.y"] }));
  });
});

describe("subscribe payloads", () => {
  it("resume with since (no backlog), else ask for the backlog when there is one; the filter when there is one", () => {
    const filter = canonicalFilter({ types: ["order.*"] });
    expect(subscribePayload("t", { since: "5-0", backlog: 50, filter })).toEqual({ tenantId: "t", since: "5-0", filter });
    expect(subscribePayload("t", { since: null, backlog: 50, filter: null })).toEqual({ tenantId: "t", backlog: 50 });
    expect(subscribePayload("t", { since: null, backlog: 0, filter: null })).toEqual({ tenantId: "t" });
  });

  it("backlogs and page sizes stay within the protocol's bounds", () => {
    expect([-5, 0, 12.7, 500, 501, Number.NaN].map(clampBacklog)).toEqual([0, 0, 12, 500, 500, 0]);
    expect([0, 1, 50, 100, 1000].map(clampHistoryLimit)).toEqual([1, 1, 50, 100, 100]);
  });
});
