/** Reconnect delays: exponential backoff with full jitter, a floor and a cap. */
export interface BackoffOptions {
  /** The first retry waits up to this long (ms). Default 1000. */
  readonly baseMs: number;
  /** No retry waits longer than this (ms). Default 30000. */
  readonly capMs: number;
  /** No retry waits less than this (ms), so even `random() = 0` cannot cause a hot loop. Default 250. */
  readonly minMs: number;
  /** A connection must stay open and authenticated this long (ms) before the attempt count resets. Default 5000. */
  readonly stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000, minMs: 250, stableMs: 5000 };

/**
 * The delay before retry number `attempt` (0 for the first retry after a working connection):
 * uniformly random in `[minMs, min(capMs, baseMs · 2^attempt)]` — "full jitter" above a small floor.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const floor = Math.min(options.minMs, ceiling);
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(floor + r * (ceiling - floor));
}
