/**
 * Subscription options as the wire wants them: a filter in canonical form (so that two equal filters written
 * differently are one, and an inline object re-created on every render sends nothing new), and a backlog
 * within the protocol's bounds. Pure.
 */
import { CLIENT_INTEGER_BOUNDS, type FilterSpec, type SubscribePayload } from "../generated/messages.js";
import type { Severity } from "../messages.js";

/**
 * Which notifications a subscription wants: event `types` (exactly, `card.transition`, or by dotted prefix,
 * `order.*`) and `severity`. Both optional; a notification must match every list given. An empty list counts
 * as not given (the protocol has no filter that matches nothing).
 */
export interface NotificationFilter {
  readonly types?: readonly string[] | null | undefined;
  readonly severity?: readonly Severity[] | null | undefined;
}

/** A filter in canonical form (sorted, each entry once), or null for none. */
export type CanonicalFilter = FilterSpec | null;

const sortedUnique = <T extends string>(values: readonly T[]): T[] => [...new Set(values)].sort();

/** The canonical form of a filter: lists sorted and deduplicated, empty lists dropped; null when nothing is left. */
export function canonicalFilter(filter: NotificationFilter | null | undefined): CanonicalFilter {
  const types = sortedUnique(filter?.types ?? []);
  const severity = sortedUnique(filter?.severity ?? []);
  const [firstType, ...moreTypes] = types;
  const spec: { types?: [string, ...string[]]; severity?: NonNullable<FilterSpec["severity"]> } = {};
  if (firstType !== undefined) spec.types = [firstType, ...moreTypes];
  // At most the four severities, each once: one of the tuples the schema allows.
  if (severity.length > 0) spec.severity = severity as NonNullable<FilterSpec["severity"]>;
  return spec.types === undefined && spec.severity === undefined ? null : spec;
}

/** Whether two canonical filters are the same filter. */
export function sameFilter(a: CanonicalFilter, b: CanonicalFilter): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A key for a filter (equal for equal filters), e.g. for React dependencies. */
export function filterKey(filter: NotificationFilter | null | undefined): string {
  return JSON.stringify(canonicalFilter(filter));
}

const clamp = (value: number, bounds: { readonly minimum: number; readonly maximum: number }): number =>
  Math.min(bounds.maximum, Math.max(bounds.minimum, Math.floor(Number.isFinite(value) ? value : bounds.minimum)));

/** A backlog within the protocol's bounds (0–500). */
export const clampBacklog = (backlog: number): number => clamp(backlog, CLIENT_INTEGER_BOUNDS.SubscribePayload.backlog);

/** A history page size within the protocol's bounds (1–100). */
export const clampHistoryLimit = (limit: number): number => clamp(limit, CLIENT_INTEGER_BOUNDS.HistoryRequestPayload.limit);

/** The default page size of `history` (the server's default). */
export const DEFAULT_HISTORY_LIMIT = CLIENT_INTEGER_BOUNDS.HistoryRequestPayload.limit.default;

/** The payload of one `subscribe`: `since` for a resume, else `backlog` (when asked for); the filter when there is one. */
export function subscribePayload(
  tenantId: string,
  request: { readonly since: string | null; readonly backlog: number; readonly filter: CanonicalFilter },
): SubscribePayload {
  const payload: SubscribePayload = { tenantId };
  if (request.since !== null) payload.since = request.since;
  else if (request.backlog > 0) payload.backlog = request.backlog;
  if (request.filter !== null) payload.filter = request.filter;
  return payload;
}
