/**
 * Dead-connection detection for one socket: a `ping` after `intervalMs` without any inbound frame; no frame
 * within `timeoutMs` of it (wall clock, checked on every timer and on every probe) and the socket is dead.
 */
import type { Clock } from "../environment.js";
import type { TimerSet } from "./timers.js";

export interface HeartbeatOptions {
  readonly clock: Clock;
  readonly timers: TimerSet;
  /** Silence (ms) after which a ping is sent. */
  readonly intervalMs: number;
  /** How long (ms) a ping may go unanswered. */
  readonly timeoutMs: number;
  /** Send a ping; returns its messageId. */
  readonly ping: () => string;
  /** The ping is no longer awaited: a frame arrived (any frame proves the connection alive). */
  readonly answered: (pingId: string) => void;
  /** No frame within `timeoutMs` of a ping. */
  readonly dead: () => void;
}

export class Heartbeat {
  private pingId: string | null = null;
  private pingSentAt = 0;
  private lastSeenAt: number;
  private stopped = false;

  constructor(private readonly options: HeartbeatOptions) {
    this.lastSeenAt = options.clock.now();
  }

  /** The socket opened: a ping is due after `intervalMs` of silence. */
  start(): void {
    this.lastSeenAt = this.options.clock.now();
    this.arm(this.options.intervalMs);
  }

  /** A frame arrived. */
  seen(): void {
    this.lastSeenAt = this.options.clock.now();
    if (this.pingId !== null) {
      this.options.answered(this.pingId);
      this.pingId = null;
      this.arm(this.options.intervalMs);
    }
  }

  /**
   * Check now (the page is visible again, or back online): an overdue ping is dead at once; an outstanding one
   * is left to its deadline; otherwise a ping goes now. Returns whether a ping was sent.
   */
  probe(): boolean {
    if (this.pingId !== null) {
      if (this.options.clock.now() - this.pingSentAt >= this.options.timeoutMs) this.options.dead();
      return false;
    }
    this.ping();
    return true;
  }

  /** The socket is gone: no more timers or callbacks. */
  stop(): void {
    this.stopped = true;
    this.options.timers.clear("heartbeat");
  }

  private arm(ms: number): void {
    if (!this.stopped) this.options.timers.set("heartbeat", () => this.tick(), ms);
  }

  private tick(): void {
    const { clock, intervalMs, timeoutMs } = this.options;
    const now = clock.now();
    if (this.pingId !== null) {
      const waited = now - this.pingSentAt;
      if (waited >= timeoutMs) this.options.dead();
      else this.arm(timeoutMs - waited);
      return;
    }
    const idle = now - this.lastSeenAt;
    if (idle >= intervalMs) this.ping();
    else this.arm(intervalMs - idle);
  }

  private ping(): void {
    this.pingSentAt = this.options.clock.now();
    this.pingId = this.options.ping();
    this.arm(this.options.timeoutMs);
  }
}
