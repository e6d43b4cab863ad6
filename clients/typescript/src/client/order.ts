/**
 * The order of the notification list (newest first), for notifications that do not arrive live: a backlog
 * and `history` pages bring older ones, which go in their place rather than in front. Pure.
 *
 * Within one stream, positions order events exactly (a tenant's are `"<ms>-<seq>"`); across streams, or for
 * positions that are not of that form (a cluster's composite `global` positions), the notification's
 * `timestamp` decides.
 */
import type { Notification } from "../messages.js";

type Ordered = Pick<Notification, "stream" | "position" | "timestamp">;

const STREAM_POSITION = /^(\d+)-(\d+)$/;

/** A tenant stream's position as a pair of integers, or null for any other form. */
function parsePosition(position: string | null): readonly [bigint, bigint] | null {
  const match = position === null ? null : STREAM_POSITION.exec(position);
  if (!match) return null;
  return [BigInt(match[1] ?? "0"), BigInt(match[2] ?? "0")];
}

/** > 0 when `a` is newer than `b`, < 0 when older, 0 when nothing tells them apart. */
export function compareAge(a: Ordered, b: Ordered): number {
  if (a.stream === b.stream) {
    const pa = parsePosition(a.position);
    const pb = parsePosition(b.position);
    if (pa && pb) {
      if (pa[0] !== pb[0]) return pa[0] > pb[0] ? 1 : -1;
      if (pa[1] !== pb[1]) return pa[1] > pb[1] ? 1 : -1;
      return 0;
    }
  }
  const ta = Date.parse(a.timestamp);
  const tb = Date.parse(b.timestamp);
  if (Number.isNaN(ta) || Number.isNaN(tb) || ta === tb) return 0;
  return ta > tb ? 1 : -1;
}

/**
 * Where an older notification goes in a list that is newest first: before the first item it is newer than,
 * else at the end (ties stay behind what is there).
 */
export function placeOf(list: readonly Ordered[], item: Ordered): number {
  const index = list.findIndex((other) => compareAge(item, other) > 0);
  return index < 0 ? list.length : index;
}
