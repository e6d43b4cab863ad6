/** Documents of `GET /v1/stats` for the dashboard's unit tests (the contract's example, and variations). */
import { sampleOf, type Sample } from "../../app/dashboard/samples.js";
import { parseStats, type StatsFeed } from "../../app/dashboard/stats.js";

export type Doc = Record<string, unknown>;

/** One instance's figures as the service writes them; `overrides` replace fields. */
export function instanceDoc(instance = "host:1", overrides: Doc = {}): Doc {
  return {
    instance,
    at: "2026-12-02T05:40:00.000Z",
    uptimeSeconds: 12.3,
    connections: 3,
    authenticatedConnections: 2,
    subscriptions: 2,
    eventsPerSecond: 12.0,
    eventsPerSecondByType: { "order.created": 10.0, "card.transition": 2.0 },
    deliveriesPerSecond: 100.0,
    latencyMs: { p50: 1.2, p99: 4.5 },
    disconnectsByCode: { "1000": 3, "4004": 1 },
    slowConsumerCloses: 0,
    busReconnects: 0,
    gaps: 0,
    deadLetters: 0,
    topTenants: [{ tenantId: "tenant-001", deliveriesPerSecond: 100.0 }],
    ...overrides,
  };
}

const SUMMED = [
  "connections",
  "authenticatedConnections",
  "subscriptions",
  "eventsPerSecond",
  "deliveriesPerSecond",
  "slowConsumerCloses",
  "busReconnects",
  "gaps",
  "deadLetters",
];

/** The whole answer of the instance `self` (the first of `instances`), with the service's total. */
export function feedDoc(instances: Doc[] = [instanceDoc()], self = 0): Doc {
  const total = Object.fromEntries(SUMMED.map((key) => [key, instances.reduce((sum, i) => sum + Number(i[key] ?? 0), 0)]));
  return { ...instances[self], instances, total };
}

export const feedOf = (instances: Doc[] = [instanceDoc()]): StatsFeed => parseStats(feedDoc(instances));

/** A sample at `at` ms of these instances. */
export const sampleAt = (at: number, instances: Doc[] = [instanceDoc()]): Sample => sampleOf(at, feedOf(instances));
