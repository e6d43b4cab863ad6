/**
 * The JSON of `GET /v1/stats` (see the service's openapi.yaml, `InstanceStats`), typed, and its tolerant reader.
 *
 * The answering instance's own figures are at the top level; `instances` lists every live instance on the same
 * Redis (this one included) and `total` sums some of their figures. Other instances' documents come from their
 * own announcements, possibly from an older or newer version of the service: a missing or malformed figure reads
 * as 0 (or empty, or null for the latency) rather than failing the whole feed. Only a body that is not an object
 * with an `instance` id is refused.
 */

export interface TenantRate {
  tenantId: string;
  deliveriesPerSecond: number;
}

export interface Latency {
  /** Milliseconds, publish → queued for delivery, over the last minute; null: no event in the last minute. */
  p50: number | null;
  p99: number | null;
}

export interface InstanceStats {
  /** `host:pid`. */
  instance: string;
  /** When the instance computed these figures (ISO 8601), or "" when not given. */
  at: string;
  uptimeSeconds: number;
  connections: number;
  authenticatedConnections: number;
  subscriptions: number;
  eventsPerSecond: number;
  eventsPerSecondByType: Readonly<Record<string, number>>;
  deliveriesPerSecond: number;
  latencyMs: Latency;
  /** Totals since the instance started, by close code (a string: JSON object keys). */
  disconnectsByCode: Readonly<Record<string, number>>;
  slowConsumerCloses: number;
  busReconnects: number;
  gaps: number;
  deadLetters: number;
  topTenants: readonly TenantRate[];
}

/** The figures `total` sums over the instances. */
export const SUMMED = [
  "connections",
  "authenticatedConnections",
  "subscriptions",
  "eventsPerSecond",
  "deliveriesPerSecond",
  "slowConsumerCloses",
  "busReconnects",
  "gaps",
  "deadLetters",
] as const satisfies readonly (keyof InstanceStats)[];

export type SummedFigure = (typeof SUMMED)[number];
export type Totals = Readonly<Record<SummedFigure, number>>;

export interface StatsFeed extends InstanceStats {
  /** Every live instance (this one included), sorted by id; never empty. */
  instances: readonly InstanceStats[];
  total: Totals;
}

export class InvalidStatsError extends Error {
  override readonly name = "InvalidStatsError";
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

const finite = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

const num = (doc: Json, field: string): number => finite(doc[field]) ?? 0;

function numbers(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isObject(value)) return out;
  for (const [key, v] of Object.entries(value)) {
    const n = finite(v);
    if (n !== null) out[key] = n;
  }
  return out;
}

function tenants(value: unknown): TenantRate[] {
  if (!Array.isArray(value)) return [];
  const out: TenantRate[] = [];
  for (const item of value) {
    if (isObject(item) && typeof item["tenantId"] === "string") {
      out.push({ tenantId: item["tenantId"], deliveriesPerSecond: num(item, "deliveriesPerSecond") });
    }
  }
  return out;
}

function latency(value: unknown): Latency {
  if (!isObject(value)) return { p50: null, p99: null };
  return { p50: finite(value["p50"]), p99: finite(value["p99"]) };
}

/** One instance's document; throws InvalidStatsError when it is not an object with an `instance` id. */
export function parseInstance(value: unknown): InstanceStats {
  if (!isObject(value)) throw new InvalidStatsError("an instance's figures are not a JSON object");
  const id = value["instance"];
  if (typeof id !== "string" || id === "") throw new InvalidStatsError("an instance's figures have no instance id");
  return {
    instance: id,
    at: typeof value["at"] === "string" ? value["at"] : "",
    uptimeSeconds: num(value, "uptimeSeconds"),
    connections: num(value, "connections"),
    authenticatedConnections: num(value, "authenticatedConnections"),
    subscriptions: num(value, "subscriptions"),
    eventsPerSecond: num(value, "eventsPerSecond"),
    eventsPerSecondByType: numbers(value["eventsPerSecondByType"]),
    deliveriesPerSecond: num(value, "deliveriesPerSecond"),
    latencyMs: latency(value["latencyMs"]),
    disconnectsByCode: numbers(value["disconnectsByCode"]),
    slowConsumerCloses: num(value, "slowConsumerCloses"),
    busReconnects: num(value, "busReconnects"),
    gaps: num(value, "gaps"),
    deadLetters: num(value, "deadLetters"),
    topTenants: tenants(value["topTenants"]),
  };
}

/** The sum of the SUMMED figures over `instances`. */
export function totalOf(instances: readonly InstanceStats[]): Totals {
  const sums = Object.fromEntries(SUMMED.map((key) => [key, 0])) as Record<SummedFigure, number>;
  for (const instance of instances) for (const key of SUMMED) sums[key] += instance[key];
  return sums;
}

/**
 * The body of `GET /v1/stats`. Without `instances` (a service from before them) the answering instance is the
 * only one; it is added when the list lacks it; instances that cannot be read are left out. `total` is the
 * service's, each figure it lacks summed here.
 */
export function parseStats(body: unknown): StatsFeed {
  const self = parseInstance(body);
  const doc = body as Json;
  const listed: InstanceStats[] = [];
  if (Array.isArray(doc["instances"])) {
    for (const item of doc["instances"]) {
      try {
        listed.push(parseInstance(item));
      } catch {
        // one unreadable announcement does not hide the others
      }
    }
  }
  const seen = new Set<string>();
  const instances = [...listed, ...(listed.some((i) => i.instance === self.instance) ? [] : [self])]
    .filter((i) => !seen.has(i.instance) && seen.add(i.instance))
    .sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
  const summed = totalOf(instances);
  const given = isObject(doc["total"]) ? doc["total"] : {};
  const total = Object.fromEntries(SUMMED.map((key) => [key, finite(given[key]) ?? summed[key]])) as Totals;
  return { ...self, instances, total };
}
