/**
 * One shared NotificationClient per (url, identity), kept outside React and reference-counted.
 *
 * `acquire` creates and connects the client for the first holder; `release` by the last holder starts a
 * grace delay (1.5 s by default) after which the client is closed and forgotten — unless someone acquires
 * it again first. React StrictMode's mount → unmount → mount, hot reload and route changes therefore keep
 * the one connection (and its subscriptions) instead of tearing it down and opening another.
 */
import type { NotificationClient } from "./client.js";
import { systemClock, type Clock } from "./environment.js";

export const DEFAULT_GRACE_MS = 1500;

export interface ClientLease {
  readonly client: NotificationClient;
  /** Give the client back (idempotent). */
  release(): void;
}

export interface ClientRegistryOptions {
  /** How long an unused client stays open (ms). Default 1500. */
  graceMs?: number;
  /** Timers (tests inject a fake). Default the global timers. */
  clock?: Pick<Clock, "setTimeout" | "clearTimeout">;
}

interface Entry {
  readonly client: NotificationClient;
  refs: number;
  timer: unknown;
}

export class ClientRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly graceMs: number;
  private readonly clock: Pick<Clock, "setTimeout" | "clearTimeout">;

  constructor(options: ClientRegistryOptions = {}) {
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.clock = options.clock ?? systemClock;
  }

  /** The client for `key`, created by `create` (and connected) when there is none. */
  acquire(key: string, create: () => NotificationClient): ClientLease {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { client: create(), refs: 0, timer: undefined };
      this.entries.set(key, entry);
      entry.client.connect();
    }
    if (entry.timer !== undefined) {
      this.clock.clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    entry.refs += 1;
    const held = entry;
    let released = false;
    return {
      client: held.client,
      release: () => {
        if (released) return;
        released = true;
        this.release(key, held);
      },
    };
  }

  /** The client for `key` if there is one (never creates). */
  peek(key: string): NotificationClient | undefined {
    return this.entries.get(key)?.client;
  }

  /** How many clients are alive (held, or in their grace delay). */
  get size(): number {
    return this.entries.size;
  }

  /** Close every client now (tests, logout). */
  closeAll(): void {
    for (const [key, entry] of [...this.entries]) {
      if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
      this.entries.delete(key);
      entry.client.close();
    }
  }

  private release(key: string, entry: Entry): void {
    entry.refs -= 1;
    if (entry.refs > 0 || this.entries.get(key) !== entry) return;
    entry.timer = this.clock.setTimeout(() => {
      entry.timer = undefined;
      if (entry.refs > 0 || this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      entry.client.close();
    }, this.graceMs);
  }
}

/** The registry `useNotifications` uses unless given another. */
export const sharedRegistry = new ClientRegistry();

/** The registry key of a connection: the URL and an identity (usually the user id). */
export function clientKey(url: string, identity: string): string {
  return JSON.stringify([url, identity]);
}

/**
 * The identity of a token: the JWT `sub` claim when it has one (no verification: it only keys the shared
 * connection, so a rotated token of the same user keeps the connection), else the token itself.
 */
export function identityFromToken(token: string): string {
  const part = token.split(".")[1];
  if (part) {
    try {
      const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
      const claims: unknown = JSON.parse(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)));
      if (typeof claims === "object" && claims !== null && typeof (claims as { sub?: unknown }).sub === "string") {
        return `sub:${(claims as { sub: string }).sub}`;
      }
    } catch {
      // not a JWT
    }
  }
  return `token:${token}`;
}
