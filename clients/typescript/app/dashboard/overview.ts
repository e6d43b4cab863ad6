/**
 * What the dashboard shows of one answer of the feed, over every instance: the service's `total`, and the
 * figures it does not sum — events per second by type and disconnects by close code (summed), the top tenants
 * (their deliveries per second summed over instances), and the latency (the worst instance's: percentiles of
 * different instances cannot be combined).
 */
import type { InstanceStats, Latency, StatsFeed, TenantRate, Totals } from "./stats.js";

export const TOP_TENANTS = 10;

export interface Overview {
  instances: readonly InstanceStats[];
  total: Totals;
  eventsPerSecondByType: Readonly<Record<string, number>>;
  disconnectsByCode: Readonly<Record<string, number>>;
  /** Most deliveries first (ties by tenant id), at most TOP_TENANTS. */
  topTenants: readonly TenantRate[];
  /** The highest p50 and the highest p99 of the instances (null: no instance had an event in the last minute). */
  latencyMs: Latency;
}

function sumMaps(maps: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const map of maps) for (const [key, value] of Object.entries(map)) out[key] = (out[key] ?? 0) + value;
  return out;
}

function worst(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.max(...known);
}

/** The tenants with the most deliveries per second over every instance. */
export function topTenantsOf(instances: readonly InstanceStats[], limit = TOP_TENANTS): TenantRate[] {
  const rates = sumMaps(instances.map((i) => Object.fromEntries(i.topTenants.map((t) => [t.tenantId, t.deliveriesPerSecond]))));
  return Object.entries(rates)
    .map(([tenantId, deliveriesPerSecond]) => ({ tenantId, deliveriesPerSecond }))
    .sort((a, b) => b.deliveriesPerSecond - a.deliveriesPerSecond || (a.tenantId < b.tenantId ? -1 : 1))
    .slice(0, limit);
}

export function overviewOf(feed: StatsFeed): Overview {
  const { instances } = feed;
  return {
    instances,
    total: feed.total,
    eventsPerSecondByType: sumMaps(instances.map((i) => i.eventsPerSecondByType)),
    disconnectsByCode: sumMaps(instances.map((i) => i.disconnectsByCode)),
    topTenants: topTenantsOf(instances),
    latencyMs: {
      p50: worst(instances.map((i) => i.latencyMs.p50)),
      p99: worst(instances.map((i) => i.latencyMs.p99)),
    },
  };
}
