/**
 * Tokens and authentication: a fresh token for every attempt and refresh, the refresh on the open connection
 * before the token expires, and the count of refusals in a row (a second one stops: no loop).
 */
import type { Clock } from "../environment.js";
import type { Socket, TokenResult } from "./socket.js";
import type { TimerSet } from "./timers.js";
import type { Report, TokenSource } from "./types.js";

/** No refresh is scheduled sooner than this (ms), whatever the token's life: never a refresh loop. */
const MIN_REAUTH_DELAY_MS = 1000;
/** A failed token fetch for a refresh is tried again after at most this long (ms)… */
const MAX_REFRESH_RETRY_MS = 30_000;
/** …while at least this many minimal delays of the token's life are left. */
const REFRESH_RETRY_MIN_LIFE = 2;
/** Refusals in a row (an error on `authenticate`, an expiry close) after which the client gives up. */
const MAX_REFUSALS = 2;

export interface AuthOptions {
  readonly clock: Clock;
  readonly timers: TimerSet;
  /** Refresh this long (ms) before expiry (at most half the remaining life). */
  readonly reauthLeadMs: number;
  readonly token: TokenSource;
  readonly report: Report;
  /** Whether `socket` is still the current connection. */
  readonly isCurrent: (socket: Socket) => boolean;
  /** Send `authenticate` with `token` on `socket`. */
  readonly authenticate: (socket: Socket, token: string) => void;
}

export function asText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Auth {
  private source: TokenSource;
  private refusals = 0;
  /** The latest token expiry the server confirmed (ms). */
  private bestExpiry: number | null = null;

  constructor(private readonly options: AuthOptions) {
    this.source = options.token;
  }

  /** Used from the next attempt or refresh on. */
  setToken(source: TokenSource): void {
    this.source = source;
  }

  /** A token from the source; never rejects. */
  fetch(): Promise<TokenResult> {
    const source = this.source;
    return (async (): Promise<TokenResult> => {
      try {
        const token = typeof source === "function" ? await source() : source;
        if (typeof token !== "string" || token.length === 0) {
          return { ok: false, error: new Error("the token function returned no token") };
        }
        return { ok: true, token };
      } catch (error) {
        return { ok: false, error };
      }
    })();
  }

  /** One more refusal in a row. Returns true when it is one too many: stop (`unauthorized`). */
  refused(): boolean {
    this.refusals += 1;
    return this.refusals >= MAX_REFUSALS;
  }

  /** Forget the refusals (`reconnect()`). */
  reset(): void {
    this.refusals = 0;
  }

  /** The server accepted a token on `socket`, valid until `expiresAt` (ISO 8601, as it says): schedule the refresh. */
  accepted(socket: Socket, expiresAt: string): void {
    const previousExpiry = socket.expiresAt;
    socket.refreshing = false;
    const expiry = Date.parse(expiresAt);
    // Only a token that lasts longer than any before counts as fresh: the server accepts an expired token
    // within its leeway, and resetting the count on that would let warning → refresh → warning loop.
    if (!Number.isFinite(expiry) || this.bestExpiry === null || expiry > this.bestExpiry) {
      this.refusals = 0;
      if (Number.isFinite(expiry)) this.bestExpiry = expiry;
    }
    socket.expiresAt = Number.isFinite(expiry) ? expiry : null;
    this.scheduleRefresh(socket, previousExpiry);
  }

  /** Re-authenticate on the open connection with a fresh token (before expiry, or after `token_expired`). */
  async refresh(socket: Socket): Promise<void> {
    const { isCurrent, timers, clock } = this.options;
    if (!isCurrent(socket) || !socket.authenticated || socket.refreshing) return;
    socket.refreshing = true;
    socket.reauthAt = null;
    timers.clear("reauth");
    const result = await this.fetch();
    if (!isCurrent(socket)) return;
    if (!result.ok) {
      socket.refreshing = false;
      this.options.report("token_unavailable", `no token for the refresh: ${asText(result.error)}`);
      // Try again while the token is still valid (the server's `token_expired` warning gives one more chance).
      const left = (socket.expiresAt ?? 0) - clock.now();
      if (left > REFRESH_RETRY_MIN_LIFE * MIN_REAUTH_DELAY_MS) {
        this.schedule(socket, Math.min(MAX_REFRESH_RETRY_MS, left / 2));
      }
      return;
    }
    this.options.authenticate(socket, result.token);
  }

  /** A probe (page visible, online): a refresh overdue because timers were throttled happens now. */
  refreshIfDue(socket: Socket): void {
    if (socket.reauthAt !== null && this.options.clock.now() >= socket.reauthAt) void this.refresh(socket);
  }

  private scheduleRefresh(socket: Socket, previousExpiry: number | null): void {
    this.options.timers.clear("reauth");
    socket.reauthAt = null;
    const expiresAt = socket.expiresAt;
    if (expiresAt === null) return;
    // A refresh that did not extend the token (a fixed string token) is not repeated: the server's
    // `token_expired` warning then gets one more try, and the expiry close ends it.
    if (previousExpiry !== null && expiresAt <= previousExpiry) return;
    const life = expiresAt - this.options.clock.now();
    if (life <= 0) return;
    const lead = Math.min(this.options.reauthLeadMs, life / 2);
    this.schedule(socket, Math.max(MIN_REAUTH_DELAY_MS, life - lead));
  }

  private schedule(socket: Socket, delay: number): void {
    socket.reauthAt = this.options.clock.now() + delay;
    this.options.timers.set("reauth", () => void this.refresh(socket), delay);
  }
}
