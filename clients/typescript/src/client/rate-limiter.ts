/** A token bucket: `burst` tokens, refilled at `perSecond`. It paces queued messages below the server's limit. */

const MS_PER_SECOND = 1000;

export interface SendRate {
  readonly perSecond: number;
  readonly burst: number;
}

export class RateLimiter {
  private readonly perMs: number;
  private readonly burst: number;
  private tokens: number;
  private last: number;

  constructor(rate: SendRate, now: number) {
    this.perMs = rate.perSecond / MS_PER_SECOND;
    this.burst = Math.max(1, rate.burst);
    this.tokens = this.burst;
    this.last = now;
  }

  /** Take a token if there is one (a queued message may go); false when the bucket is empty. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Take a token whether or not there is one (control messages are never held back, but they count). */
  consume(now: number): void {
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - 1);
  }

  /** How long until a token is available (0: now). */
  msUntilNext(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.last) * this.perMs);
    this.last = now;
  }
}
