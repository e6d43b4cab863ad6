/** Named timers, at most one per name, over the injected clock; `clearAll` leaves none (so `close()` leaves none). */
import type { Clock } from "../environment.js";

/**
 * Every timer the client runs:
 * - `connect`    the deadline of a connection attempt (open and authenticated)
 * - `heartbeat`  the next ping, or the deadline of the outstanding one
 * - `stable`     a connection that lasts this long resets the backoff
 * - `reauth`     the next token refresh on the open connection
 * - `pump`       the next queued message the rate limiter allows
 * - `reconnect`  the next connection attempt (backoff)
 * - `retry:<tenantId>`  the next subscribe of a tenant after a retryable refusal
 */
export type TimerName = "connect" | "heartbeat" | "stable" | "reauth" | "pump" | "reconnect" | `retry:${string}`;

export class TimerSet {
  private readonly handles = new Map<TimerName, unknown>();

  constructor(private readonly clock: Clock) {}

  /** Run `callback` in `ms` (at least 0), replacing the timer of that name if one is running. */
  set(name: TimerName, callback: () => void, ms: number): void {
    this.clear(name);
    const handle = this.clock.setTimeout(() => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      callback();
    }, Math.max(0, ms));
    this.handles.set(name, handle);
  }

  clear(name: TimerName): void {
    const handle = this.handles.get(name);
    if (handle !== undefined) {
      this.handles.delete(name);
      this.clock.clearTimeout(handle);
    }
  }

  has(name: TimerName): boolean {
    return this.handles.has(name);
  }

  clearAll(): void {
    for (const name of [...this.handles.keys()]) this.clear(name);
  }
}
